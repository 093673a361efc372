//! The multi-node bus: every event is delivered to this node's subscribers at once and published on
//! Redis (`<prefix>license:<key>:events`); a subscriber task relays other nodes' events to this node's
//! subscribers. Both connections reconnect with backoff; while Redis is away, this node's own events
//! still reach its own sockets, and clients recover what they missed from the store when they resume.

use super::{BusEvent, Event, EventBus, LocalBus, RemoteEvent};
use crate::domain::LicenseKey;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Events waiting to be published; beyond it a Redis stall drops events (logged) rather than memory.
const PUBLISH_QUEUE: usize = 65_536;

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    license: String,
    event: Event,
}

/// What the publisher task takes, in order.
enum Outgoing {
    /// Publish this event on the license's channel.
    Event(LicenseKey, Event),
    /// Answer once everything queued before it is published.
    Flush(oneshot::Sender<()>),
}

/// Redis pub/sub in front of a [`LocalBus`].
pub struct RedisBus {
    local: LocalBus,
    node_id: String,
    outbox: mpsc::Sender<Outgoing>,
    remote: broadcast::Sender<Arc<RemoteEvent>>,
}

impl RedisBus {
    /// Starts the publisher and subscriber tasks for node `node_id`.
    pub fn start(client: redis::Client, publisher: ConnectionManager, prefix: String, node_id: String) -> Arc<Self> {
        let (outbox, inbox) = mpsc::channel(PUBLISH_QUEUE);
        let (remote, _) = broadcast::channel(super::TOPIC_CAPACITY);
        let bus = Arc::new(Self { local: LocalBus::new(), node_id: node_id.clone(), outbox, remote });
        tokio::spawn(publish_loop(publisher, prefix.clone(), node_id, inbox));
        tokio::spawn(subscribe_loop(client, prefix, Arc::downgrade(&bus)));
        bus
    }

    fn relay(&self, envelope: Envelope) {
        if envelope.origin == self.node_id {
            return;
        }
        metrics::counter!(crate::telemetry::BUS_RELAYED).increment(1);
        let Ok(license) = LicenseKey::parse(&envelope.license) else { return };
        let _ = self.remote.send(Arc::new(RemoteEvent { license: license.clone(), event: envelope.event.clone() }));
        self.local.deliver(&license, BusEvent::from_remote(envelope.event));
    }
}

impl EventBus for RedisBus {
    fn publish(&self, license: &LicenseKey, event: Event) {
        self.local.publish(license, event.clone());
        if let Err(err) = self.outbox.try_send(Outgoing::Event(license.clone(), event)) {
            metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "publish_queue_full").increment(1);
            tracing::warn!(%err, "Redis publish queue full; other nodes miss this event");
        }
    }

    fn publish_local(&self, license: &LicenseKey, event: Event) {
        self.local.publish(license, event);
    }

    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
        self.local.subscribe(license)
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
}

fn channel(prefix: &str, license: &str) -> String {
    format!("{prefix}license:{license}:events")
}

async fn publish_loop(
    mut conn: ConnectionManager,
    prefix: String,
    node_id: String,
    mut inbox: mpsc::Receiver<Outgoing>,
) {
    while let Some(outgoing) = inbox.recv().await {
        let (license, event) = match outgoing {
            Outgoing::Event(license, event) => (license, event),
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let envelope = Envelope { origin: node_id.clone(), license: license.to_string(), event };
        let Ok(payload) = serde_json::to_string(&envelope) else { continue };
        let published: redis::RedisResult<i64> =
            redis::cmd("PUBLISH").arg(channel(&prefix, license.as_str())).arg(payload).query_async(&mut conn).await;
        if let Err(err) = published {
            // The connection manager reconnects by itself; this event is lost to other nodes only.
            metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "publish").increment(1);
            tracing::warn!(%err, "Redis publish failed");
        }
    }
}

async fn subscribe_loop(client: redis::Client, prefix: String, bus: std::sync::Weak<RedisBus>) {
    let pattern = channel(&prefix, "*");
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.psubscribe(&pattern).await {
                Ok(()) => {
                    tracing::info!(pattern, "subscribed to the Redis event bus");
                    backoff = Duration::from_millis(100);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Some(bus) = bus.upgrade() else { return };
                        match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                            Ok(envelope) => bus.relay(envelope),
                            Err(err) => tracing::warn!(%err, "unreadable event on the Redis bus"),
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
