//! The event bus: every event is published on its license's topic, and only that license's
//! subscribers (dashboard sockets) receive it.
//!
//! One trait, [`EventBus`]; [`LocalBus`] serves a single node, [`RedisBus`] spans nodes over Redis pub/sub. Subscribers get a bounded
//! broadcast receiver: one that lags more than [`TOPIC_CAPACITY`] events behind loses the
//! oldest ones and is told so (`RecvError::Lagged`), so a stalled reader cannot grow memory.

mod event;
mod local;
mod redis;

pub use self::redis::RedisBus;
pub use event::{Activity, BusEvent, Event, Metrics, Notification};
pub use local::LocalBus;

use crate::domain::LicenseKey;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a license topic buffers for its slowest subscriber.
pub const TOPIC_CAPACITY: usize = 1024;

/// Publish/subscribe scoped by license.
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to every subscriber of `license`, on every node. Never blocks.
    fn publish(&self, license: &LicenseKey, event: Event);
    /// Sends `event` to this node's subscribers only: for what every node computes for itself (metrics).
    fn publish_local(&self, license: &LicenseKey, event: Event) {
        self.publish(license, event);
    }
    /// Receives the events of `license` published from now on.
    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>>;
    /// Resolves once every event published before the call has left this process (or failed to): a
    /// short-lived process (the CLI) waits for it before exiting. Immediate on a single node.
    fn flush(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    /// Events other nodes published, for relaying to this node's actors; `None` on a single node.
    fn subscribe_remote(&self) -> Option<broadcast::Receiver<Arc<RemoteEvent>>> {
        None
    }
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
