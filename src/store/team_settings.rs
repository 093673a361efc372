//! How a license's team works: how it takes new conversations, the open load of each member, and its
//! business hours.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{now_millis, AutoAssignment, BusinessHours, ConversationId, LicenseKey, UserId};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// A license's team settings.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct TeamSettings {
    /// How new conversations find an assignee.
    pub auto_assignment: AutoAssignment,
    /// An assignee offline this long marks their open conversations `waiting`.
    pub waiting_after_minutes: i64,
}

impl Default for TeamSettings {
    fn default() -> Self {
        Self { auto_assignment: AutoAssignment::Off, waiting_after_minutes: 10 }
    }
}

impl Store {
    /// The license's team settings (the defaults until changed).
    pub async fn team_settings(&self, license: &LicenseKey) -> StoreResult<TeamSettings> {
        let row =
            sqlx::query("SELECT auto_assignment, waiting_after_minutes FROM team_settings WHERE license_key = $1")
                .bind(license.as_str().to_owned())
                .fetch_optional(self.pool())
                .await
                .context("team_settings")?;
        match row {
            Some(row) => Ok(TeamSettings {
                auto_assignment: parse_column(&row, "auto_assignment")?,
                waiting_after_minutes: row.try_get("waiting_after_minutes")?,
            }),
            None => Ok(TeamSettings::default()),
        }
    }

    /// What the inbox's `waiting` flag needs, in one read: the team's `waiting_after_minutes` and when
    /// each of `members` (a page's assignees) was last seen (`None`: never, or not a member).
    pub async fn waiting_inputs(
        &self,
        license: &LicenseKey,
        members: &[&UserId],
    ) -> StoreResult<(i64, HashMap<UserId, Option<i64>>)> {
        let mut waiting_after = TeamSettings::default().waiting_after_minutes;
        if members.is_empty() {
            return Ok((waiting_after, HashMap::new()));
        }
        let placeholders: Vec<String> = (2..members.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT u.id, u.last_seen_at,
                    (SELECT t.waiting_after_minutes FROM team_settings t WHERE t.license_key = $1) AS waiting_after
             FROM users u WHERE u.license_key = $1 AND u.id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(license.as_str().to_owned());
        for member in members {
            query = query.bind(member.as_str().to_owned());
        }
        let rows = query.fetch_all(self.pool()).await.context("waiting_inputs")?;
        let mut last_seen = HashMap::with_capacity(rows.len());
        for row in &rows {
            if let Some(minutes) = row.try_get::<Option<i64>, _>("waiting_after")? {
                waiting_after = minutes;
            }
            last_seen.insert(parse_column(row, "id")?, row.try_get("last_seen_at")?);
        }
        Ok((waiting_after, last_seen))
    }

    /// Replaces the license's team settings.
    pub async fn save_team_settings(&self, license: &LicenseKey, settings: &TeamSettings) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO team_settings (license_key, auto_assignment, waiting_after_minutes, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (license_key) DO UPDATE SET auto_assignment = $2, waiting_after_minutes = $3, updated_at = $4",
        )
        .bind(license.as_str().to_owned())
        .bind(settings.auto_assignment.as_str())
        .bind(settings.waiting_after_minutes)
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("save_team_settings")?;
        Ok(())
    }

    /// Open conversations per assignee.
    pub async fn open_load(&self, license: &LicenseKey) -> StoreResult<HashMap<UserId, i64>> {
        let rows = sqlx::query(
            "SELECT assignee_id, COUNT(*) AS n FROM conversations
             WHERE license_key = $1 AND status = 'open' AND assignee_id IS NOT NULL GROUP BY assignee_id",
        )
        .bind(license.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("open_load")?;
        rows.iter().map(|row| Ok((parse_column(row, "assignee_id")?, row.try_get("n")?))).collect()
    }
}

impl Store {
    /// The license's business hours (disabled until set).
    pub async fn business_hours(&self, license: &LicenseKey) -> StoreResult<BusinessHours> {
        let row = sqlx::query("SELECT config FROM business_hours WHERE license_key = $1")
            .bind(license.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("business_hours")?;
        match row {
            Some(row) => {
                let raw: String = row.try_get("config")?;
                serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("business hours: {e}")))
            }
            None => Ok(BusinessHours::default()),
        }
    }

    /// Replaces the license's business hours.
    pub async fn save_business_hours(&self, license: &LicenseKey, hours: &BusinessHours) -> StoreResult<()> {
        let config = serde_json::to_string(hours).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO business_hours (license_key, config, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (license_key) DO UPDATE SET config = $2, updated_at = $3",
        )
        .bind(license.as_str().to_owned())
        .bind(config)
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("save_business_hours")?;
        Ok(())
    }

    /// Claims today's out-of-hours auto-reply for a conversation: true for the first claim of `day`,
    /// on any node.
    pub async fn claim_auto_reply(&self, license: &LicenseKey, id: &ConversationId, day: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE conversations SET auto_replied_on = $3
             WHERE license_key = $1 AND id = $2 AND (auto_replied_on IS NULL OR auto_replied_on <> $3)",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(day.to_owned())
        .execute(self.pool())
        .await
        .context("claim_auto_reply")?;
        Ok(done.rows_affected() == 1)
    }
}
