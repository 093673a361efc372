//! Per-license labels and canned answers: the team's shared vocabulary.

use super::{Context, Store, StoreResult};
use crate::domain::{new_id, now_millis, LicenseKey};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// A label conversations can carry.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    /// Unique within the license; what conversations and filters name.
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Created, epoch milliseconds.
    pub created_at: i64,
}

/// A saved reply a composer inserts by its short code.
#[derive(Debug, Clone, Serialize)]
pub struct CannedAnswer {
    /// Id.
    pub id: String,
    /// What the agent types after `/`; unique within the license.
    pub short_code: String,
    /// The text inserted.
    pub content: String,
    /// Created, epoch milliseconds.
    pub created_at: i64,
    /// Last changed, epoch milliseconds.
    pub updated_at: i64,
}

fn label_from_row(row: &AnyRow) -> StoreResult<Label> {
    Ok(Label { name: row.try_get("name")?, color: row.try_get("color")?, created_at: row.try_get("created_at")? })
}

fn canned_from_row(row: &AnyRow) -> StoreResult<CannedAnswer> {
    Ok(CannedAnswer {
        id: row.try_get("id")?,
        short_code: row.try_get("short_code")?,
        content: row.try_get("content")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const CANNED_COLUMNS: &str = "id, short_code, content, created_at, updated_at";

impl Store {
    /// Creates a label; [`super::StoreError::Duplicate`] if the name is taken.
    pub async fn create_label(&self, license: &LicenseKey, name: &str, color: &str) -> StoreResult<Label> {
        let row = sqlx::query(
            "INSERT INTO labels (license_key, name, color, created_at) VALUES ($1, $2, $3, $4)
             RETURNING name, color, created_at",
        )
        .bind(license.as_str().to_owned())
        .bind(name.to_owned())
        .bind(color.to_owned())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
        .context("create_label")?;
        label_from_row(&row)
    }

    /// The license's labels by name.
    pub async fn labels(&self, license: &LicenseKey) -> StoreResult<Vec<Label>> {
        let rows = sqlx::query("SELECT name, color, created_at FROM labels WHERE license_key = $1 ORDER BY name")
            .bind(license.as_str().to_owned())
            .fetch_all(self.pool())
            .await
            .context("labels")?;
        rows.iter().map(label_from_row).collect()
    }

    /// Whether the license has a label called `name`.
    pub async fn label_exists(&self, license: &LicenseKey, name: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM labels WHERE license_key = $1 AND name = $2")
            .bind(license.as_str().to_owned())
            .bind(name.to_owned())
            .fetch_one(self.pool())
            .await
            .context("label_exists")?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Deletes a label and takes it off every conversation, in one transaction; false if unknown.
    pub async fn delete_label(&self, license: &LicenseKey, name: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.context("delete_label")?;
        sqlx::query("DELETE FROM conversation_labels WHERE license_key = $1 AND label = $2")
            .bind(license.as_str().to_owned())
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await
            .context("delete_label")?;
        let done = sqlx::query("DELETE FROM labels WHERE license_key = $1 AND name = $2")
            .bind(license.as_str().to_owned())
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await
            .context("delete_label")?;
        tx.commit().await.context("delete_label")?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates a canned answer; [`super::StoreError::Duplicate`] if the short code is taken.
    pub async fn create_canned(
        &self,
        license: &LicenseKey,
        short_code: &str,
        content: &str,
    ) -> StoreResult<CannedAnswer> {
        let now = now_millis();
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO canned_answers (id, license_key, short_code, content, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {CANNED_COLUMNS}"
        )))
        .bind(new_id())
        .bind(license.as_str().to_owned())
        .bind(short_code.to_owned())
        .bind(content.to_owned())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .context("create_canned")?;
        canned_from_row(&row)
    }

    /// Canned answers whose short code starts with `prefix` (all for `""`), by short code.
    pub async fn canned_answers(
        &self,
        license: &LicenseKey,
        prefix: &str,
        limit: i64,
    ) -> StoreResult<Vec<CannedAnswer>> {
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CANNED_COLUMNS} FROM canned_answers
             WHERE license_key = $1 AND short_code LIKE $2 ESCAPE '\\'
             ORDER BY short_code LIMIT $3"
        )))
        .bind(license.as_str().to_owned())
        .bind(pattern)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("canned_answers")?;
        rows.iter().map(canned_from_row).collect()
    }

    /// Changes a canned answer; `None` if the license has no such answer.
    pub async fn update_canned(
        &self,
        license: &LicenseKey,
        id: &str,
        short_code: Option<&str>,
        content: Option<&str>,
    ) -> StoreResult<Option<CannedAnswer>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE canned_answers SET short_code = COALESCE($3, short_code), content = COALESCE($4, content),
                    updated_at = $5
             WHERE license_key = $1 AND id = $2 RETURNING {CANNED_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.to_owned())
        .bind(short_code.map(str::to_owned))
        .bind(content.map(str::to_owned))
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await
        .context("update_canned")?;
        row.as_ref().map(canned_from_row).transpose()
    }

    /// Deletes a canned answer; false if the license has no such answer.
    pub async fn delete_canned(&self, license: &LicenseKey, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM canned_answers WHERE license_key = $1 AND id = $2")
            .bind(license.as_str().to_owned())
            .bind(id.to_owned())
            .execute(self.pool())
            .await
            .context("delete_canned")?;
        Ok(done.rows_affected() > 0)
    }
}
