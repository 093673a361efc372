//! Invitations to join a license's team: single use, expiring, revocable; only the token's hash is stored.

use super::{parse_column, Context, NewUser, Store, StoreError, StoreResult, User};
use crate::domain::{new_id, now_millis, LicenseKey, Role, Tier, UserId};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// A pending invitation as the team API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    /// Id, for revoking.
    pub id: String,
    /// Who is invited.
    pub email: String,
    /// The role they get on accepting.
    pub role: Role,
    /// Who invited them.
    pub invited_by: UserId,
    /// When, epoch milliseconds.
    pub created_at: i64,
    /// After this the token is refused, epoch milliseconds.
    pub expires_at: i64,
}

/// Why an invitation could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Unknown, used, revoked or expired token.
    #[error("the invitation is unknown, expired, revoked or already used")]
    Invalid,
    /// The license has as many active members as its tier allows.
    #[error("the team is full")]
    TeamFull,
    /// The store failed (a taken e-mail address is [`StoreError::Duplicate`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

const COLUMNS: &str = "id, email, role, invited_by, created_at, expires_at";

fn invitation_from_row(row: &AnyRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: parse_column(row, "role")?,
        invited_by: parse_column(row, "invited_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Records an invitation; an earlier pending one for the same address in the license is revoked,
    /// so only the newest link works.
    pub async fn create_invitation(
        &self,
        license: &LicenseKey,
        email: &str,
        role: Role,
        invited_by: &UserId,
        token_hash: &str,
        expires_at: i64,
    ) -> StoreResult<Invitation> {
        let now = now_millis();
        let mut tx = self.pool().begin().await.context("create_invitation")?;
        sqlx::query(
            "UPDATE invitations SET revoked_at = $3
             WHERE license_key = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(license.as_str().to_owned())
        .bind(email.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("create_invitation")?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO invitations (id, license_key, email, role, token_hash, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        )))
        .bind(new_id())
        .bind(license.as_str().to_owned())
        .bind(email.to_owned())
        .bind(role.as_str())
        .bind(token_hash.to_owned())
        .bind(invited_by.as_str().to_owned())
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await
        .context("create_invitation")?;
        tx.commit().await.context("create_invitation")?;
        invitation_from_row(&row)
    }

    /// Pending (not accepted, not revoked, not expired) invitations, newest first.
    pub async fn pending_invitations(&self, license: &LicenseKey) -> StoreResult<Vec<Invitation>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM invitations WHERE license_key = $1 AND accepted_at IS NULL
               AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id"
        )))
        .bind(license.as_str().to_owned())
        .bind(now_millis())
        .fetch_all(self.pool())
        .await
        .context("pending_invitations")?;
        rows.iter().map(invitation_from_row).collect()
    }

    /// Revokes a pending invitation; `None` if the license has no such pending invitation.
    pub async fn revoke_invitation(&self, license: &LicenseKey, id: &str) -> StoreResult<Option<Invitation>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE invitations SET revoked_at = $3
             WHERE license_key = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING {COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.to_owned())
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await
        .context("revoke_invitation")?;
        row.as_ref().map(invitation_from_row).transpose()
    }

    /// Uses an invitation: marks it accepted and creates its member in one transaction, so a token works
    /// once and a failure (full team, taken address) leaves it usable.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: String,
        name: Option<String>,
    ) -> Result<User, AcceptError> {
        let now = now_millis();
        let mut tx = self.pool().begin().await.context("accept_invitation")?;
        let row = sqlx::query(
            "UPDATE invitations SET accepted_at = $2
             WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2
             RETURNING license_key, email, role",
        )
        .bind(token_hash.to_owned())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .context("accept_invitation")?
        .ok_or(AcceptError::Invalid)?;
        let license = LicenseKey::parse(&row.try_get::<String, _>("license_key").map_err(StoreError::from)?)
            .map_err(|e| StoreError::Corrupt(e.0))?;
        let tier: Tier = {
            let row = sqlx::query("SELECT tier FROM licenses WHERE license_key = $1")
                .bind(license.as_str().to_owned())
                .fetch_one(&mut *tx)
                .await
                .context("accept_invitation")?;
            parse_column(&row, "tier")?
        };
        let active: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE license_key = $1 AND deactivated_at IS NULL")
                .bind(license.as_str().to_owned())
                .fetch_one(&mut *tx)
                .await
                .context("accept_invitation")?
                .try_get("n")
                .map_err(StoreError::from)?;
        if active >= tier.member_limit() {
            return Err(AcceptError::TeamFull);
        }
        let email: String = row.try_get("email").map_err(StoreError::from)?;
        let new = NewUser {
            email: crate::domain::Email::parse(&email).map_err(|e| StoreError::Corrupt(e.0))?,
            password_hash,
            license_key: license,
            role: parse_column(&row, "role")?,
            name,
        };
        let user = Self::insert_user(&mut *tx, &new).await?;
        tx.commit().await.context("accept_invitation")?;
        Ok(user)
    }

    /// The license a usable (pending, unexpired) invitation is for: its password rule applies on accept.
    pub async fn invitation_license(&self, token_hash: &str) -> StoreResult<Option<LicenseKey>> {
        let row = sqlx::query(
            "SELECT license_key FROM invitations
             WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash.to_owned())
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await
        .context("invitation_license")?;
        let Some(row) = row else { return Ok(None) };
        let key: String = row.try_get("license_key")?;
        LicenseKey::parse(&key).map(Some).map_err(|e| StoreError::Corrupt(e.0))
    }
}
