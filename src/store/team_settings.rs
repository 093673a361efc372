//! How a license's team takes new conversations, and the open load of each member.

use super::{parse_column, Context, Store, StoreResult};
use crate::domain::{now_millis, AutoAssignment, LicenseKey, UserId};
use serde::Serialize;
use sqlx::Row;
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
