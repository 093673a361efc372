//! A license's bus events, relayed once into each HTTP worker thread for the dashboard sockets on it.
//!
//! A dashboard socket's task lives on the worker thread that accepted its connection. Subscribed to the
//! bus directly, every event woke each socket's task from the publishing thread: hundreds of wakes from
//! another thread per event, each queued on the worker's shared run queue and unparking it, so a worker
//! slept and woke many times over one event. Through a relay, one task per license and worker takes the
//! event from the bus and passes it on to that thread's sockets: one wake from another thread per worker
//! and event, the rest wakes on the thread itself.

use crate::bus::{BusEvent, SharedBus, TOPIC_CAPACITY};
use crate::domain::LicenseKey;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A relay's key: the bus it reads (by address: a process normally has one) and the license.
type RelayKey = (usize, LicenseKey);

thread_local! {
    /// This thread's relays.
    static RELAYS: RefCell<HashMap<RelayKey, broadcast::Sender<Arc<BusEvent>>>> = RefCell::new(HashMap::new());
}

/// Receives the events of `license` published from now on, through this thread's relay for it (started
/// with its first subscriber). Must be called on a thread with a local task set (an HTTP worker). Like
/// the bus's own receivers: bounded by [`TOPIC_CAPACITY`]; if the relay itself falls that far behind the
/// bus, every receiver of it ends `Closed` (their clients reconnect and recover from their position).
pub fn subscribe(bus: &SharedBus, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
    let key = (Arc::as_ptr(bus).cast::<()>() as usize, license.clone());
    RELAYS.with_borrow_mut(|relays| {
        if let Some(relay) = relays.get(&key) {
            return relay.subscribe();
        }
        let (to, receiver) = broadcast::channel(TOPIC_CAPACITY);
        // Subscribed to the bus here, before the caller reads what it missed: nothing falls between.
        tokio::task::spawn_local(relay(bus.subscribe(license), to.clone(), key.clone()));
        relays.insert(key, to);
        receiver
    })
}

/// Passes `from`'s events to `to` until `to` has no receiver left (seen at the next event) or the bus
/// is gone or left this relay behind; then forgets it, so the next subscriber starts a fresh one.
async fn relay(mut from: broadcast::Receiver<Arc<BusEvent>>, to: broadcast::Sender<Arc<BusEvent>>, key: RelayKey) {
    // A lag or the bus's end (an `Err`) ends the relay like its last receiver's going does.
    while let Ok(event) = from.recv().await {
        if to.send(event).is_err() {
            break;
        }
    }
    // No await since the send that found no receiver: none can have subscribed since, on this thread.
    RELAYS.with_borrow_mut(|relays| relays.remove(&key));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Activity, Event, LocalBus};

    fn presence(id: &str) -> Event {
        Event::Activity(Activity::VisitorPresence { online: vec![id.into()], offline: Vec::new() })
    }

    /// Two subscribers on one thread share one relay and each get every event in order; once both are
    /// gone, the relay ends at the next event and a new subscriber starts another.
    #[tokio::test]
    async fn subscribers_on_a_thread_share_a_relay_that_ends_with_them() -> anyhow::Result<()> {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let bus: SharedBus = Arc::new(LocalBus::new(16));
                let license = LicenseKey::parse("INTL-RELA-YTES-TONE")?;
                let (mut a, mut b) = (subscribe(&bus, &license), subscribe(&bus, &license));
                assert_eq!(RELAYS.with_borrow(|r| r.len()), 1);
                bus.publish(&license, presence("v1"));
                bus.publish(&license, presence("v2"));
                for receiver in [&mut a, &mut b] {
                    for id in ["v1", "v2"] {
                        let event = receiver.recv().await?;
                        assert!(event.frame().contains(id), "{}", event.frame());
                    }
                }
                drop((a, b));
                bus.publish(&license, presence("v3"));
                tokio::task::yield_now().await;
                assert_eq!(RELAYS.with_borrow(|r| r.len()), 0, "the relay ended with its last subscriber");
                let mut c = subscribe(&bus, &license);
                bus.publish(&license, presence("v4"));
                assert!(c.recv().await?.frame().contains("v4"));
                anyhow::Ok(())
            })
            .await
    }
}
