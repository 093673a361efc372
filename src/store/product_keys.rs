//! Product keys: the public credential a tenant's widget or integration presents.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, LicenseKey, LicenseStatus, Product, ProductKey};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};
use std::sync::Arc;
use std::time::Duration;

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

/// A product key with its license's status, if the key exists.
pub type KeyAndStatus = Option<(ProductKeyRecord, LicenseStatus)>;

/// How long a looked-up key is answered from memory. This node's own revocations and license status
/// changes clear it at once; another node's (or the CLI's, behind the server's back) reach this node's
/// handshakes within this time. A socket opened meanwhile is still refused at its first message,
/// whose commit checks the license itself.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

/// Product keys recently looked up, with their license's status. A reconnect storm (every widget of a
/// site reopening its socket after a deploy) then asks the engine once a key rather than once a socket,
/// and its handshakes do not queue on the pool, each holding its connection's buffers meanwhile (at
/// 8,000 widgets connecting at once, that queue was most of the process's peak memory and left its heap
/// fragmented). It lives in the store so that the store's own writes clear it.
pub(super) type KeyCache = moka::future::Cache<ProductKey, (ProductKeyRecord, LicenseStatus)>;

/// An empty [`KeyCache`] of at most `capacity` keys.
pub(super) fn key_cache(capacity: u64) -> KeyCache {
    moka::future::Cache::builder().max_capacity(capacity).time_to_live(KEY_CACHE_TTL).build()
}

/// Why a key's read put nothing in the cache.
enum Miss {
    /// No such key: not cached, so a key issued a moment later is found at once.
    Unknown,
    /// The engine failed.
    Failed(StoreError),
}

const KEY_COLUMNS: &str = "product_key, license_key, product, status, created_at";

impl Store {
    /// Issues a fresh key; [`StoreError::Duplicate`] if the product already has an active key.
    pub async fn create_product_key(&self, license: &LicenseKey, product: Product) -> StoreResult<ProductKeyRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO product_keys (product_key, license_key, product, status, created_at)
             VALUES ($1, $2, $3, 'active', $4) RETURNING {KEY_COLUMNS}"
        )))
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
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM product_keys WHERE license_key = $1 ORDER BY status, created_at DESC"
        )))
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("product_keys")?;
        rows.iter().map(key_from_row).collect()
    }

    /// Looks a key up by its text, whatever its tenant, with its license's status: how a widget finds its
    /// license and whether it may chat. Answered from [`KeyCache`] when it was asked within
    /// [`KEY_CACHE_TTL`]; concurrent misses of one key make one read.
    pub async fn product_key_and_license_status(&self, key: &ProductKey) -> StoreResult<KeyAndStatus> {
        let read = async { self.read_product_key(key).await.map_err(Miss::Failed)?.ok_or(Miss::Unknown) };
        match self.product_keys.try_get_with_by_ref(key, read).await {
            Ok(found) => Ok(Some(found)),
            Err(miss) => match Arc::try_unwrap(miss) {
                Ok(Miss::Failed(err)) => Err(err),
                Ok(Miss::Unknown) => Ok(None),
                Err(shared) if matches!(*shared, Miss::Unknown) => Ok(None),
                // A failure shared by the lookups that waited on one read: each asks the store itself, so
                // each gets its own error, or the answer once the store is back.
                Err(_) => self.read_product_key(key).await,
            },
        }
    }

    /// The key and its license's status, read from the engine (one statement).
    async fn read_product_key(&self, key: &ProductKey) -> StoreResult<KeyAndStatus> {
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
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM product_keys WHERE license_key = $1 AND product = $2 AND status = 'active'"
        )))
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
        self.product_keys.invalidate(key).await;
        Ok(done.rows_affected() > 0)
    }
}
