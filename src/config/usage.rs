//! The daily API allowances per tier and the usage alert thresholds (see [`crate::usage`]).

use crate::usage::UsagePolicy;

/// Daily API allowances and alerts.
#[derive(Debug, Clone, clap::Args)]
pub struct UsageConfig {
    /// Authenticated API calls a free license may make per UTC day; 0 is unlimited.
    #[arg(
        long = "usage-limit-free",
        env = "USAGE_LIMIT_FREE",
        global = true,
        hide_env_values = true,
        default_value_t = 1_000
    )]
    pub usage_limit_free: u64,
    /// Authenticated API calls a basic license may make per UTC day; 0 is unlimited.
    #[arg(
        long = "usage-limit-basic",
        env = "USAGE_LIMIT_BASIC",
        global = true,
        hide_env_values = true,
        default_value_t = 10_000
    )]
    pub usage_limit_basic: u64,
    /// Authenticated API calls a pro license may make per UTC day; 0 is unlimited.
    #[arg(
        long = "usage-limit-pro",
        env = "USAGE_LIMIT_PRO",
        global = true,
        hide_env_values = true,
        default_value_t = 100_000
    )]
    pub usage_limit_pro: u64,
    /// Authenticated API calls an enterprise license may make per UTC day; 0 is unlimited.
    #[arg(
        long = "usage-limit-enterprise",
        env = "USAGE_LIMIT_ENTERPRISE",
        global = true,
        hide_env_values = true,
        default_value_t = 0
    )]
    pub usage_limit_enterprise: u64,
    /// Shares of the daily allowance, in percent, that `/api/usage/alerts` reports once reached.
    #[arg(
        long = "usage-alert-percents",
        env = "USAGE_ALERT_PERCENTS",
        global = true,
        hide_env_values = true,
        value_delimiter = ',',
        default_value = "80,100"
    )]
    pub usage_alert_percents: Vec<u32>,
    /// Seconds between flushes of the live usage counts to the store (the per-day history).
    #[arg(
        long = "usage-flush-seconds",
        env = "USAGE_FLUSH_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 30
    )]
    pub usage_flush_seconds: u64,
}

impl UsageConfig {
    /// The allowances and alert thresholds these settings describe.
    pub(crate) fn policy(&self) -> UsagePolicy {
        let limit = |calls: u64| (calls > 0).then(|| i64::try_from(calls).unwrap_or(i64::MAX));
        let mut alert_percents = self.usage_alert_percents.clone();
        alert_percents.sort_unstable();
        alert_percents.dedup();
        UsagePolicy {
            daily_calls: [
                limit(self.usage_limit_free),
                limit(self.usage_limit_basic),
                limit(self.usage_limit_pro),
                limit(self.usage_limit_enterprise),
            ],
            alert_percents,
        }
    }
}
