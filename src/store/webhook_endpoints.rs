//! Outgoing webhook endpoints: where a license's events go, what each subscribes to, and its signing secrets.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{new_id, now_millis, LicenseKey, WebhookEndpointId, WebhookEvent};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// A stored endpoint, as the API shows it (never its secrets).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// Where events are POSTed.
    pub url: String,
    /// A note for people.
    pub description: String,
    /// What it subscribes to.
    pub events: Vec<WebhookEvent>,
    /// Whether it receives events; the server turns it off after too many failures.
    pub enabled: bool,
    /// Why the server disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Failed attempts since the last success.
    pub failure_streak: i64,
    /// Until when (epoch ms) the secret replaced by the last rotation still signs too.
    pub previous_secret_expires_at: Option<i64>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    /// A new URL (already checked).
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new subscription.
    pub events: Option<Vec<WebhookEvent>>,
    /// On or off; turning it on forgets the failure streak.
    pub enabled: Option<bool>,
}

const ENDPOINT_COLUMNS: &str = "id, url, description, events, enabled, disabled_reason, failure_streak, \
     previous_secret_until, created_at, updated_at";

/// Reads the stored JSON list of event names.
pub(super) fn parse_events(raw: &str) -> StoreResult<Vec<WebhookEvent>> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("webhook events: {e}")))
}

fn events_json(events: &[WebhookEvent]) -> String {
    serde_json::Value::from(events.iter().map(|e| e.as_str()).collect::<Vec<_>>()).to_string()
}

fn endpoint_from_row(row: &AnyRow) -> StoreResult<WebhookEndpoint> {
    let events: String = row.try_get("events")?;
    let previous_until: Option<i64> = row.try_get("previous_secret_until")?;
    Ok(WebhookEndpoint {
        id: parse_column(row, "id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: parse_events(&events)?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        failure_streak: row.try_get("failure_streak")?,
        previous_secret_expires_at: previous_until.filter(|until| *until > now_millis()),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An endpoint row's signing secrets in their stored form (`whsec_…` or sealed; `secret`,
/// `previous_secret`, `previous_secret_until`): the current one, then the previous one while its overlap
/// lasts at `now`.
pub(super) fn secrets_from_row(row: &AnyRow, now: i64) -> StoreResult<Vec<String>> {
    let mut secrets = vec![row.try_get("secret")?];
    let previous: Option<String> = row.try_get("previous_secret")?;
    let until: Option<i64> = row.try_get("previous_secret_until")?;
    if let (Some(previous), true) = (previous, until.is_some_and(|until| until > now)) {
        secrets.push(previous);
    }
    Ok(secrets)
}

impl Store {
    /// Every signing secret of the license's endpoints, in their stored form (previous ones while their
    /// overlap lasts): what a signed incoming widget command may be signed with.
    pub async fn webhook_signing_secrets(&self, license: &LicenseKey) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT secret, previous_secret, previous_secret_until FROM webhook_endpoints WHERE license_key = $1",
        )
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("webhook_signing_secrets")?;
        let now = now_millis();
        let mut secrets = Vec::new();
        for row in &rows {
            secrets.extend(secrets_from_row(row, now)?);
        }
        Ok(secrets)
    }

    /// Stores a new endpoint with its first secret, in its stored form (`whsec_…` or sealed).
    pub async fn create_webhook_endpoint(
        &self,
        license: &LicenseKey,
        url: &str,
        description: &str,
        events: &[WebhookEvent],
        enabled: bool,
        stored_secret: &str,
    ) -> StoreResult<WebhookEndpoint> {
        let now = now_millis();
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoints (id, license_key, url, description, events, enabled, secret, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(new_id())
        .bind(license.as_str().to_owned())
        .bind(url.to_owned())
        .bind(description.to_owned())
        .bind(events_json(events))
        .bind(i64::from(enabled))
        .bind(stored_secret.to_owned())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .context("create_webhook_endpoint")?;
        endpoint_from_row(&row)
    }

    /// The license's endpoints, oldest first.
    pub async fn webhook_endpoints(&self, license: &LicenseKey) -> StoreResult<Vec<WebhookEndpoint>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE license_key = $1 ORDER BY created_at, id"
        )))
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("webhook_endpoints")?;
        rows.iter().map(endpoint_from_row).collect()
    }

    /// One of the license's endpoints.
    pub async fn webhook_endpoint(
        &self,
        license: &LicenseKey,
        id: &WebhookEndpointId,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE license_key = $1 AND id = $2"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("webhook_endpoint")?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Applies `change`; `None` if the license has no such endpoint.
    pub async fn update_webhook_endpoint(
        &self,
        license: &LicenseKey,
        id: &WebhookEndpointId,
        change: &EndpointChange,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let enabling = change.enabled == Some(true);
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE webhook_endpoints SET url = COALESCE($3, url), description = COALESCE($4, description),
                 events = COALESCE($5, events), enabled = COALESCE($6, enabled), updated_at = $7,
                 failure_streak = CASE WHEN $8 = 1 THEN 0 ELSE failure_streak END,
                 failing_since = CASE WHEN $8 = 1 THEN NULL ELSE failing_since END,
                 disabled_reason = CASE WHEN $8 = 1 THEN NULL ELSE disabled_reason END
             WHERE license_key = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(change.url.clone())
        .bind(change.description.clone())
        .bind(change.events.as_deref().map(events_json))
        .bind(change.enabled.map(i64::from))
        .bind(now_millis())
        .bind(i64::from(enabling))
        .fetch_optional(self.pool())
        .await
        .context("update_webhook_endpoint")?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Replaces the signing secret (in its stored form); the old one keeps signing too until
    /// `previous_until` (epoch ms).
    pub async fn rotate_webhook_secret(
        &self,
        license: &LicenseKey,
        id: &WebhookEndpointId,
        stored_secret: &str,
        previous_until: i64,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $3, secret = $4,
                 updated_at = $5
             WHERE license_key = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(previous_until)
        .bind(stored_secret.to_owned())
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await
        .context("rotate_webhook_secret")?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Deletes an endpoint with its deliveries and their attempts (the events stay for other endpoints).
    pub async fn delete_webhook_endpoint(&self, license: &LicenseKey, id: &WebhookEndpointId) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.context("delete_webhook_endpoint")?;
        let (license, id) = (license.as_str().to_owned(), id.as_str().to_owned());
        let gone = sqlx::query("DELETE FROM webhook_endpoints WHERE license_key = $1 AND id = $2")
            .bind(license.clone())
            .bind(id.clone())
            .execute(&mut *tx)
            .await
            .context("delete_webhook_endpoint")?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN
                 (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND license_key = $2)",
        )
        .bind(id.clone())
        .bind(license.clone())
        .execute(&mut *tx)
        .await
        .context("delete_webhook_endpoint")?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND license_key = $2")
            .bind(id)
            .bind(license)
            .execute(&mut *tx)
            .await
            .context("delete_webhook_endpoint")?;
        tx.commit().await.context("delete_webhook_endpoint")?;
        Ok(true)
    }

    /// Queues a `test` event for the endpoint; its event id, or `None` if the license has no such endpoint.
    pub async fn enqueue_test_event(
        &self,
        license: &LicenseKey,
        id: &WebhookEndpointId,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.pool().begin().await.context("enqueue_test_event")?;
        let exists = sqlx::query("SELECT 1 FROM webhook_endpoints WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await
            .context("enqueue_test_event")?;
        if exists.is_none() {
            return Ok(None);
        }
        let event = super::outbox::enqueue_test(&mut *tx, license, id, self.webhook_retry_ms).await?;
        tx.commit().await.context("enqueue_test_event")?;
        self.outbox_written.notify_one();
        Ok(Some(event))
    }
}
