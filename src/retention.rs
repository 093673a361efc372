//! The retention job: on every node, every `RETENTION_SWEEP_SECONDS` (or at once when a license changes
//! its setting), deletes what each license's retention period has expired: messages older than N days,
//! conversations (contacts) idle for longer, and settled webhook events. Each batch is a short transaction
//! of at most `RETENTION_BATCH_ROWS` rows and the job yields between batches, so chat never waits on it.
//! Several nodes sweeping at once only race to delete the same rows, which is harmless.

use crate::actors::Registry;
use crate::config::RetentionConfig;
use crate::domain::{now_millis, LicenseKey, DAY_MS};
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Pause between two batches: gives queued chat writes the store (SQLite has one writer).
const BETWEEN_BATCHES: Duration = Duration::from_millis(5);

/// Wakes this node's retention job now (a license changed its period).
#[derive(Clone, Default)]
pub struct RetentionWaker(Arc<Notify>);

impl RetentionWaker {
    /// Starts a sweep now (or as soon as the current one ends).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Starts this node's retention job with `config`; answers the handle that wakes it early.
pub fn start(config: &RetentionConfig, store: &Store, registry: &Registry, shutdown: Shutdown) -> RetentionWaker {
    let waker = RetentionWaker::default();
    RetentionJob {
        store: store.clone(),
        registry: registry.clone(),
        every: Duration::from_secs(config.retention_sweep_seconds.max(1)),
        batch_rows: i64::try_from(config.retention_batch_rows).unwrap_or(i64::MAX),
        waker: waker.clone(),
    }
    .start(shutdown);
    waker
}

/// The job's settings and handles.
struct RetentionJob {
    /// Where the data is.
    store: Store,
    /// Stops the live actors of expired conversations on every node.
    registry: Registry,
    /// Time between sweeps.
    every: Duration,
    /// Rows per batch.
    batch_rows: i64,
    /// Wakes a sweep early.
    waker: RetentionWaker,
}

impl RetentionJob {
    /// Runs the job on the current runtime until `shutdown` fires.
    fn start(self, shutdown: Shutdown) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.every) => {}
                    _ = self.waker.0.notified() => {}
                    _ = shutdown.triggered() => return,
                }
                if let Err(err) = self.sweep(&shutdown).await {
                    tracing::warn!(error = %err, "the retention sweep stopped early; the next one goes on");
                }
            }
        });
    }

    /// One pass over every license with a retention period.
    async fn sweep(&self, shutdown: &Shutdown) -> StoreResult<()> {
        for (license, days) in self.store.retention_policies().await? {
            if shutdown.is_triggered() {
                return Ok(());
            }
            let cutoff = now_millis().saturating_sub(days.saturating_mul(DAY_MS));
            let (messages, conversations, events) = self.expire(&license, cutoff).await?;
            if messages + conversations + events > 0 {
                tracing::info!(%license, days, messages, conversations, webhook_events = events, "retention deleted expired data");
            }
        }
        Ok(())
    }

    /// Deletes the license's data older than `cutoff`, batch by batch; answers what went (messages,
    /// conversations, webhook events).
    async fn expire(&self, license: &LicenseKey, cutoff: i64) -> StoreResult<(u64, u64, u64)> {
        let limit = self.batch_rows.max(1);
        let conversations = in_batches(limit, || async move {
            let ids = self.store.expire_conversations(license, cutoff, limit).await?;
            let count = ids.len() as u64;
            self.registry.erased(license, None, ids);
            Ok(count)
        })
        .await?;
        let messages = in_batches(limit, || self.store.expire_messages(license, cutoff, limit)).await?;
        let events = in_batches(limit, || self.store.expire_webhook_events(license, cutoff, limit)).await?;
        Ok((messages, conversations, events))
    }
}

/// Runs `batch` until one deletes fewer than `limit` rows, pausing between batches; answers the total.
async fn in_batches<F, Fut>(limit: i64, mut batch: F) -> StoreResult<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = batch().await?;
        total += deleted;
        if i64::try_from(deleted).unwrap_or(i64::MAX) < limit {
            return Ok(total);
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}
