//! The schema embedded in the binary, served to sqlx's migrator: both engines run the same files except
//! where they write SQL differently.

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// The schema, embedded in the binary: (version, description, SQL). Both engines run the same files.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../../migrations/0001_foundation.sql")),
    (2, "conversations", include_str!("../../migrations/0002_conversations.sql")),
    (3, "channels", include_str!("../../migrations/0003_channels.sql")),
    (4, "delivery_lease", include_str!("../../migrations/0004_delivery_lease.sql")),
    (5, "page_tokens", include_str!("../../migrations/0005_page_tokens.sql")),
    (6, "team", include_str!("../../migrations/0006_team.sql")),
    (7, "integrations", include_str!("../../migrations/0007_integrations.sql")),
    (8, "security", include_str!("../../migrations/0008_security.sql")),
    (9, "team_settings", include_str!("../../migrations/0009_team_settings.sql")),
    (11, "csat", include_str!("../../migrations/0011_csat.sql")),
    (12, "business_hours", include_str!("../../migrations/0012_business_hours.sql")),
    (13, "metrics_index", include_str!("../../migrations/0013_metrics_index.sql")),
    (14, "webhooks", include_str!("../../migrations/0014_webhooks.sql")),
    (15, "leads", include_str!("../../migrations/0015_leads.sql")),
    (16, "data_protection", include_str!("../../migrations/0016_data_protection.sql")),
    (17, "delivery_intent", include_str!("../../migrations/0017_delivery_intent.sql")),
    (18, "channel_csat", include_str!("../../migrations/0018_channel_csat.sql")),
    (19, "webhook_claim", include_str!("../../migrations/0019_webhook_claim.sql")),
    (20, "provider_id_partial", include_str!("../../migrations/0020_provider_id_partial.sql")),
];

/// The parts of the schema the engines write differently (full-text search and its tuning, where a
/// conversation's recency lives): (version, description, SQLite SQL, PostgreSQL SQL).
const ENGINE_MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        10,
        "search",
        include_str!("../../migrations/0010_search.sqlite.sql"),
        include_str!("../../migrations/0010_search.postgres.sql"),
    ),
    (
        21,
        "conversation_recency",
        include_str!("../../migrations/0021_conversation_recency.sqlite.sql"),
        include_str!("../../migrations/0021_conversation_recency.postgres.sql"),
    ),
    (
        22,
        "search_pending_list",
        include_str!("../../migrations/0022_search_pending_list.sqlite.sql"),
        include_str!("../../migrations/0022_search_pending_list.postgres.sql"),
    ),
    (
        23,
        "search_batches",
        include_str!("../../migrations/0023_search_batches.sqlite.sql"),
        include_str!("../../migrations/0023_search_batches.postgres.sql"),
    ),
];

/// Serves [`MIGRATIONS`] and this engine's [`ENGINE_MIGRATIONS`] to sqlx's migrator, in version order,
/// without reading the filesystem at run time.
#[derive(Debug)]
pub(super) struct EmbeddedMigrations {
    /// Which engine's variant of [`ENGINE_MIGRATIONS`] to serve.
    pub(super) postgres: bool,
}

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            let engine_specific = ENGINE_MIGRATIONS.iter().map(|(version, description, sqlite, postgres)| {
                (*version, *description, if self.postgres { *postgres } else { *sqlite })
            });
            let mut all: Vec<(i64, &str, &str)> = MIGRATIONS.iter().copied().chain(engine_specific).collect();
            all.sort_by_key(|(version, _, _)| *version);
            Ok(all
                .into_iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        AssertSqlSafe(sql).into_sql_str(),
                        false,
                    )
                })
                .collect())
        })
    }
}
