//! Data retention: how often each node deletes what a license's retention period has expired, and in
//! what batch size (see [`crate::retention`]).

/// Retention job settings.
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionConfig {
    /// Seconds between two retention sweeps on each node (a license's new setting also starts one at once).
    #[arg(
        long = "retention-sweep-seconds",
        env = "RETENTION_SWEEP_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 3600
    )]
    pub retention_sweep_seconds: u64,
    /// Rows one retention batch deletes in its own short transaction (chat writes go in between).
    #[arg(
        long = "retention-batch-rows",
        env = "RETENTION_BATCH_ROWS",
        global = true,
        hide_env_values = true,
        default_value_t = 500
    )]
    pub retention_batch_rows: u64,
}
