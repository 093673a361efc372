//! An endpoint's delivery log (each delivery with its attempts, cursor-paged) and manual redelivery.

use super::{parse_column, Context, Store, StoreResult};
use crate::domain::{
    now_millis, LicenseKey, WebhookDeliveryId, WebhookDeliveryStatus, WebhookEndpointId, WebhookEvent,
};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};
use std::collections::HashMap;

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookAttempt {
    /// Its number, from 1.
    pub attempt: i64,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// The start of the answer (at most 1 KiB).
    pub response_excerpt: Option<String>,
    /// Milliseconds the attempt took.
    pub latency_ms: i64,
    /// Why it failed (timeout, refused address…).
    pub error: Option<String>,
    /// When, epoch ms.
    pub at: i64,
}

/// One delivery in an endpoint's log.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookDeliveryEntry {
    /// The delivery.
    pub id: WebhookDeliveryId,
    /// The event's stable id (receivers deduplicate on it).
    pub event_id: String,
    /// What happened.
    pub event: WebhookEvent,
    /// Where it stands.
    pub status: WebhookDeliveryStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// The next retry (epoch ms) while pending.
    pub next_attempt_at: Option<i64>,
    /// The last answer's status.
    pub last_status_code: Option<i64>,
    /// The start of the last answer.
    pub last_response_excerpt: Option<String>,
    /// How long the last attempt took.
    pub last_latency_ms: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<WebhookAttempt>,
    /// When the event was written, epoch ms.
    pub created_at: i64,
}

const LOG_COLUMNS: &str = "d.id, d.event_id, ev.event, d.status, d.attempts, d.next_attempt_at, d.created_at";

fn entry_from_row(row: &AnyRow) -> StoreResult<WebhookDeliveryEntry> {
    let status: WebhookDeliveryStatus = parse_column(row, "status")?;
    let next: i64 = row.try_get("next_attempt_at")?;
    Ok(WebhookDeliveryEntry {
        id: parse_column(row, "id")?,
        event_id: row.try_get("event_id")?,
        event: parse_column(row, "event")?,
        status,
        attempts: row.try_get("attempts")?,
        next_attempt_at: (status == WebhookDeliveryStatus::Pending).then_some(next),
        last_status_code: None,
        last_response_excerpt: None,
        last_latency_ms: None,
        last_error: None,
        attempt_log: Vec::new(),
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// An endpoint's deliveries, newest first, `limit` at a time after the cursor `(created_at, id)`.
    pub async fn webhook_delivery_log(
        &self,
        license: &LicenseKey,
        endpoint: &WebhookEndpointId,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDeliveryEntry>> {
        let (at, id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOG_COLUMNS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
             WHERE d.license_key = $1 AND d.endpoint_id = $2
               AND (d.created_at < $3 OR (d.created_at = $3 AND ($4 = '' OR d.id < $4)))
             ORDER BY d.created_at DESC, d.id DESC LIMIT $5"
        )))
        .bind(license.as_str().to_owned())
        .bind(endpoint.as_str().to_owned())
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("webhook_delivery_log")?;
        let mut entries: Vec<WebhookDeliveryEntry> = rows.iter().map(entry_from_row).collect::<StoreResult<_>>()?;
        self.with_attempts(&mut entries).await?;
        Ok(entries)
    }

    /// Sends a delivery again (as a retry due now, with a fresh retry window); `None` if the license's
    /// endpoint has no such delivery.
    pub async fn redeliver_webhook(
        &self,
        license: &LicenseKey,
        endpoint: &WebhookEndpointId,
        id: &WebhookDeliveryId,
    ) -> StoreResult<Option<WebhookDeliveryEntry>> {
        let now = now_millis();
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $4, retry_until = $5, updated_at = $4
             WHERE license_key = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(license.as_str().to_owned())
        .bind(endpoint.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(now)
        .bind(now.saturating_add(self.webhook_retry_ms))
        .execute(self.pool())
        .await
        .context("redeliver_webhook")?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.outbox_committed();
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOG_COLUMNS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1"
        )))
        .bind(id.as_str().to_owned())
        .fetch_one(self.pool())
        .await
        .context("redeliver_webhook")?;
        let mut entries = vec![entry_from_row(&row)?];
        self.with_attempts(&mut entries).await?;
        Ok(entries.pop())
    }

    /// Fills each entry's attempt log, and its `last_*` fields from the newest attempt.
    async fn with_attempts(&self, entries: &mut [WebhookDeliveryEntry]) -> StoreResult<()> {
        let mut attempts = self.webhook_attempts(entries).await?;
        for entry in entries {
            entry.attempt_log = attempts.remove(entry.id.as_str()).unwrap_or_default();
            if let Some(last) = entry.attempt_log.last() {
                entry.last_status_code = last.status_code;
                entry.last_response_excerpt = last.response_excerpt.clone();
                entry.last_latency_ms = Some(last.latency_ms);
                entry.last_error = last.error.clone();
            }
        }
        Ok(())
    }

    async fn webhook_attempts(
        &self,
        entries: &[WebhookDeliveryEntry],
    ) -> StoreResult<HashMap<String, Vec<WebhookAttempt>>> {
        let mut found: HashMap<String, Vec<WebhookAttempt>> = HashMap::new();
        if entries.is_empty() {
            return Ok(found);
        }
        let sql = format!(
            "SELECT delivery_id, attempt, status_code, response_excerpt, latency_ms, error, created_at
             FROM webhook_attempts WHERE delivery_id IN ({}) ORDER BY attempt",
            super::list_placeholders(entries.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for entry in entries {
            query = query.bind(entry.id.as_str().to_owned());
        }
        for row in query.fetch_all(self.pool()).await.context("webhook_attempts")? {
            found.entry(row.try_get("delivery_id")?).or_default().push(WebhookAttempt {
                attempt: row.try_get("attempt")?,
                status_code: row.try_get("status_code")?,
                response_excerpt: row.try_get("response_excerpt")?,
                latency_ms: row.try_get("latency_ms")?,
                error: row.try_get("error")?,
                at: row.try_get("created_at")?,
            });
        }
        Ok(found)
    }
}
