//! The single-node bus: a tokio broadcast channel per license, created on first subscribe.

use super::{BusEvent, Event, EventBus, TOPIC_CAPACITY};
use crate::domain::LicenseKey;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// In-process bus.
#[derive(Default)]
pub struct LocalBus {
    topics: DashMap<LicenseKey, broadcast::Sender<Arc<BusEvent>>>,
}

impl LocalBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LocalBus {
    /// Delivers an event to this node's subscribers of `license`.
    pub fn deliver(&self, license: &LicenseKey, event: BusEvent) {
        let Some(topic) = self.topics.get(license) else { return };
        if topic.send(Arc::new(event)).is_err() {
            // Nobody listens any more: drop the topic so idle licenses cost nothing.
            drop(topic);
            self.topics.remove_if(license, |_, sender| sender.receiver_count() == 0);
        }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, license: &LicenseKey, event: Event) {
        metrics::counter!(crate::telemetry::BUS_PUBLISHED).increment(1);
        self.deliver(license, BusEvent::new(event));
    }

    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
        self.topics.entry(license.clone()).or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0).subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Activity;

    fn online(id: &str) -> Event {
        Event::Activity(Activity::VisitorOnline { visitor_id: id.into() })
    }

    #[tokio::test]
    async fn subscribers_see_only_their_license() -> Result<(), Box<dyn std::error::Error>> {
        let bus = LocalBus::new();
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
