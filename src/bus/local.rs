//! The single-node bus: a tokio broadcast channel per license ([`Topics`], created on first subscribe),
//! and the license's history in memory ([`LocalHistory`]).

use super::history::{CatchUp, LocalHistory, Position};
use super::{BusEvent, Event, EventBus, TOPIC_CAPACITY};
use crate::domain::LicenseKey;
use dashmap::DashMap;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::broadcast;

/// This node's subscribers, per license.
#[derive(Default)]
pub(crate) struct Topics {
    topics: DashMap<LicenseKey, broadcast::Sender<Arc<BusEvent>>>,
}

impl Topics {
    /// Delivers an event to this node's subscribers of `license`.
    pub(crate) fn deliver(&self, license: &LicenseKey, event: Arc<BusEvent>) {
        let Some(topic) = self.topics.get(license) else { return };
        if topic.send(event).is_err() {
            // Nobody listens any more: drop the topic so idle licenses cost nothing.
            drop(topic);
            self.topics.remove_if(license, |_, sender| sender.receiver_count() == 0);
        }
    }

    /// Receives the events of `license` delivered from now on.
    pub(crate) fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
        self.topics.entry(license.clone()).or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0).subscribe()
    }
}

/// In-process bus.
pub struct LocalBus {
    topics: Topics,
    history: LocalHistory,
    broadcasts: broadcast::Sender<Arc<str>>,
}

impl LocalBus {
    /// An empty bus keeping the latest `window` events of each license for reconnecting dashboards.
    pub fn new(window: usize) -> Self {
        Self {
            topics: Topics::default(),
            history: LocalHistory::new(window),
            broadcasts: broadcast::channel(TOPIC_CAPACITY).0,
        }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, license: &LicenseKey, event: Event) {
        metrics::counter!(crate::telemetry::BUS_PUBLISHED).increment(1);
        self.history.append(license, event, |event| self.topics.deliver(license, event));
    }

    fn publish_local(&self, license: &LicenseKey, event: Event) {
        // Computed here for here (metrics, presence): not history, so it takes no offset.
        self.topics.deliver(license, Arc::new(BusEvent::new(event)));
    }

    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
        self.topics.subscribe(license)
    }

    fn catch_up(&self, license: &LicenseKey, from: Option<&Position>) -> BoxFuture<'static, CatchUp> {
        Box::pin(std::future::ready(self.history.catch_up(license, from)))
    }

    fn broadcast(&self, payload: Arc<str>) -> BoxFuture<'static, usize> {
        let reached = usize::from(self.broadcasts.send(payload).is_ok());
        Box::pin(std::future::ready(reached))
    }

    fn subscribe_broadcasts(&self) -> broadcast::Receiver<Arc<str>> {
        self.broadcasts.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Activity;

    fn online(id: &str) -> Event {
        Event::Activity(Activity::VisitorPresence { online: vec![id.into()], offline: Vec::new() })
    }

    #[tokio::test]
    async fn subscribers_see_only_their_license() -> Result<(), Box<dyn std::error::Error>> {
        let bus = LocalBus::new(10);
        let a = LicenseKey::parse("INTL-AAAA-AAAA-AAAA")?;
        let b = LicenseKey::parse("INTL-BBBB-BBBB-BBBB")?;
        let mut rx_a = bus.subscribe(&a);
        let mut rx_b = bus.subscribe(&b);
        bus.publish(&a, online("for-a"));
        assert_eq!(rx_a.recv().await?.event, online("for-a"));
        assert!(rx_b.try_recv().is_err(), "license B must not see A's event");
        Ok(())
    }
}
