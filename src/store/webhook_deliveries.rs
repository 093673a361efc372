//! Webhook deliveries: the worker's claims (a lease per delivery, taken in a conditional UPDATE so one
//! node sends each), its attempts and the endpoint's failure streak.

use super::{parse_column, Context, Store, StoreResult};
use crate::domain::{
    new_id, now_millis, LicenseKey, WebhookDeliveryId, WebhookDeliveryStatus, WebhookEndpointId, WebhookEvent,
};
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// A delivery this node holds the lease of, with everything sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The delivery (the `X-Switchboard-Delivery` header).
    pub id: WebhookDeliveryId,
    /// Its tenant.
    pub license_key: LicenseKey,
    /// Where it goes.
    pub endpoint_id: WebhookEndpointId,
    /// The endpoint's URL.
    pub url: String,
    /// What happened (the `X-Switchboard-Event` header).
    pub event: WebhookEvent,
    /// The event's stable id (`X-Switchboard-Event-Id`, the body's `id`).
    pub event_id: String,
    /// The body, byte for byte as signed.
    pub payload: String,
    /// The endpoint's secret, then the previous one while its rotation overlap lasts, as stored
    /// (`whsec_…`, or sealed: see `webhooks::sealing`).
    pub secrets: Vec<String>,
    /// This attempt's number, from 1.
    pub attempt: i64,
    /// Until when (epoch ms) a failure may still be retried.
    pub retry_until: i64,
}

/// What came of one attempt, and what happens next.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// The start of its answer (at most 1 KiB).
    pub response_excerpt: Option<String>,
    /// How long the attempt took.
    pub latency_ms: i64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The delivery's state after it.
    pub status: WebhookDeliveryStatus,
    /// When to try again (epoch ms), if pending.
    pub next_attempt_at: i64,
}

/// When a failing endpoint is turned off: after this many failed attempts in a row spanning this long.
#[derive(Debug, Clone, Copy)]
pub struct DisablePolicy {
    /// Failed attempts in a row.
    pub after_failures: i64,
    /// And the first of them at least this long ago (ms).
    pub after_ms: i64,
}

/// An endpoint the server just disabled.
#[derive(Debug, Clone)]
pub struct DisabledEndpoint {
    /// Its tenant.
    pub license_key: LicenseKey,
    /// Which.
    pub id: WebhookEndpointId,
    /// Its URL.
    pub url: String,
    /// Failed attempts in a row.
    pub failures: i64,
}

/// The deliveries a worker may send now, most overdue first (`$1` now, `$2` how many). A conversation's
/// deliveries go in order, so only the first pending one of each (endpoint, conversation) can go: the
/// recursive part walks the narrow `webhook_deliveries_heads` index from one conversation to the next
/// (one index descent each: the endpoint's next conversation, else the next endpoint's first), so a
/// claim costs the number of conversations with a backlog, not the backlog (nor the dead row versions
/// the worker's updates leave until vacuum). License-wide events
/// (position 0) have no order: they come from `webhook_deliveries_unordered`, due ones first.
const CANDIDATES: &str = "
    WITH RECURSIVE heads (id, endpoint_id, ordering_key, next_attempt_at, lease_until) AS (
        SELECT id, endpoint_id, ordering_key, next_attempt_at, lease_until FROM webhook_deliveries
        WHERE id = (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND position > 0
                    ORDER BY endpoint_id, ordering_key, position LIMIT 1)
      UNION ALL
        SELECT d.id, d.endpoint_id, d.ordering_key, d.next_attempt_at, d.lease_until
        FROM heads h JOIN webhook_deliveries d ON d.id = COALESCE(
            (SELECT n.id FROM webhook_deliveries n
             WHERE n.status = 'pending' AND n.position > 0
               AND n.endpoint_id = h.endpoint_id AND n.ordering_key > h.ordering_key
             ORDER BY n.endpoint_id, n.ordering_key, n.position LIMIT 1),
            (SELECT n.id FROM webhook_deliveries n
             WHERE n.status = 'pending' AND n.position > 0 AND n.endpoint_id > h.endpoint_id
             ORDER BY n.endpoint_id, n.ordering_key, n.position LIMIT 1))
    ),
    candidates (id, endpoint_id, next_attempt_at) AS (
        SELECT id, endpoint_id, next_attempt_at FROM heads WHERE next_attempt_at <= $1 AND lease_until < $1
      UNION ALL
        SELECT id, endpoint_id, next_attempt_at FROM (
            SELECT u.id, u.endpoint_id, u.next_attempt_at
            FROM webhook_deliveries u JOIN webhook_endpoints e ON e.id = u.endpoint_id
            WHERE u.status = 'pending' AND u.position = 0 AND u.next_attempt_at <= $1 AND u.lease_until < $1
              AND e.enabled = 1
            ORDER BY u.next_attempt_at LIMIT $2) unordered
    )
    SELECT c.id FROM candidates c JOIN webhook_endpoints e ON e.id = c.endpoint_id
    WHERE e.enabled = 1
    ORDER BY c.next_attempt_at LIMIT $2";

impl Store {
    /// Leases up to `limit` due deliveries until `lease_until` (epoch ms): pending, due, not leased, of an
    /// enabled endpoint, and first in line of their conversation for that endpoint (an earlier event still
    /// pending holds the later ones back). Two small statements: a read that finds the candidates (see
    /// [`CANDIDATES`]), then a conditional UPDATE of just those rows, so only one node takes each.
    pub async fn claim_webhook_deliveries(&self, limit: i64, lease_until: i64) -> StoreResult<Vec<ClaimedDelivery>> {
        let now = now_millis();
        let candidates: Vec<String> = sqlx::query_scalar(CANDIDATES)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .context("claim_webhook_deliveries")?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // The UPDATE re-checks each candidate: another node may have leased, sent or rescheduled it since
        // the read. A head stays the head until it leaves `pending` (later events only get higher positions;
        // only an operator's redelivery of an older one can put one before it again).
        // PostgreSQL: claimers on several nodes skip each other's rows instead of waiting on them; SQLite
        // has one writer at a time anyway.
        let skip_locked = if self.postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $1
             WHERE id IN (SELECT id FROM webhook_deliveries
                          WHERE id IN ({}) AND status = 'pending' AND next_attempt_at <= $2 AND lease_until < $2
                          {skip_locked})
               AND status = 'pending' AND next_attempt_at <= $2 AND lease_until < $2
             RETURNING id",
            super::list_placeholders_from(3, candidates.len())
        );
        let mut lease = sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(lease_until).bind(now);
        for id in candidates {
            lease = lease.bind(id);
        }
        let claimed: Vec<String> = lease.fetch_all(self.pool()).await.context("claim_webhook_deliveries")?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT d.id, d.event_id, d.license_key, d.endpoint_id, d.attempts, d.retry_until, ev.event, ev.payload, e.url,
                    e.secret, e.previous_secret, e.previous_secret_until
             FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
                  JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.id IN ({})",
            super::list_placeholders(claimed.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for id in claimed {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await.context("claim_webhook_deliveries")?;
        rows.iter().map(|row| claimed_from_row(row, now)).collect()
    }

    /// Records an attempt and the delivery's new state, and keeps the endpoint's failure streak; in one
    /// transaction. Returns the endpoint if this failure made the server disable it (exactly one node does).
    pub async fn record_webhook_attempt(
        &self,
        delivery: &ClaimedDelivery,
        record: &AttemptRecord,
        policy: DisablePolicy,
    ) -> StoreResult<Option<DisabledEndpoint>> {
        let now = now_millis();
        let mut tx = self.pool().begin().await.context("record_webhook_attempt")?;
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, attempt, status_code, response_excerpt, latency_ms, error,
                 created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(delivery.id.as_str().to_owned())
        .bind(delivery.attempt)
        .bind(record.status_code.map(i64::from))
        .bind(record.response_excerpt.clone())
        .bind(record.latency_ms)
        .bind(record.error.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("record_webhook_attempt")?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, lease_until = 0,
                 updated_at = $5
             WHERE id = $1",
        )
        .bind(delivery.id.as_str().to_owned())
        .bind(record.status.as_str())
        .bind(delivery.attempt)
        .bind(record.next_attempt_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("record_webhook_attempt")?;
        let disabled = if record.status == WebhookDeliveryStatus::Succeeded {
            // Only when there is a streak to end: every delivery of an endpoint would otherwise queue on
            // its row lock (held until the commit is flushed) one after the other.
            sqlx::query(
                "UPDATE webhook_endpoints SET failure_streak = 0, failing_since = NULL
                 WHERE id = $1 AND (failure_streak <> 0 OR failing_since IS NOT NULL)",
            )
            .bind(delivery.endpoint_id.as_str().to_owned())
            .execute(&mut *tx)
            .await
            .context("record_webhook_attempt")?;
            None
        } else {
            count_failure(&mut tx, delivery, policy, now).await?
        };
        tx.commit().await.context("record_webhook_attempt")?;
        Ok(disabled)
    }

    /// Gives unfinished deliveries back (lease 0) so any node takes them at its next scan: a stopping node's.
    pub async fn release_webhook_deliveries(&self, ids: &[WebhookDeliveryId]) -> StoreResult<()> {
        for id in ids {
            sqlx::query("UPDATE webhook_deliveries SET lease_until = 0 WHERE id = $1 AND status = 'pending'")
                .bind(id.as_str().to_owned())
                .execute(self.pool())
                .await
                .context("release_webhook_deliveries")?;
        }
        Ok(())
    }
}

fn claimed_from_row(row: &AnyRow, now: i64) -> StoreResult<ClaimedDelivery> {
    let secrets = super::webhook_endpoints::secrets_from_row(row, now)?;
    let license: String = row.try_get("license_key")?;
    Ok(ClaimedDelivery {
        id: parse_column(row, "id")?,
        license_key: LicenseKey::parse(&license).map_err(|e| super::StoreError::Corrupt(e.0))?,
        endpoint_id: parse_column(row, "endpoint_id")?,
        url: row.try_get("url")?,
        event: parse_column(row, "event")?,
        event_id: row.try_get("event_id")?,
        payload: row.try_get("payload")?,
        secrets,
        attempt: row.try_get::<i64, _>("attempts")? + 1,
        retry_until: row.try_get("retry_until")?,
    })
}

/// Counts a failed attempt against its endpoint and disables it when the policy says so.
async fn count_failure(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    delivery: &ClaimedDelivery,
    policy: DisablePolicy,
    now: i64,
) -> StoreResult<Option<DisabledEndpoint>> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failure_streak = failure_streak + 1, failing_since = COALESCE(failing_since, $2)
         WHERE id = $1",
    )
    .bind(delivery.endpoint_id.as_str().to_owned())
    .bind(now)
    .execute(&mut **tx)
    .await
    .context("record_webhook_attempt")?;
    let row = sqlx::query(
        "UPDATE webhook_endpoints SET enabled = 0, updated_at = $4,
             disabled_reason = 'failed ' || failure_streak || ' times in a row'
         WHERE id = $1 AND enabled = 1 AND failure_streak >= $2 AND failing_since <= $3
         RETURNING license_key, url, failure_streak",
    )
    .bind(delivery.endpoint_id.as_str().to_owned())
    .bind(policy.after_failures)
    .bind(now.saturating_sub(policy.after_ms))
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
    .context("record_webhook_attempt")?;
    row.map(|row| {
        let license: String = row.try_get("license_key")?;
        Ok(DisabledEndpoint {
            license_key: LicenseKey::parse(&license).map_err(|e| super::StoreError::Corrupt(e.0))?,
            id: delivery.endpoint_id.clone(),
            url: row.try_get("url")?,
            failures: row.try_get("failure_streak")?,
        })
    })
    .transpose()
}
