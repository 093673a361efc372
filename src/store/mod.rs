//! The durable store: SQLite (single machine) or PostgreSQL (scale-out) behind one [`Store`] handle.
//!
//! Both engines run the same SQL through sqlx's `Any` driver: the queries stick to the dialect the two
//! share (`$n` placeholders, `RETURNING`, partial unique indexes, `BIGINT` epoch-millisecond times), so
//! every query is written once and tested on both engines. Engine-specific tuning (SQLite's WAL and
//! busy timeout) lives in [`Store::connect`].
//!
//! SQL text is built with `format!` only from constants (column lists, the engines' spellings) and
//! generated `$n` placeholders, never from values, which are always bound: that is the audit behind
//! every `AssertSqlSafe` sqlx asks for around SQL it cannot see is static.

mod api_keys;
mod append;
mod audit;
mod conversations;
mod delivery;
mod delivery_attempts;
mod erasure;
mod error;
mod inbox;
mod integrations;
mod invitations;
mod labels;
mod leads;
mod licenses;
mod messages;
mod metrics;
mod migrations;
mod outbox;
mod placeholders;
mod product_keys;
mod retention;
mod row;
mod security;
mod sessions;
mod statement;
mod team_settings;
mod usage;
mod users;
mod webhook_deliveries;
mod webhook_endpoints;
mod webhook_log;
mod webhook_payload;
mod widget_configs;

pub use api_keys::{ApiKeyRecord, NewApiKey, ResolvedApiKey};
pub use append::{AppendOutcome, ConversationAppend};
pub use audit::{AuditCursor, AuditEntry, AuditFilter, NewAuditEntry};
pub use conversations::{Conversation, NewConversation};
pub use delivery::ProviderMessage;
pub use delivery_attempts::{outcome as attempt_outcome, DeliveryAttempt};
pub use erasure::ErasedContact;
use error::Context;
pub use error::{EngineError, StoreError, StoreResult};
pub use inbox::{search_words, AssigneeFilter, ConversationCursor, ConversationFilter, ConversationSummary};
pub use integrations::Integration;
pub use invitations::{AcceptError, Invitation};
pub use labels::{CannedAnswer, Label};
pub use licenses::{License, NewLicense};
pub use messages::{Appended, NewMessage};
pub use metrics::{MemberMetrics, StoredMetrics, TeamMetrics};
pub use product_keys::ProductKeyRecord;
pub use retention::MAX_RETENTION_DAYS;
pub use security::TwoFactorRecord;
pub use sessions::Session;
pub use team_settings::TeamSettings;
pub use usage::DailyUsage;
pub use users::{Member, MemberChange, NewUser, User};
pub use webhook_deliveries::{AttemptRecord, ClaimedDelivery, DisablePolicy, DisabledEndpoint};
pub use webhook_endpoints::{EndpointChange, WebhookEndpoint};
pub use webhook_log::{WebhookAttempt, WebhookDeliveryEntry};

use placeholders::{list_placeholders, list_placeholders_from, values_placeholders, Placeholders};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;

/// Most product keys [`product_keys::KeyCache`] holds (a few hundred bytes each).
const PRODUCT_KEYS_CACHED: u64 = 10_000;
/// How long webhook deliveries are retried unless configured: a day.
const DEFAULT_WEBHOOK_RETRY_MS: i64 = 24 * 3600 * 1000;

/// Every SQLite connection's settings (the pool's and the shared writer's).
///
/// WAL lets readers proceed during a write; writers queue behind each other instead
/// of failing at once. FULL sync fsyncs the WAL at every commit, so an ack (sent after
/// the commit) survives a power cut, and a checkpoint finds the WAL already on disk:
/// with NORMAL, a commit that checkpointed first flushed every WAL page written since
/// the last one (~40 MB) while the batches queued behind it waited (measured at 10k
/// widget messages a second: ack p99 51–59 → 25–54 ms, median 32; p50 +1 ms).
/// Statement journals in memory: a shared commit's multi-row statements outgrow the
/// in-memory default and spilled to a temp file each (11 % of the writer, measured).
/// Checkpoints every 10,000 WAL pages (~40 MB) instead of 1,000: a commit that
/// checkpoints copies the WAL into the database while every batch queued behind it
/// waits, and a commit rewrites ~100 pages (indexes keyed by conversation, full-text
/// segments), so the default checkpointed every few commits. Rarer checkpoints copy
/// each hot page once for many commits (at 10k messages a second: ack p50 36 → 15 ms).
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; \
    PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;";

/// A cheap-to-clone handle on the connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// PostgreSQL rather than SQLite: the few queries the engines write differently ask.
    postgres: bool,
    /// How long (ms) a webhook delivery is retried after its event was written.
    webhook_retry_ms: i64,
    /// Woken after a commit that wrote to the webhook outbox, so this node's worker sends at once.
    outbox_written: std::sync::Arc<tokio::sync::Notify>,
    /// Product keys recently looked up (widget handshakes).
    product_keys: product_keys::KeyCache,
    /// SQLite's connection for shared commits (none on PostgreSQL, whose commits take pooled ones).
    writer: Option<std::sync::Arc<append::SqliteWriter>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite file if missing.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // A SQLite connection is a file on this node: pinging it on every checkout only proves its
            // worker thread is alive, at the price of a round trip to that thread (sqlx still pings it
            // when it is returned). A PostgreSQL connection may have been cut while idle: tested.
            .test_before_acquire(!is_sqlite)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .context("connect")?;
        Ok(Self {
            pool,
            postgres: !is_sqlite,
            webhook_retry_ms: DEFAULT_WEBHOOK_RETRY_MS,
            outbox_written: std::sync::Arc::default(),
            product_keys: product_keys::key_cache(PRODUCT_KEYS_CACHED),
            writer: if is_sqlite { Some(std::sync::Arc::new(append::SqliteWriter::start(&url)?)) } else { None },
        })
    }

    /// Retries webhook deliveries for `window` after their event (default: a day).
    pub fn with_webhook_retry_window(mut self, window: Duration) -> Self {
        self.webhook_retry_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Resolves after a commit that wrote webhook events (or at once if one happened since the last wait).
    pub async fn outbox_written(&self) {
        self.outbox_written.notified().await
    }

    /// Applies the embedded migrations; safe to run at every start and from several nodes.
    pub async fn migrate(&self) -> StoreResult<()> {
        let failed = |e: sqlx::migrate::MigrateError| StoreError::Database {
            context: "migrate",
            source: sqlx::Error::from(e).into(),
        };
        let migrator =
            Migrator::new(migrations::EmbeddedMigrations { postgres: self.postgres }).await.map_err(failed)?;
        migrator.run(&self.pool).await.map_err(failed)
    }

    /// Answers whether the engine responds: the readiness probe.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.context("ping")?;
        Ok(())
    }

    /// The pool, for the store's own modules.
    fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Reads a text column and parses it into a domain value, reporting corrupt rows instead of panicking.
fn parse_column<T>(row: &impl row::Columns, column: &str) -> StoreResult<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    row.text(column)?.parse().map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Like [`parse_column`], for a nullable column.
fn parse_optional_column<T>(row: &AnyRow, column: &str) -> StoreResult<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|raw| raw.parse().map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))).transpose()
}

/// Fresh migrated stores for unit tests: a SQLite one, and a PostgreSQL one when `DATABASE_ADMIN_URL`
/// names a server, each with its engine's name.
#[cfg(test)]
pub(crate) async fn test_stores() -> anyhow::Result<Vec<(&'static str, Store)>> {
    let name = format!("sb_unit_{}", uuid::Uuid::new_v4().simple());
    let path = std::env::temp_dir().join(format!("{name}.db"));
    let mut stores = vec![("sqlite", Store::connect(&format!("sqlite://{}", path.display()), 1).await?)];
    if let Ok(admin) = std::env::var("DATABASE_ADMIN_URL") {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        stores.push(("postgres", Store::connect(&format!("{base}/{name}"), 2).await?));
    }
    for (_, store) in &stores {
        store.migrate().await?;
    }
    Ok(stores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_store_operation_that_failed() {
        let failed: Result<(), sqlx::Error> = Err(sqlx::Error::PoolTimedOut);
        let err = failed.context("append_messages").context("an outer call").err();
        assert!(matches!(err, Some(StoreError::Unavailable { context: "append_messages", .. })));
        let shown = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(shown.starts_with("append_messages: the store is unavailable"), "{shown}");
        let unnamed = StoreError::from(sqlx::Error::RowNotFound).to_string();
        assert_eq!(values_placeholders(2, 2), "($1, $2), ($3, $4)");
        assert_eq!((list_placeholders(2), list_placeholders_from(3, 2)), ("$1, $2".to_owned(), "$3, $4".to_owned()));
        assert!(unnamed.starts_with("a store call: "), "{unnamed}");
    }
}
