//! The event bus: every event is published on its license's topic, and only that license's
//! subscribers (dashboard sockets) receive it.
//!
//! One trait, [`EventBus`]; [`LocalBus`] serves a single node, [`RedisBus`] spans nodes over Redis pub/sub. Subscribers get a bounded
//! broadcast receiver: one that lags more than [`TOPIC_CAPACITY`] events behind loses the
//! oldest ones and is told so (`RecvError::Lagged`), so a stalled reader cannot grow memory.
//!
//! Every event published with [`EventBus::publish`] takes the next offset of its license's [`history`]
//! before any socket sees it, so every node delivers a license's events in one order; a reconnecting
//! dashboard asks [`EventBus::catch_up`] for what it missed.

mod bus_event;
mod event;
pub mod history;
mod local;
mod redis;
mod redis_history;

pub use self::redis::RedisBus;
pub use bus_event::BusEvent;
pub use event::{Activity, Event, Metrics, Notification};
pub use history::{CatchUp, Cursor, Position};
pub use local::LocalBus;

use crate::domain::LicenseKey;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a license topic buffers for its slowest subscriber.
pub const TOPIC_CAPACITY: usize = 1024;

/// Publish/subscribe scoped by license.
pub trait EventBus: Send + Sync + 'static {
    /// Appends `event` to the license's history and sends it to every subscriber of `license`, on every
    /// node, in the history's order. Never blocks.
    fn publish(&self, license: &LicenseKey, event: Event);
    /// Sends `event` to this node's subscribers only, outside the history: for what every node computes
    /// for itself (metrics, presence), which a reconnecting dashboard gets afresh rather than replayed.
    fn publish_local(&self, license: &LicenseKey, event: Event);
    /// Receives the events of `license` published from now on.
    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>>;
    /// What a dashboard at `from` missed (`None`: a fresh start, which only learns where the history
    /// stands). Subscribe first: the events it returns and the live ones then overlap, never leave a gap.
    fn catch_up(&self, license: &LicenseKey, from: Option<&Position>) -> BoxFuture<'static, CatchUp>;
    /// Resolves once every event published before the call has left this process (or failed to): a
    /// short-lived process (the CLI) waits for it before exiting. Immediate on a single node.
    fn flush(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    /// Events other nodes published, for relaying to this node's actors; `None` on a single node.
    fn subscribe_remote(&self) -> Option<broadcast::Receiver<Arc<RemoteEvent>>> {
        None
    }
    /// Sends `payload` to every node (this one too), outside any license's history: for requests a node
    /// answers for itself, such as widget commands and their receipts. Resolves to how many nodes it
    /// reached (Redis counts the subscribers; 1 on a single node, or when Redis is away and only this
    /// node got it).
    fn broadcast(&self, payload: Arc<str>) -> BoxFuture<'static, usize>;
    /// Receives every node-wide broadcast from now on (bounded like a license topic).
    fn subscribe_broadcasts(&self) -> broadcast::Receiver<Arc<str>>;
}

/// An event another node published.
#[derive(Debug)]
pub struct RemoteEvent {
    /// Its license.
    pub license: LicenseKey,
    /// The event.
    pub event: Event,
}

/// A shared handle on whichever bus the deployment uses.
pub type SharedBus = Arc<dyn EventBus>;
