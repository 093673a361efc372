//! Product keys: the public credential a tenant's widget or integration presents.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, LicenseKey, LicenseStatus, Product, ProductKey};
use serde::Serialize;
use sqlx::{any::AnyRow, Row};

/// A stored product key.
#[derive(Debug, Clone, Serialize)]
pub struct ProductKeyRecord {
    /// The key itself.
    pub product_key: ProductKey,
    /// The tenant it opens.
    pub license_key: LicenseKey,
    /// The product it opens.
    pub product: Product,
    /// `active` or `revoked`.
    pub status: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

impl ProductKeyRecord {
    /// Whether the key still opens its product.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

fn key_from_row(row: &AnyRow) -> StoreResult<ProductKeyRecord> {
    let key: String = row.try_get("product_key")?;
    let license: String = row.try_get("license_key")?;
    Ok(ProductKeyRecord {
        product_key: ProductKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        license_key: LicenseKey::parse(&license).map_err(|e| StoreError::Corrupt(e.0))?,
        product: parse_column(row, "product")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

const KEY_COLUMNS: &str = "product_key, license_key, product, status, created_at";

impl Store {
    /// Issues a fresh key; [`StoreError::Duplicate`] if the product already has an active key.
    pub async fn create_product_key(&self, license: &LicenseKey, product: Product) -> StoreResult<ProductKeyRecord> {
        let row = sqlx::query(&format!(
            "INSERT INTO product_keys (product_key, license_key, product, status, created_at)
             VALUES ($1, $2, $3, 'active', $4) RETURNING {KEY_COLUMNS}"
        ))
        .bind(ProductKey::generate(product).as_str().to_owned())
        .bind(license.as_str().to_owned())
        .bind(product.as_str())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
        .context("create_product_key")?;
        key_from_row(&row)
    }

    /// A license's keys, active first, newest first.
    pub async fn product_keys(&self, license: &LicenseKey) -> StoreResult<Vec<ProductKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM product_keys WHERE license_key = $1 ORDER BY status, created_at DESC"
        ))
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("product_keys")?;
        rows.iter().map(key_from_row).collect()
    }

    /// Looks a key up by its text, whatever its tenant, with its license's status in one read: how a widget
    /// finds its license and whether it may chat.
    pub async fn product_key_and_license_status(
        &self,
        key: &ProductKey,
    ) -> StoreResult<Option<(ProductKeyRecord, LicenseStatus)>> {
        let row = sqlx::query(
            "SELECT k.product_key, k.license_key, k.product, k.status, k.created_at, l.status AS license_status
             FROM product_keys k JOIN licenses l ON l.license_key = k.license_key WHERE k.product_key = $1",
        )
        .bind(key.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("product_key_and_license_status")?;
        row.map(|row| Ok((key_from_row(&row)?, parse_column(&row, "license_status")?))).transpose()
    }

    /// The license's active key for `product`, if any.
    pub async fn active_product_key(
        &self,
        license: &LicenseKey,
        product: Product,
    ) -> StoreResult<Option<ProductKeyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM product_keys WHERE license_key = $1 AND product = $2 AND status = 'active'"
        ))
        .bind(license.as_str().to_owned())
        .bind(product.as_str())
        .fetch_optional(self.pool())
        .await
        .context("active_product_key")?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Revokes one of the license's active keys; `false` when it has no such active key.
    pub async fn revoke_product_key(&self, license: &LicenseKey, key: &ProductKey) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE product_keys SET status = 'revoked', revoked_at = $1
             WHERE license_key = $2 AND product_key = $3 AND status = 'active'",
        )
        .bind(now_millis())
        .bind(license.as_str().to_owned())
        .bind(key.as_str().to_owned())
        .execute(self.pool())
        .await
        .context("revoke_product_key")?;
        Ok(done.rows_affected() > 0)
    }
}
