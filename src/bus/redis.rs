//! The multi-node bus: every event is numbered, kept and published by one Redis script
//! ([`super::redis_history`]) on `<prefix>license:<key>:events`, and every node — the publisher too —
//! delivers a license's events to its sockets as the subscription hands them over: in offset order, the
//! same on every node. While Redis is away, this node's own events still reach its own sockets (without
//! an offset, and the license starts a new epoch once Redis is back, since its history has a hole);
//! widget clients recover what they missed from the store when they resume.

use super::history::{CatchUp, Position};
use super::local::Topics;
use super::redis_history::{parse_message, Append, Envelope, RedisHistory};
use super::{BusEvent, Event, EventBus, RemoteEvent};
use crate::domain::LicenseKey;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long a starting node waits for its bus subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(5);
/// Events waiting to be published; beyond it a Redis stall drops events (logged) rather than memory.
const PUBLISH_QUEUE: usize = 65_536;
/// Most events published in one round trip.
const PUBLISH_BATCH: usize = 512;

/// What the publisher task takes, in order.
enum Outgoing {
    /// Publish this event on the license's channel.
    Event(LicenseKey, Event),
    /// Answer once everything queued before it is published.
    Flush(oneshot::Sender<()>),
}

/// Redis pub/sub and streams in front of this node's [`Topics`].
pub struct RedisBus {
    topics: Topics,
    history: RedisHistory,
    outbox: mpsc::Sender<Outgoing>,
    remote: broadcast::Sender<Arc<RemoteEvent>>,
    /// Node-wide broadcasts received on `<prefix>nodes:broadcast`.
    broadcasts: broadcast::Sender<Arc<str>>,
}

impl RedisBus {
    /// Starts the publisher and subscriber tasks for node `node_id`, keeping `window` events per license;
    /// returns once the subscription is up (or after [`SUBSCRIBE_WAIT`]), since every delivery, this
    /// node's own events' too, comes through it.
    pub async fn start(
        client: redis::Client,
        publisher: ConnectionManager,
        prefix: String,
        node_id: String,
        window: usize,
    ) -> Arc<Self> {
        let (outbox, inbox) = mpsc::channel(PUBLISH_QUEUE);
        let (remote, _) = broadcast::channel(super::TOPIC_CAPACITY);
        let history = RedisHistory::new(publisher, prefix, node_id, window);
        let pattern = history.channel("*");
        let broadcasts = broadcast::channel(super::TOPIC_CAPACITY).0;
        let bus = Arc::new(Self { topics: Topics::default(), history, outbox, remote, broadcasts });
        tokio::spawn(publish_loop(Arc::downgrade(&bus), inbox));
        let (subscribed, ready) = oneshot::channel();
        let channels = Channels { pattern, broadcast: bus.broadcast_channel() };
        tokio::spawn(subscribe_loop(client, channels, Arc::downgrade(&bus), subscribed));
        if tokio::time::timeout(SUBSCRIBE_WAIT, ready).await.is_err() {
            tracing::warn!("not subscribed to the Redis event bus yet; starting anyway");
        }
        bus
    }

    fn broadcast_channel(&self) -> String {
        format!("{}nodes:broadcast", self.history.prefix)
    }

    /// Hands a message of the subscription to this node's sockets, and to its actors if another node sent it.
    fn relay(&self, payload: &[u8]) {
        let Some((position, envelope)) = parse_message(payload) else {
            tracing::warn!("unreadable event on the Redis bus");
            return;
        };
        let Ok(license) = LicenseKey::parse(&envelope.license) else { return };
        let remote = envelope.origin != self.history.node_id;
        if remote {
            metrics::counter!(crate::telemetry::BUS_RELAYED).increment(1);
            let _ = self.remote.send(Arc::new(RemoteEvent { license: license.clone(), event: envelope.event.clone() }));
        }
        let event = match position {
            Some(position) => BusEvent::at(envelope.event, position, remote),
            None => BusEvent::from_remote(envelope.event),
        };
        self.topics.deliver(&license, Arc::new(event));
    }
}

impl EventBus for RedisBus {
    fn publish(&self, license: &LicenseKey, event: Event) {
        metrics::counter!(crate::telemetry::BUS_PUBLISHED).increment(1);
        if let Err(err) = self.outbox.try_send(Outgoing::Event(license.clone(), event)) {
            metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "publish_queue_full").increment(1);
            tracing::warn!("Redis publish queue full; other nodes miss this event");
            if let mpsc::error::TrySendError::Full(Outgoing::Event(license, event)) = err {
                self.topics.deliver(&license, Arc::new(BusEvent::new(event)));
            }
        }
    }

    fn publish_local(&self, license: &LicenseKey, event: Event) {
        self.topics.deliver(license, Arc::new(BusEvent::new(event)));
    }

    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
        self.topics.subscribe(license)
    }

    fn catch_up(&self, license: &LicenseKey, from: Option<&Position>) -> BoxFuture<'static, CatchUp> {
        let (history, license, from) = (self.history.clone(), license.clone(), from.cloned());
        Box::pin(async move { history.catch_up(&license, from.as_ref()).await })
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        let outbox = self.outbox.clone();
        Box::pin(async move {
            let (done, flushed) = oneshot::channel();
            // Waits for room in the queue: a flush must not be dropped like an event would be.
            if outbox.send(Outgoing::Flush(done)).await.is_ok() {
                let _ = flushed.await;
            }
        })
    }

    fn subscribe_remote(&self) -> Option<broadcast::Receiver<Arc<RemoteEvent>>> {
        Some(self.remote.subscribe())
    }

    fn broadcast(&self, payload: Arc<str>) -> BoxFuture<'static, usize> {
        let (mut conn, channel, local) = (self.history.conn.clone(), self.broadcast_channel(), self.broadcasts.clone());
        Box::pin(async move {
            let published: redis::RedisResult<usize> =
                redis::cmd("PUBLISH").arg(channel).arg(payload.as_ref()).query_async(&mut conn).await;
            match published {
                Ok(nodes) => nodes,
                Err(err) => {
                    // Other nodes miss it; this node's own sockets still get it.
                    metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "broadcast").increment(1);
                    tracing::warn!(%err, "Redis broadcast failed; delivering on this node only");
                    usize::from(local.send(payload).is_ok())
                }
            }
        })
    }

    fn subscribe_broadcasts(&self) -> broadcast::Receiver<Arc<str>> {
        self.broadcasts.subscribe()
    }
}

/// What a node subscribes to: the license events' pattern and the node-wide broadcast channel.
struct Channels {
    pattern: String,
    broadcast: String,
}

/// Publishes what is queued, in order: everything queued meanwhile goes in one round trip (up to
/// [`PUBLISH_BATCH`]), and a flush is answered once the events queued before it are published.
async fn publish_loop(bus: Weak<RedisBus>, mut inbox: mpsc::Receiver<Outgoing>) {
    // Licenses whose history lost an event: their next append starts a new epoch.
    let mut holes: HashSet<LicenseKey> = HashSet::new();
    let mut queued = Vec::with_capacity(PUBLISH_BATCH);
    while inbox.recv_many(&mut queued, PUBLISH_BATCH).await > 0 {
        let Some(bus) = bus.upgrade() else { return };
        let mut events = Vec::new();
        for outgoing in queued.drain(..) {
            match outgoing {
                Outgoing::Event(license, event) => events.push((license, event)),
                Outgoing::Flush(done) => {
                    publish(&bus, &mut holes, std::mem::take(&mut events)).await;
                    let _ = done.send(());
                }
            }
        }
        publish(&bus, &mut holes, events).await;
    }
}

/// Appends `events` to their licenses' histories (which publishes them); an event Redis did not take
/// still reaches this node's sockets, and its license starts a new epoch with its next batch.
async fn publish(bus: &RedisBus, holes: &mut HashSet<LicenseKey>, events: Vec<(LicenseKey, Event)>) {
    if events.is_empty() {
        return;
    }
    let envelopes: Vec<(LicenseKey, Envelope, String)> = events
        .into_iter()
        .filter_map(|(license, event)| {
            let envelope = Envelope { origin: bus.history.node_id.clone(), license: license.to_string(), event };
            let payload = serde_json::to_string(&envelope).ok()?;
            Some((license, envelope, payload))
        })
        .collect();
    // One append per license, its events in queue order (licenses' histories are independent, so
    // their relative order does not matter); a hole rotates the license's first event of the batch and
    // the rest follow in the new epoch.
    let mut appends: Vec<Append<'_>> = Vec::new();
    let mut at: HashMap<&LicenseKey, usize> = HashMap::new();
    for (license, _, payload) in &envelopes {
        let index = *at.entry(license).or_insert_with(|| {
            appends.push(Append { license, envelopes: Vec::new(), rotate: holes.remove(license) });
            appends.len() - 1
        });
        appends[index].envelopes.push(payload);
    }
    let answers = match bus.history.append(&appends).await {
        Ok(answers) => answers,
        Err(err) => appends.iter().map(|_| Err(err.clone())).collect(),
    };
    let failed: HashMap<LicenseKey, redis::RedisError> = appends
        .iter()
        .zip(answers)
        .filter_map(|(append, answer)| answer.err().map(|err| (append.license.clone(), err)))
        .collect();
    drop((appends, at));
    for (license, envelope, _) in envelopes {
        if let Some(err) = failed.get(&license) {
            // The connection manager reconnects by itself; meanwhile this node's sockets still get it.
            metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "publish").increment(1);
            tracing::warn!(%err, "Redis publish failed");
            bus.topics.deliver(&license, Arc::new(BusEvent::new(envelope.event)));
            holes.insert(license);
        }
    }
}

async fn subscribe_loop(
    client: redis::Client,
    channels: Channels,
    bus: Weak<RedisBus>,
    subscribed: oneshot::Sender<()>,
) {
    let Channels { pattern, broadcast } = channels;
    let mut subscribed = Some(subscribed);
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match subscribe_both(&mut pubsub, &pattern, &broadcast).await {
                Ok(()) => {
                    tracing::info!(pattern, "subscribed to the Redis event bus");
                    if let Some(subscribed) = subscribed.take() {
                        let _ = subscribed.send(());
                    }
                    backoff = Duration::from_millis(100);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Some(bus) = bus.upgrade() else { return };
                        if message.get_channel_name() == broadcast {
                            match std::str::from_utf8(message.get_payload_bytes()) {
                                Ok(text) => drop(bus.broadcasts.send(Arc::from(text))),
                                Err(_) => tracing::warn!("unreadable broadcast on the Redis bus"),
                            }
                        } else {
                            bus.relay(message.get_payload_bytes());
                        }
                    }
                    metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "subscribe").increment(1);
                    tracing::warn!("lost the Redis event bus subscription; reconnecting");
                }
                Err(err) => tracing::warn!(%err, "Redis psubscribe failed"),
            },
            Err(err) => tracing::warn!(%err, "cannot reach Redis for the event bus"),
        }
        if bus.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe_both(pubsub: &mut redis::aio::PubSub, pattern: &str, broadcast: &str) -> redis::RedisResult<()> {
    pubsub.psubscribe(pattern).await?;
    pubsub.subscribe(broadcast).await
}
