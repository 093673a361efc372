//! A license's bus events, relayed once into each group of sockets that share a scheduler: per HTTP
//! worker thread for the plain dashboards, one for the Socket.IO runtime.
//!
//! Subscribed to the bus directly, every event woke each socket's task from the publishing thread (a
//! conversation's actor): hundreds of wakes from another thread per event, each queued on the target
//! runtime's shared queue and unparking it, so a worker slept and woke many times over one event. Through
//! a relay, one task per license and group takes the event from the bus and passes it on to its
//! [`Fanout`]: the license's [`Room`](crate::ws::room::Room) of that group, whose sockets' connections it
//! writes to itself (waking no socket's task at all).

use crate::bus::{BusEvent, SharedBus};
use crate::domain::LicenseKey;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A relay's key: the bus it reads (by address: a process normally has one) and the license.
type RelayKey = (usize, LicenseKey);

/// Where a relay passes a license's events: its group's sockets of that license.
pub trait Fanout: Clone + Send + Sync + 'static {
    /// A fanout with nobody in it yet.
    fn open() -> Self;
    /// Passes `event` on; `false` when nobody took it.
    fn pass(&self, event: Arc<BusEvent>) -> bool;
    /// Whether nobody is in it (the relay may end).
    fn idle(&self) -> bool;
    /// Whether `other` is this very fanout.
    fn same(&self, other: &Self) -> bool;
    /// The relay ended under its sockets (the bus is gone or left it behind): they must end too.
    fn stop(&self);
}

/// The running relays of one group of sockets, by bus and license.
pub struct Relays<F> {
    running: DashMap<RelayKey, F>,
}

impl<F> Default for Relays<F> {
    fn default() -> Self {
        Self { running: DashMap::new() }
    }
}

impl<F: Fanout> Relays<F> {
    /// Runs `enter` on the fanout of `license`'s relay, started (on the caller's runtime) if there is none.
    /// Entered under the map's lock, which a relay that is ending takes too: nobody enters one that is
    /// ending. What `enter` adds gets every event published from now on.
    pub fn join<R>(self: &Arc<Self>, bus: &SharedBus, license: &LicenseKey, enter: impl FnOnce(&F) -> R) -> R {
        let key = (Arc::as_ptr(bus).cast::<()>() as usize, license.clone());
        match self.running.entry(key) {
            Entry::Occupied(relay) => enter(relay.get()),
            Entry::Vacant(slot) => {
                let to = F::open();
                let entered = enter(&to);
                // Subscribed to the bus here, before the caller reads what it missed: nothing falls between.
                tokio::spawn(relay(bus.subscribe(license), to.clone(), self.clone(), slot.key().clone()));
                slot.insert(to);
                entered
            }
        }
    }
}

/// Passes `from`'s events to `to` until `to` is idle (seen at an event) or the bus is gone or left this
/// relay behind; then forgets it, so the next subscriber starts a fresh one.
async fn relay<F: Fanout>(mut from: broadcast::Receiver<Arc<BusEvent>>, to: F, relays: Arc<Relays<F>>, key: RelayKey) {
    // A lag or the bus's end (an `Err`) ends the relay like its last receiver's going does.
    while let Ok(event) = from.recv().await {
        // Nobody to pass it to: end, unless someone joined since (checked and removed under the map's lock,
        // which joining takes too, so nobody joins a relay that is ending).
        if !to.pass(event) && relays.running.remove_if(&key, |_, to| to.idle()).is_some() {
            return;
        }
    }
    relays.running.remove_if(&key, |_, running| running.same(&to));
    to.stop();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Activity, Event, LocalBus, TOPIC_CAPACITY};

    /// A fanout to receivers of a broadcast channel, so the relay's life can be watched from receivers.
    #[derive(Clone)]
    struct Channel(broadcast::Sender<Arc<BusEvent>>);

    impl Fanout for Channel {
        fn open() -> Self {
            Self(broadcast::channel(TOPIC_CAPACITY).0)
        }

        fn pass(&self, event: Arc<BusEvent>) -> bool {
            self.0.send(event).is_ok()
        }

        fn idle(&self) -> bool {
            self.0.receiver_count() == 0
        }

        fn same(&self, other: &Self) -> bool {
            self.0.same_channel(&other.0)
        }

        fn stop(&self) {}
    }

    impl Relays<Channel> {
        fn subscribe(self: &Arc<Self>, bus: &SharedBus, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>> {
            self.join(bus, license, |channel| channel.0.subscribe())
        }
    }

    fn presence(id: &str) -> Event {
        Event::Activity(Activity::VisitorPresence { online: vec![id.into()], offline: Vec::new() })
    }

    /// Two subscribers share one relay and each get every event in order; once both are gone, the relay
    /// ends at the next event and a new subscriber starts another.
    #[tokio::test]
    async fn subscribers_share_a_relay_that_ends_with_them() -> anyhow::Result<()> {
        let bus: SharedBus = Arc::new(LocalBus::new(16));
        let license = LicenseKey::parse("INTL-RELA-YTES-TONE")?;
        let relays: Arc<Relays<Channel>> = Arc::default();
        let (mut a, mut b) = (relays.subscribe(&bus, &license), relays.subscribe(&bus, &license));
        assert_eq!(relays.running.len(), 1);
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
        assert_eq!(relays.running.len(), 0, "the relay ended with its last subscriber");
        let mut c = relays.subscribe(&bus, &license);
        bus.publish(&license, presence("v4"));
        assert!(c.recv().await?.frame().contains("v4"));
        Ok(())
    }

    /// Subscribers that come as the last one goes, on a runtime of several threads, always land on a
    /// relay that is running: each gets the event published after it subscribed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscriber_never_joins_a_relay_that_is_ending() -> anyhow::Result<()> {
        let bus: SharedBus = Arc::new(LocalBus::new(16));
        let license = LicenseKey::parse("INTL-RELA-YTES-TWOO")?;
        let relays: Arc<Relays<Channel>> = Arc::default();
        for round in 0..300 {
            let mut receiver = relays.subscribe(&bus, &license);
            let id = format!("v{round}");
            bus.publish(&license, presence(&id));
            // An earlier round's last event may still be on its way through the relay: it comes first.
            let arrived = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while !receiver.recv().await?.frame().contains(&id) {}
                anyhow::Ok(())
            });
            arrived.await.map_err(|_| anyhow::anyhow!("round {round}: the event never came"))??;
            // The next round subscribes while this one's receiver is gone and the relay may be ending.
            drop(receiver);
            bus.publish(&license, presence("nobody"));
        }
        Ok(())
    }
}
