//! Dashboard sessions: one row per issued token (`jti`), so logout can revoke it before it expires.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::UserId;
use crate::domain::{now_millis, LicenseKey};
use sqlx::{any::AnyRow, Row};

/// A stored session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Token id (the `jti` claim).
    pub jti: String,
    /// The user it was issued to.
    pub user_id: UserId,
    /// The user's tenant.
    pub license_key: LicenseKey,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl Session {
    /// Whether a request carrying this session may proceed now.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

fn session_from_row(row: &AnyRow) -> StoreResult<Session> {
    let key: String = row.try_get("license_key")?;
    Ok(Session {
        jti: row.try_get("jti")?,
        user_id: parse_column(row, "user_id")?,
        license_key: LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Records a freshly issued session.
    pub async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (jti, user_id, license_key, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.jti.clone())
        .bind(session.user_id.as_str().to_owned())
        .bind(session.license_key.as_str().to_owned())
        .bind(now_millis())
        .bind(session.expires_at)
        .execute(self.pool())
        .await
        .context("create_session")?;
        Ok(())
    }

    /// The session with token id `jti`, scoped to its license.
    pub async fn session(&self, license: &LicenseKey, jti: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(
            "SELECT jti, user_id, license_key, expires_at, revoked_at FROM sessions WHERE license_key = $1 AND jti = $2",
        )
        .bind(license.as_str().to_owned())
        .bind(jti.to_owned())
        .fetch_optional(self.pool())
        .await.context("session")?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Revokes one session; revoking twice is harmless.
    pub async fn revoke_session(&self, license: &LicenseKey, jti: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE license_key = $2 AND jti = $3 AND revoked_at IS NULL")
            .bind(now_millis())
            .bind(license.as_str().to_owned())
            .bind(jti.to_owned())
            .execute(self.pool())
            .await
            .context("revoke_session")?;
        Ok(())
    }

    /// Revokes every session of a license (on suspension).
    pub async fn revoke_license_sessions(&self, license: &LicenseKey) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE license_key = $2 AND revoked_at IS NULL")
            .bind(now_millis())
            .bind(license.as_str().to_owned())
            .execute(self.pool())
            .await
            .context("revoke_license_sessions")?;
        Ok(())
    }
}
