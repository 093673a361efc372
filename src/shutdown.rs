//! The one shutdown signal every part of the server obeys (HTTP listener, Socket.IO listener, socket
//! loops, readiness). Triggered once, by SIGTERM/SIGINT; anything can wait for it or ask whether it
//! has fired. A `watch` channel rather than a broadcast: late subscribers still see that it fired.

use std::sync::Arc;
use tokio::sync::watch;

/// A cheap-to-clone handle on the shutdown signal.
#[derive(Clone, Debug)]
pub struct Shutdown {
    fired: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self { fired: Arc::new(watch::Sender::new(false)) }
    }
}

impl Shutdown {
    /// Fires the signal; later calls do nothing.
    pub fn trigger(&self) {
        self.fired.send_replace(true);
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        *self.fired.borrow()
    }

    /// Resolves once the signal has fired (at once if it already has). Owns what it waits on, so a loop
    /// can make it once and poll it each time round.
    pub fn triggered(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let fired = self.fired.clone();
        async move {
            // The future holds the sender, so the channel cannot close while it waits.
            let _ = fired.subscribe().wait_for(|fired| *fired).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_before_and_after_the_trigger_both_return() {
        let shutdown = Shutdown::default();
        let early = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.triggered().await }
        });
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        early.await.expect("the early waiter returns");
        shutdown.triggered().await;
        assert!(shutdown.is_triggered());
    }
}
