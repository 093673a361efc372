//! Daily API usage per license, written by the usage meter's periodic flush (the live count is in memory
//! or Redis; this is its history).

use super::{parse_column, Context, Store, StoreResult};
use crate::domain::{now_millis, LicenseKey, Tier};
use serde::Serialize;
use sqlx::Row;

/// One license's calls on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyUsage {
    /// The day, `yyyy-mm-dd` (UTC).
    pub date: String,
    /// Authenticated API calls counted that day.
    pub calls: i64,
}

impl Store {
    /// Records the day's count, unless a larger one is stored already: counts only grow within a day,
    /// so whichever node flushes last (or first) can never lower it.
    pub async fn save_daily_usage(&self, license: &LicenseKey, date: &str, calls: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO usage_daily (license_key, day, calls, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (license_key, day) DO UPDATE SET calls = excluded.calls, updated_at = excluded.updated_at
             WHERE usage_daily.calls < excluded.calls",
        )
        .bind(license.as_str().to_owned())
        .bind(date.to_owned())
        .bind(calls)
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("save_daily_usage")?;
        Ok(())
    }

    /// The stored count of one day (0 when none was flushed).
    pub async fn daily_usage(&self, license: &LicenseKey, date: &str) -> StoreResult<i64> {
        let calls: Option<i64> =
            sqlx::query_scalar("SELECT calls FROM usage_daily WHERE license_key = $1 AND day = $2")
                .bind(license.as_str().to_owned())
                .bind(date.to_owned())
                .fetch_optional(self.pool())
                .await
                .context("daily_usage")?;
        Ok(calls.unwrap_or(0))
    }

    /// Stored days from `from` to `to` (inclusive, `yyyy-mm-dd` sorts as text), newest first.
    pub async fn usage_history(&self, license: &LicenseKey, from: &str, to: &str) -> StoreResult<Vec<DailyUsage>> {
        let rows = sqlx::query(
            "SELECT day, calls FROM usage_daily WHERE license_key = $1 AND day >= $2 AND day <= $3 ORDER BY day DESC",
        )
        .bind(license.as_str().to_owned())
        .bind(from.to_owned())
        .bind(to.to_owned())
        .fetch_all(self.pool())
        .await
        .context("usage_history")?;
        rows.iter().map(|row| Ok(DailyUsage { date: row.try_get("day")?, calls: row.try_get("calls")? })).collect()
    }

    /// A license's tier, or `None` when there is no such license.
    pub async fn license_tier(&self, license: &LicenseKey) -> StoreResult<Option<Tier>> {
        let row = sqlx::query("SELECT tier FROM licenses WHERE license_key = $1")
            .bind(license.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("license_tier")?;
        row.as_ref().map(|row| parse_column(row, "tier")).transpose()
    }
}
