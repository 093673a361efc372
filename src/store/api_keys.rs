//! API keys: stored by the SHA-256 of their secret, looked up on every call that presents one (so a
//! revocation holds on every node at once, with no cache to go stale).

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, ApiKeyId, LicenseKey, LicenseStatus, Scopes, Tier};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// What it takes to create a key; the secret itself is not part of it.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The tenant it opens.
    pub license_key: LicenseKey,
    /// A name for people.
    pub name: String,
    /// The start of the secret, for lists.
    pub prefix: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// What it may do.
    pub scopes: Scopes,
}

/// A stored key, as lists show it (never its secret or hash).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRecord {
    /// Server id.
    pub id: ApiKeyId,
    /// The tenant it opens.
    #[serde(skip)]
    pub license_key: LicenseKey,
    /// A name for people.
    pub name: String,
    /// The start of the secret.
    pub prefix: String,
    /// What it may do.
    #[serde(serialize_with = "scope_names")]
    pub scopes: Scopes,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last time it authenticated a call (updated at most once a minute), epoch milliseconds.
    pub last_used_at: Option<i64>,
}

fn scope_names<S: serde::Serializer>(scopes: &Scopes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(scopes.iter().map(|s| s.as_str()))
}

/// A live key resolved from its secret, with what the request needs to know about its license.
#[derive(Debug, Clone)]
pub struct ResolvedApiKey {
    /// The key.
    pub key: ApiKeyRecord,
    /// Whether its license may be used.
    pub license_status: LicenseStatus,
    /// Its license's plan.
    pub tier: Tier,
}

const KEY_COLUMNS: &str = "id, license_key, name, prefix, scopes, created_at, last_used_at";
/// The same columns where `licenses` is joined in (both tables have `license_key`).
const JOINED_KEY_COLUMNS: &str = "k.id, k.license_key, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at";

fn key_from_row(row: &AnyRow) -> StoreResult<ApiKeyRecord> {
    let license: String = row.try_get("license_key")?;
    let scopes: String = row.try_get("scopes")?;
    let names: Vec<&str> = scopes.split(',').collect();
    Ok(ApiKeyRecord {
        id: parse_column(row, "id")?,
        license_key: LicenseKey::parse(&license).map_err(|e| StoreError::Corrupt(e.0))?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: Scopes::parse(&names).map_err(|e| StoreError::Corrupt(e.0))?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    /// Stores a new key.
    pub async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKeyRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO api_keys (id, license_key, name, prefix, secret_hash, scopes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
        )))
        .bind(ApiKeyId::generate().as_str().to_owned())
        .bind(new.license_key.as_str().to_owned())
        .bind(new.name.clone())
        .bind(new.prefix.clone())
        .bind(new.secret_hash.clone())
        .bind(new.scopes.to_stored())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
        .context("create_api_key")?;
        key_from_row(&row)
    }

    /// The license's live (unrevoked) keys, newest first.
    pub async fn api_keys(&self, license: &LicenseKey) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE license_key = $1 AND revoked_at IS NULL
             ORDER BY created_at DESC, id DESC"
        )))
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("api_keys")?;
        rows.iter().map(key_from_row).collect()
    }

    /// The live key whose secret hashes to `secret_hash`, with its license's status and tier.
    pub async fn api_key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ResolvedApiKey>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOINED_KEY_COLUMNS}, l.status AS license_status, l.tier AS tier
             FROM api_keys k JOIN licenses l ON l.license_key = k.license_key
             WHERE k.secret_hash = $1 AND k.revoked_at IS NULL"
        )))
        .bind(secret_hash.to_owned())
        .fetch_optional(self.pool())
        .await
        .context("api_key_by_hash")?;
        row.map(|row| {
            Ok(ResolvedApiKey {
                key: key_from_row(&row)?,
                license_status: parse_column(&row, "license_status")?,
                tier: parse_column(&row, "tier")?,
            })
        })
        .transpose()
    }

    /// Records that a key was used, unless that was recorded less than `min_gap_ms` ago: the condition
    /// makes concurrent calls (on any node) write at most once per gap.
    pub async fn touch_api_key(&self, id: &ApiKeyId, min_gap_ms: i64) -> StoreResult<()> {
        let now = now_millis();
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id.as_str().to_owned())
        .bind(now - min_gap_ms)
        .execute(self.pool())
        .await
        .context("touch_api_key")?;
        Ok(())
    }

    /// Revokes one of the license's live keys; `None` when it has no such live key.
    pub async fn revoke_api_key(&self, license: &LicenseKey, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE api_keys SET revoked_at = $1 WHERE license_key = $2 AND id = $3 AND revoked_at IS NULL
             RETURNING {KEY_COLUMNS}"
        )))
        .bind(now_millis())
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("revoke_api_key")?;
        row.as_ref().map(key_from_row).transpose()
    }
}
