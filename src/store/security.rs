//! Account security: each license's policy, members' TOTP secrets (stored sealed by the caller), their
//! recovery codes (hashed by the caller) and password changes.

use super::users::revoke_user_sessions;
use super::{Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, IpAllowlist, LicenseKey, PasswordRule, SecurityPolicy, SessionTimeout, UserId};
use sqlx::{any::AnyRow, Row};

/// A member's second factor as stored: secrets still sealed.
#[derive(Debug, Clone, Default)]
pub struct TwoFactorRecord {
    /// The active TOTP secret, sealed; `None` without two-factor.
    pub secret: Option<String>,
    /// A secret set up and awaiting its first code, sealed.
    pub pending: Option<String>,
}

fn policy_from_row(row: &AnyRow) -> StoreResult<SecurityPolicy> {
    let corrupt = |e: crate::domain::ParseError| StoreError::Corrupt(e.0);
    let timeout: Option<i64> = row.try_get("session_timeout_minutes")?;
    let allowlist: String = row.try_get("ip_allowlist")?;
    let entries: Vec<&str> = allowlist.split_whitespace().collect();
    Ok(SecurityPolicy {
        require_two_factor: row.try_get::<i64, _>("require_two_factor")? != 0,
        session_timeout: timeout.map(SessionTimeout::from_minutes).transpose().map_err(corrupt)?,
        password: PasswordRule::new(
            row.try_get("password_min_length")?,
            row.try_get::<i64, _>("password_require_mixed")? != 0,
        )
        .map_err(corrupt)?,
        ip_allowlist: IpAllowlist::parse(&entries).map_err(corrupt)?,
    })
}

impl Store {
    /// The license's policy; the defaults when it never set one.
    pub async fn security_policy(&self, license: &LicenseKey) -> StoreResult<SecurityPolicy> {
        let row = sqlx::query(
            "SELECT require_two_factor, session_timeout_minutes, password_min_length, password_require_mixed,
                    ip_allowlist FROM security_policies WHERE license_key = $1",
        )
        .bind(license.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("security_policy")?;
        Ok(row.as_ref().map(policy_from_row).transpose()?.unwrap_or_default())
    }

    /// Replaces the license's policy, recording who changed it.
    pub async fn put_security_policy(
        &self,
        license: &LicenseKey,
        policy: &SecurityPolicy,
        by: &UserId,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO security_policies (license_key, require_two_factor, session_timeout_minutes,
                    password_min_length, password_require_mixed, ip_allowlist, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (license_key) DO UPDATE SET require_two_factor = $2, session_timeout_minutes = $3,
                    password_min_length = $4, password_require_mixed = $5, ip_allowlist = $6,
                    updated_at = $7, updated_by = $8",
        )
        .bind(license.as_str().to_owned())
        .bind(i64::from(policy.require_two_factor))
        .bind(policy.session_timeout.map(|t| i64::from(t.minutes())))
        .bind(i64::from(policy.password.min_length))
        .bind(i64::from(policy.password.require_mixed))
        .bind(policy.ip_allowlist.entries().join(" "))
        .bind(now_millis())
        .bind(by.as_str().to_owned())
        .execute(self.pool())
        .await
        .context("put_security_policy")?;
        Ok(())
    }

    /// A member's stored second factor.
    pub async fn two_factor(&self, license: &LicenseKey, id: &UserId) -> StoreResult<TwoFactorRecord> {
        let row = sqlx::query("SELECT totp_secret, totp_pending FROM users WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("two_factor")?;
        let Some(row) = row else { return Ok(TwoFactorRecord::default()) };
        Ok(TwoFactorRecord { secret: row.try_get("totp_secret")?, pending: row.try_get("totp_pending")? })
    }

    /// Keeps a freshly set up (sealed) secret until a code confirms it; a newer setup replaces it.
    pub async fn set_pending_totp(&self, license: &LicenseKey, id: &UserId, sealed: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET totp_pending = $3 WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .bind(sealed.to_owned())
            .execute(self.pool())
            .await
            .context("set_pending_totp")?;
        Ok(())
    }

    /// Makes the pending secret `sealed` the active one, with the step its confirming code was for and
    /// the hashes of fresh recovery codes (older codes are dropped). `false` if another request changed
    /// the pending secret meanwhile.
    pub async fn enable_totp(
        &self,
        license: &LicenseKey,
        id: &UserId,
        sealed: &str,
        step: i64,
        recovery_hashes: &[String],
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.context("enable_totp")?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $4
             WHERE license_key = $1 AND id = $2 AND totp_pending = $3",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(sealed.to_owned())
        .bind(step)
        .execute(&mut *tx)
        .await
        .context("enable_totp")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id.as_str().to_owned())
            .execute(&mut *tx)
            .await
            .context("enable_totp")?;
        let now = now_millis();
        for hash in recovery_hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (license_key, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .bind(hash.clone())
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("enable_totp")?;
        }
        tx.commit().await.context("enable_totp")?;
        Ok(true)
    }

    /// Turns two-factor off: secrets and recovery codes are gone.
    pub async fn disable_totp(&self, license: &LicenseKey, id: &UserId) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.context("disable_totp")?;
        sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL
             WHERE license_key = $1 AND id = $2",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await
        .context("disable_totp")?;
        sqlx::query("DELETE FROM recovery_codes WHERE license_key = $1 AND user_id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .execute(&mut *tx)
            .await
            .context("disable_totp")?;
        tx.commit().await.context("disable_totp")?;
        Ok(())
    }

    /// Claims TOTP step `step` for a member: `false` if a code for this step or a later one was already
    /// accepted (a replay), on whichever node. The conditional update makes the claim atomic.
    pub async fn claim_totp_step(&self, license: &LicenseKey, id: &UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $3
             WHERE license_key = $1 AND id = $2 AND totp_secret IS NOT NULL
               AND (totp_last_step IS NULL OR totp_last_step < $3)",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(step)
        .execute(self.pool())
        .await
        .context("claim_totp_step")?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses up the recovery code with hash `hash`: `true` once, `false` after (or for a code never issued).
    pub async fn use_recovery_code(&self, license: &LicenseKey, id: &UserId, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $4
             WHERE license_key = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(hash.to_owned())
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("use_recovery_code")?;
        Ok(done.rows_affected() == 1)
    }

    /// Recovery codes the member has not used yet.
    pub async fn recovery_codes_left(&self, license: &LicenseKey, id: &UserId) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE license_key = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_one(self.pool())
        .await
        .context("recovery_codes_left")?;
        Ok(row.try_get("n")?)
    }

    /// Sets a member's password hash and revokes every other live session of theirs (`keep` is the one
    /// that asked). Answers the revoked sessions' `(jti, expires_at)`.
    pub async fn change_password(
        &self,
        license: &LicenseKey,
        id: &UserId,
        password_hash: String,
        keep: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        let mut tx = self.pool().begin().await.context("change_password")?;
        sqlx::query("UPDATE users SET password_hash = $3 WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .bind(password_hash)
            .execute(&mut *tx)
            .await
            .context("change_password")?;
        let revoked = revoke_user_sessions(&mut tx, license, id, now_millis(), keep).await?;
        tx.commit().await.context("change_password")?;
        Ok(revoked)
    }
}
