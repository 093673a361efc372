//! Dashboard users (team members): each belongs to exactly one license.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, Availability, ConversationId, Email, LicenseKey, Role, UserId, WebhookEvent};
use serde::Serialize;
use serde_json::json;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login address.
    pub email: Email,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// The tenant the user belongs to.
    pub license_key: LicenseKey,
    /// What the user may do.
    pub role: Role,
    /// Display name.
    pub name: Option<String>,
}

/// A stored user, password hash included (never serialized).
#[derive(Debug, Clone)]
pub struct User {
    /// Stable id (UUID), the `sub` claim.
    pub id: UserId,
    /// Login address.
    pub email: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// The user's tenant.
    pub license_key: LicenseKey,
    /// What the user may do.
    pub role: Role,
    /// When the member was deactivated; they cannot log in since.
    pub deactivated_at: Option<i64>,
}

/// A team member as the team API shows them (no secrets).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Member {
    /// User id.
    pub id: UserId,
    /// Login address.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// What they may do.
    pub role: Role,
    /// The status they chose (their live availability also needs a connected dashboard).
    pub availability: Availability,
    /// Most open conversations auto-assignment gives them; `None` is no cap.
    pub max_open: Option<i64>,
    /// When a dashboard socket of theirs last closed or they last logged in, epoch milliseconds.
    pub last_seen_at: Option<i64>,
    /// `active` or `deactivated`.
    pub status: &'static str,
    /// Joined, epoch milliseconds.
    pub created_at: i64,
}

const USER_COLUMNS: &str = "id, email, password_hash, license_key, role, deactivated_at";
const MEMBER_COLUMNS: &str = "id, email, name, role, availability, max_open, last_seen_at, deactivated_at, created_at";

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    let key: String = row.try_get("license_key")?;
    Ok(User {
        id: parse_column(row, "id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        license_key: LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        role: parse_column(row, "role")?,
        deactivated_at: row.try_get("deactivated_at")?,
    })
}

fn member_from_row(row: &AnyRow) -> StoreResult<Member> {
    let deactivated_at: Option<i64> = row.try_get("deactivated_at")?;
    Ok(Member {
        id: parse_column(row, "id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: parse_column(row, "role")?,
        availability: parse_column(row, "availability")?,
        max_open: row.try_get("max_open")?,
        last_seen_at: row.try_get("last_seen_at")?,
        status: if deactivated_at.is_some() { "deactivated" } else { "active" },
        created_at: row.try_get("created_at")?,
    })
}

/// What a member may change about themselves or an admin about them; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MemberChange {
    /// New role.
    pub role: Option<Role>,
    /// New display name.
    pub name: Option<String>,
    /// New chosen status.
    pub availability: Option<Availability>,
    /// New cap on open conversations (`Some(None)` removes it).
    pub max_open: Option<Option<i64>>,
}

impl Store {
    /// Creates a user; [`StoreError::Duplicate`] if the address or the license's owner seat is taken.
    pub async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        Self::insert_user(self.pool(), new).await
    }

    /// The insert behind [`Store::create_user`], on a pool or inside a transaction.
    pub(super) async fn insert_user<'e, E>(executor: E, new: &NewUser) -> StoreResult<User>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO users (id, email, password_hash, license_key, role, name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        )))
        .bind(UserId::generate().as_str().to_owned())
        .bind(new.email.as_str().to_owned())
        .bind(new.password_hash.clone())
        .bind(new.license_key.as_str().to_owned())
        .bind(new.role.as_str())
        .bind(new.name.clone())
        .bind(now_millis())
        .fetch_one(executor)
        .await
        .context("create_user")?;
        user_from_row(&row)
    }

    /// The user who logs in with `email`.
    pub async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")))
            .bind(email.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("user_by_email")?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Whether the license already has an owner.
    pub async fn license_has_owner(&self, key: &LicenseKey) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE license_key = $1 AND role = 'owner'")
            .bind(key.as_str().to_owned())
            .fetch_one(self.pool())
            .await
            .context("license_has_owner")?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Every member of the license, deactivated ones included, oldest first.
    pub async fn members(&self, license: &LicenseKey) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM users WHERE license_key = $1 ORDER BY created_at, id"
        )))
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("members")?;
        rows.iter().map(member_from_row).collect()
    }

    /// One member of the license; `None` for an unknown or foreign id.
    pub async fn member(&self, license: &LicenseKey, id: &UserId) -> StoreResult<Option<Member>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM users WHERE license_key = $1 AND id = $2"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("member")?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// Seats taken: active members plus pending, unexpired invitations.
    pub async fn seats_taken(&self, license: &LicenseKey) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users WHERE license_key = $1 AND deactivated_at IS NULL)
                  + (SELECT COUNT(*) FROM invitations WHERE license_key = $1 AND accepted_at IS NULL
                       AND revoked_at IS NULL AND expires_at > $2) AS n",
        )
        .bind(license.as_str().to_owned())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
        .context("seats_taken")?;
        Ok(row.try_get("n")?)
    }

    /// Applies `change` to an active member; `None` if the license has no such active member.
    pub async fn change_member(
        &self,
        license: &LicenseKey,
        id: &UserId,
        change: &MemberChange,
    ) -> StoreResult<Option<Member>> {
        let (set_max, max_open) = match change.max_open {
            Some(value) => (true, value),
            None => (false, None),
        };
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE users SET role = COALESCE($3, role), name = COALESCE($4, name),
                    availability = COALESCE($5, availability),
                    max_open = CASE WHEN $6 = 1 THEN $7 ELSE max_open END
             WHERE license_key = $1 AND id = $2 AND deactivated_at IS NULL RETURNING {MEMBER_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(change.role.map(Role::as_str))
        .bind(change.name.clone())
        .bind(change.availability.map(Availability::as_str))
        .bind(i64::from(set_max))
        .bind(max_open)
        .fetch_optional(self.pool())
        .await
        .context("change_member")?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// Deactivates a member, unassigns their conversations and revokes their sessions in one
    /// transaction. Answers the revoked sessions' `(jti, expires_at)` and the unassigned conversations,
    /// or `None` if the license has no such active member.
    pub async fn deactivate_member(
        &self,
        license: &LicenseKey,
        id: &UserId,
    ) -> StoreResult<Option<(Vec<(String, i64)>, Vec<ConversationId>)>> {
        let now = now_millis();
        let mut tx = self.pool().begin().await.context("deactivate_member")?;
        let done = sqlx::query(
            "UPDATE users SET deactivated_at = $3 WHERE license_key = $1 AND id = $2 AND deactivated_at IS NULL",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("deactivate_member")?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        // Their conversations go back to the queue rather than waiting on someone who left.
        let unassigned = sqlx::query(
            "UPDATE conversations SET assignee_id = NULL WHERE license_key = $1 AND assignee_id = $2 RETURNING id",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_all(&mut *tx)
        .await
        .context("deactivate_member")?
        .iter()
        .map(|row| parse_column(row, "id"))
        .collect::<StoreResult<Vec<ConversationId>>>()?;
        let unassigned_event =
            (WebhookEvent::ConversationAssigned, json!({ "assignee_id": null, "reason": "member_deactivated" }));
        let mut announced = false;
        for conversation in &unassigned {
            announced |= self.announce(&mut tx, license, conversation, std::slice::from_ref(&unassigned_event)).await?;
        }
        let revoked = revoke_user_sessions(&mut tx, license, id, now, "").await?;
        tx.commit().await.context("deactivate_member")?;
        if announced {
            self.outbox_committed();
        }
        Ok(Some((revoked, unassigned)))
    }

    /// Ends every live session of a member (a role change takes effect at their next login). Answers
    /// the revoked sessions' `(jti, expires_at)`.
    pub async fn revoke_member_sessions(&self, license: &LicenseKey, id: &UserId) -> StoreResult<Vec<(String, i64)>> {
        let mut tx = self.pool().begin().await.context("revoke_member_sessions")?;
        let revoked = revoke_user_sessions(&mut tx, license, id, now_millis(), "").await?;
        tx.commit().await.context("revoke_member_sessions")?;
        Ok(revoked)
    }

    /// Records that a member was just seen (login, last dashboard socket closing).
    pub async fn touch_member(&self, license: &LicenseKey, id: &UserId) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_seen_at = $3 WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .bind(now_millis())
            .execute(self.pool())
            .await
            .context("touch_member")?;
        Ok(())
    }
}

/// Revokes a member's live sessions, except the one with token id `keep` (`""` keeps none: no session
/// has an empty id). Answers the revoked sessions' `(jti, expires_at)`.
pub(super) async fn revoke_user_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    license: &LicenseKey,
    id: &UserId,
    now: i64,
    keep: &str,
) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "UPDATE sessions SET revoked_at = $3
         WHERE license_key = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3 AND jti <> $4
         RETURNING jti, expires_at",
    )
    .bind(license.as_str().to_owned())
    .bind(id.as_str().to_owned())
    .bind(now)
    .bind(keep.to_owned())
    .fetch_all(&mut **tx)
    .await
    .context("revoke_user_sessions")?;
    rows.iter().map(|row| Ok((row.try_get("jti")?, row.try_get("expires_at")?))).collect()
}
