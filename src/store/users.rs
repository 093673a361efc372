//! Dashboard users: each belongs to exactly one license.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, Email, LicenseKey, Role, UserId};
use sqlx::{any::AnyRow, Row};

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
}

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    let key: String = row.try_get("license_key")?;
    Ok(User {
        id: parse_column(row, "id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        license_key: LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        role: parse_column(row, "role")?,
    })
}

impl Store {
    /// Creates a user; [`StoreError::Duplicate`] if the address or the license's owner seat is taken.
    pub async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let row = sqlx::query(
            "INSERT INTO users (id, email, password_hash, license_key, role, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, email, password_hash, license_key, role",
        )
        .bind(UserId::generate().as_str().to_owned())
        .bind(new.email.as_str().to_owned())
        .bind(new.password_hash.clone())
        .bind(new.license_key.as_str().to_owned())
        .bind(new.role.as_str())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
        .context("create_user")?;
        user_from_row(&row)
    }

    /// The user who logs in with `email`.
    pub async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT id, email, password_hash, license_key, role FROM users WHERE email = $1")
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

    /// Whether `user` is a user of `license`.
    pub async fn is_member(&self, license: &LicenseKey, user: &UserId) -> StoreResult<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(user.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("is_member")?;
        Ok(found.is_some())
    }
}
