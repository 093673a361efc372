//! Retention: each license's period, and the batches the retention job deletes in. Every batch is its own
//! short transaction of at most `limit` rows, so chat writes (one writer on SQLite) slip in between.

use super::{list_placeholders, parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, ConversationId, LicenseKey};
use sqlx::{AssertSqlSafe, Row};

/// Longest retention period a license may set: ten years.
pub const MAX_RETENTION_DAYS: i64 = 3650;

impl Store {
    /// The license's retention period in days; `None` keeps everything.
    pub async fn retention_days(&self, license: &LicenseKey) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT days FROM data_retention WHERE license_key = $1")
            .bind(license.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("retention_days")
    }

    /// Sets (`Some`) or clears (`None`) the license's retention period.
    pub async fn set_retention_days(&self, license: &LicenseKey, days: Option<i64>) -> StoreResult<()> {
        let query = match days {
            Some(days) => sqlx::query(
                "INSERT INTO data_retention (license_key, days, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (license_key) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at",
            )
            .bind(license.as_str().to_owned())
            .bind(days)
            .bind(now_millis()),
            None => sqlx::query("DELETE FROM data_retention WHERE license_key = $1").bind(license.as_str().to_owned()),
        };
        query.execute(self.pool()).await.context("set_retention_days")?;
        Ok(())
    }

    /// Every license with a retention period, and its period in days.
    pub async fn retention_policies(&self) -> StoreResult<Vec<(LicenseKey, i64)>> {
        let rows = sqlx::query("SELECT license_key, days FROM data_retention")
            .fetch_all(self.pool())
            .await
            .context("retention_policies")?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get("license_key")?;
                let license = LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?;
                Ok((license, row.try_get("days")?))
            })
            .collect()
    }

    /// Deletes up to `limit` of the license's messages stored before `cutoff` (epoch ms), with their
    /// delivery attempts. Answers how many went.
    pub async fn expire_messages(&self, license: &LicenseKey, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.context("expire_messages")?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE license_key = $1 AND created_at < $2 ORDER BY created_at LIMIT $3",
        )
        .bind(license.as_str().to_owned())
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .context("expire_messages")?;
        if ids.is_empty() {
            return Ok(0);
        }
        let list = list_placeholders(ids.len());
        let statements = [
            format!("DELETE FROM delivery_attempts WHERE message_id IN ({list})"),
            format!("DELETE FROM messages WHERE id IN ({list})"),
        ];
        let deleted = delete_listed(&mut tx, &statements, &ids).await.context("expire_messages")?;
        tx.commit().await.context("expire_messages")?;
        Ok(deleted)
    }

    /// Deletes up to `limit` of the license's conversations (contacts) with no activity since `cutoff`,
    /// with everything stored about them. Answers the deleted ids (their live actors must be stopped).
    pub async fn expire_conversations(
        &self,
        license: &LicenseKey,
        cutoff: i64,
        limit: i64,
    ) -> StoreResult<Vec<ConversationId>> {
        let mut tx = self.pool().begin().await.context("expire_conversations")?;
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT conversation_id AS id FROM conversation_recency
             WHERE license_key = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3",
        )
        .bind(license.as_str().to_owned())
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .context("expire_conversations")?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // Locks them, and drops any that came back to life since the read.
        let sql = format!(
            "UPDATE conversations SET updated_at = updated_at
             WHERE license_key = $1 AND updated_at < $2 AND id IN ({}) RETURNING id",
            (3..candidates.len() + 3).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
        );
        let mut lock = sqlx::query(AssertSqlSafe(sql.as_str())).bind(license.as_str().to_owned()).bind(cutoff);
        for id in &candidates {
            lock = lock.bind(id.clone());
        }
        let rows = lock.fetch_all(&mut *tx).await.context("expire_conversations")?;
        let ids = rows.iter().map(|row| parse_column(row, "id")).collect::<StoreResult<Vec<ConversationId>>>()?;
        super::erasure::delete_conversations(&mut tx, license, &ids).await?;
        tx.commit().await.context("expire_conversations")?;
        Ok(ids)
    }

    /// Deletes up to `limit` of the license's webhook events written before `cutoff` whose deliveries are
    /// all settled (the bodies carry message texts), with their deliveries and attempts.
    pub async fn expire_webhook_events(&self, license: &LicenseKey, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.context("expire_webhook_events")?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT e.id FROM webhook_events e WHERE e.license_key = $1 AND e.created_at < $2
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
             ORDER BY e.created_at LIMIT $3",
        )
        .bind(license.as_str().to_owned())
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .context("expire_webhook_events")?;
        if ids.is_empty() {
            return Ok(0);
        }
        let list = list_placeholders(ids.len());
        let statements = [
            format!(
                "DELETE FROM webhook_attempts WHERE delivery_id IN
                     (SELECT id FROM webhook_deliveries WHERE event_id IN ({list}))"
            ),
            format!("DELETE FROM webhook_deliveries WHERE event_id IN ({list})"),
            format!("DELETE FROM webhook_events WHERE id IN ({list})"),
        ];
        let deleted = delete_listed(&mut tx, &statements, &ids).await.context("expire_webhook_events")?;
        tx.commit().await.context("expire_webhook_events")?;
        Ok(deleted)
    }
}

/// Runs each `DELETE … IN ($1, …)` of `statements` (children first) with `ids`; answers the rows the last
/// one deleted (the rows the batch was about).
async fn delete_listed(conn: &mut sqlx::AnyConnection, statements: &[String], ids: &[String]) -> StoreResult<u64> {
    let mut deleted = 0;
    for sql in statements {
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for id in ids {
            query = query.bind(id.clone());
        }
        deleted = query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(deleted)
}
