//! Licenses: one per tenant, created by the admin API or the CLI.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, LicenseKey, LicenseStatus, Product, Tier};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// What it takes to issue a license.
#[derive(Debug, Clone)]
pub struct NewLicense {
    /// Purchaser's address.
    pub email: String,
    /// Products bought.
    pub products: Vec<Product>,
    /// Plan.
    pub tier: Tier,
}

/// A tenant's license.
#[derive(Debug, Clone, Serialize)]
pub struct License {
    /// The tenant id.
    pub license_key: LicenseKey,
    /// Purchaser's address.
    pub email: String,
    /// Products bought.
    pub products: Vec<Product>,
    /// Plan.
    pub tier: Tier,
    /// Active or suspended.
    pub status: LicenseStatus,
    /// Issue time, epoch milliseconds.
    pub created_at: i64,
}

impl License {
    /// Whether the license bought `product`.
    pub fn owns(&self, product: Product) -> bool {
        self.products.contains(&product)
    }
}

fn license_from_row(row: &AnyRow) -> StoreResult<License> {
    let key: String = row.try_get("license_key")?;
    let products: String = row.try_get("products")?;
    Ok(License {
        license_key: LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        email: row.try_get("email")?,
        products: products
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().map_err(|e: crate::domain::ParseError| StoreError::Corrupt(e.0)))
            .collect::<StoreResult<_>>()?,
        tier: parse_column(row, "tier")?,
        status: parse_column(row, "status")?,
        created_at: row.try_get("created_at")?,
    })
}

const LICENSE_COLUMNS: &str = "license_key, email, products, tier, status, created_at";

impl Store {
    /// Issues a license with a fresh key.
    pub async fn create_license(&self, new: &NewLicense) -> StoreResult<License> {
        let products: Vec<&str> = new.products.iter().map(|p| p.as_str()).collect();
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO licenses (license_key, email, products, tier, status, created_at)
             VALUES ($1, $2, $3, $4, 'active', $5) RETURNING {LICENSE_COLUMNS}"
        )))
        .bind(LicenseKey::generate().as_str().to_owned())
        .bind(new.email.clone())
        .bind(products.join(","))
        .bind(new.tier.as_str())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
        .context("create_license")?;
        license_from_row(&row)
    }

    /// The license with `key`, if any.
    pub async fn license(&self, key: &LicenseKey) -> StoreResult<Option<License>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE license_key = $1")))
            .bind(key.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("license")?;
        row.as_ref().map(license_from_row).transpose()
    }

    /// Every license, newest first.
    pub async fn licenses(&self) -> StoreResult<Vec<License>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {LICENSE_COLUMNS} FROM licenses ORDER BY created_at DESC, license_key"
        )))
        .fetch_all(self.pool())
        .await
        .context("licenses")?;
        rows.iter().map(license_from_row).collect()
    }

    /// Sets a license's status; `None` when there is no such license.
    pub async fn set_license_status(&self, key: &LicenseKey, status: LicenseStatus) -> StoreResult<Option<License>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE licenses SET status = $1 WHERE license_key = $2 RETURNING {LICENSE_COLUMNS}"
        )))
        .bind(status.as_str())
        .bind(key.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("set_license_status")?;
        // Keys are cached with their license's status; a status change is rare enough to clear them all.
        self.product_keys.invalidate_all();
        row.as_ref().map(license_from_row).transpose()
    }
}
