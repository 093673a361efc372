//! The numbers behind `metrics:updated`, computed from the store so every node agrees.

use super::{Context, Store, StoreResult};
use crate::domain::LicenseKey;
use sqlx::Row;

/// Stored counts for a license.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMetrics {
    /// Conversations not closed.
    pub open_conversations: i64,
    /// Messages stored since `since`.
    pub messages_since: i64,
    /// Median first-response time of conversations started since `since`.
    pub median_first_response_ms: Option<i64>,
    /// Satisfaction ratings given since `since`.
    pub csat_responses: i64,
    /// Their average (1–5).
    pub csat_average: Option<f64>,
}

impl Store {
    /// Counts for `license`, "today" meaning from `since` (epoch milliseconds).
    pub async fn metrics(&self, license: &LicenseKey, since: i64) -> StoreResult<StoredMetrics> {
        let counts = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM conversations WHERE license_key = $1 AND status = 'open') AS open_conversations,
                    (SELECT COUNT(*) FROM messages WHERE license_key = $1 AND created_at >= $2) AS messages_since,
                    (SELECT COUNT(*) FROM conversations WHERE license_key = $1 AND csat_at >= $2) AS csat_responses,
                    (SELECT CAST(SUM(csat_rating) AS BIGINT) FROM conversations WHERE license_key = $1 AND csat_at >= $2) AS csat_sum",
        )
        .bind(license.as_str().to_owned())
        .bind(since)
        .fetch_one(self.pool())
        .await.context("metrics")?;
        let rows = sqlx::query(
            "SELECT (SELECT MIN(created_at) FROM messages v WHERE v.conversation_id = c.id AND v.sender = 'visitor') AS asked,
                    (SELECT MIN(created_at) FROM messages a
                     WHERE a.conversation_id = c.id AND a.sender = 'agent' AND a.kind <> 'note') AS answered
             FROM conversations c WHERE c.license_key = $1 AND c.created_at >= $2",
        )
        .bind(license.as_str().to_owned())
        .bind(since)
        .fetch_all(self.pool())
        .await.context("metrics")?;
        let mut waits = Vec::with_capacity(rows.len());
        for row in &rows {
            let asked: Option<i64> = row.try_get("asked")?;
            let answered: Option<i64> = row.try_get("answered")?;
            if let (Some(asked), Some(answered)) = (asked, answered) {
                if answered >= asked {
                    waits.push(answered - asked);
                }
            }
        }
        waits.sort_unstable();
        let csat_responses: i64 = counts.try_get("csat_responses")?;
        let csat_sum: Option<i64> = counts.try_get("csat_sum")?;
        Ok(StoredMetrics {
            open_conversations: counts.try_get("open_conversations")?,
            messages_since: counts.try_get("messages_since")?,
            median_first_response_ms: waits.get(waits.len() / 2).copied(),
            csat_responses,
            // Rounded to two decimals: 4.67, not 4.666…
            csat_average: csat_sum
                .filter(|_| csat_responses > 0)
                .map(|sum| (sum as f64 * 100.0 / csat_responses as f64).round() / 100.0),
        })
    }

    /// Conversations of `license` not closed (one indexed count).
    pub async fn open_conversations(&self, license: &LicenseKey) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS open FROM conversations WHERE license_key = $1 AND status = 'open'")
            .bind(license.as_str().to_owned())
            .fetch_one(self.pool())
            .await
            .context("open_conversations")?;
        Ok(row.try_get("open")?)
    }
}
