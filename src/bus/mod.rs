//! The event bus: every event is published on its license's topic, and only that license's
//! subscribers (dashboard sockets) receive it.
//!
//! One trait, [`EventBus`]; [`LocalBus`] serves a single node. Subscribers get a bounded
//! broadcast receiver: one that lags more than [`TOPIC_CAPACITY`] events behind loses the
//! oldest ones and is told so (`RecvError::Lagged`), so a stalled reader cannot grow memory.

mod event;
mod local;

pub use event::{Activity, BusEvent, Event, Metrics, Notification};
pub use local::LocalBus;

use crate::domain::LicenseKey;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a license topic buffers for its slowest subscriber.
pub const TOPIC_CAPACITY: usize = 1024;

/// Publish/subscribe scoped by license.
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to every subscriber of `license`, on every node. Never blocks.
    fn publish(&self, license: &LicenseKey, event: Event);
    /// Receives the events of `license` published from now on.
    fn subscribe(&self, license: &LicenseKey) -> broadcast::Receiver<Arc<BusEvent>>;
}

/// A shared handle on whichever bus the deployment uses.
pub type SharedBus = Arc<dyn EventBus>;
