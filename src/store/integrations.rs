//! Channel integrations: which license a Messenger page or WhatsApp number belongs to.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{new_id, now_millis, Channel, IntegrationStatus, LicenseKey};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// A connected page or number.
#[derive(Debug, Clone, Serialize)]
pub struct Integration {
    /// Server id.
    pub id: String,
    /// The owning tenant.
    pub license_key: LicenseKey,
    /// `messenger` or `whatsapp`.
    pub provider: Channel,
    /// Page id or E.164 number.
    pub account_id: String,
    /// Whether it is in use.
    pub status: IntegrationStatus,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Whether the page has its own (sealed) access token; the token itself never leaves the store.
    pub has_access_token: bool,
}

fn integration_from_row(row: &AnyRow) -> StoreResult<Integration> {
    let key: String = row.try_get("license_key")?;
    Ok(Integration {
        id: row.try_get("id")?,
        license_key: LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        provider: parse_column(row, "provider")?,
        account_id: row.try_get("account_id")?,
        status: parse_column(row, "status")?,
        created_at: row.try_get("created_at")?,
        has_access_token: row.try_get::<Option<String>, _>("access_token_sealed")?.is_some(),
    })
}

const INTEGRATION_COLUMNS: &str = "id, license_key, provider, account_id, status, created_at, access_token_sealed";

impl Store {
    /// The sealed access token of a connected page or number, if it has one.
    pub async fn sealed_access_token(&self, provider: Channel, account_id: &str) -> StoreResult<Option<String>> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT access_token_sealed FROM integrations WHERE provider = $1 AND account_id = $2")
                .bind(provider.as_str())
                .bind(account_id.to_owned())
                .fetch_optional(self.pool())
                .await
                .context("sealed_access_token")?;
        Ok(sealed.flatten())
    }

    /// Connects a page or number; [`StoreError::Duplicate`] if any license already claimed it.
    pub async fn create_integration(
        &self,
        license: &LicenseKey,
        provider: Channel,
        account_id: &str,
        sealed_token: Option<String>,
    ) -> StoreResult<Integration> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO integrations (id, license_key, provider, account_id, status, created_at, access_token_sealed)
             VALUES ($1, $2, $3, $4, 'connected', $5, $6) RETURNING {INTEGRATION_COLUMNS}"
        )))
        .bind(new_id())
        .bind(license.as_str().to_owned())
        .bind(provider.as_str())
        .bind(account_id.to_owned())
        .bind(now_millis())
        .bind(sealed_token)
        .fetch_one(self.pool())
        .await
        .context("create_integration")?;
        integration_from_row(&row)
    }

    /// The license's integrations, oldest first.
    pub async fn integrations(&self, license: &LicenseKey) -> StoreResult<Vec<Integration>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE license_key = $1 ORDER BY created_at, id"
        )))
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("integrations")?;
        rows.iter().map(integration_from_row).collect()
    }

    /// Who owns a page or number: how an inbound webhook finds its tenant.
    pub async fn integration_by_account(
        &self,
        provider: Channel,
        account_id: &str,
    ) -> StoreResult<Option<Integration>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE provider = $1 AND account_id = $2"
        )))
        .bind(provider.as_str())
        .bind(account_id.to_owned())
        .fetch_optional(self.pool())
        .await
        .context("integration_by_account")?;
        row.as_ref().map(integration_from_row).transpose()
    }

    /// Disconnects one of the license's integrations; `false` if it has no such integration.
    pub async fn delete_integration(&self, license: &LicenseKey, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM integrations WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.to_owned())
            .execute(self.pool())
            .await
            .context("delete_integration")?;
        Ok(done.rows_affected() > 0)
    }
}
