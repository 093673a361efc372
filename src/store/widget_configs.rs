//! Per-tenant widget configuration, stored as JSON.

use super::{Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, LicenseKey};

impl Store {
    /// The license's widget configuration, if it saved one.
    pub async fn widget_config(&self, license: &LicenseKey) -> StoreResult<Option<serde_json::Value>> {
        let raw: Option<String> = sqlx::query_scalar("SELECT config FROM widget_configs WHERE license_key = $1")
            .bind(license.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("widget_config")?;
        raw.map(|r| serde_json::from_str(&r).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
    }

    /// Saves (inserts or replaces) the license's widget configuration.
    pub async fn save_widget_config(&self, license: &LicenseKey, config: &serde_json::Value) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO widget_configs (license_key, config, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (license_key) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        )
        .bind(license.as_str().to_owned())
        .bind(config.to_string())
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("save_widget_config")?;
        Ok(())
    }
}
