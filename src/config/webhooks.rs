//! Outgoing tenant webhooks: where they may go, how they are sent and retried, when a failing endpoint is
//! turned off (see [`crate::webhooks`]).

use clap::ArgAction;

/// Outgoing webhook settings.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookConfig {
    /// Accept only https endpoint URLs resolving to public addresses (checked again at send); unset: on when PUBLIC_URL is https.
    #[arg(long = "webhook-strict-urls", env = "WEBHOOK_STRICT_URLS", global = true, hide_env_values = true, action = ArgAction::Set)]
    pub webhook_strict_urls: Option<bool>,
    /// Milliseconds a receiver has to answer one webhook request.
    #[arg(
        long = "webhook-timeout-ms",
        env = "WEBHOOK_TIMEOUT_MS",
        global = true,
        hide_env_values = true,
        default_value_t = 10_000
    )]
    pub webhook_timeout_ms: u64,
    /// Delay before the first retry; doubles each time (±25 % jitter, at most an hour).
    #[arg(
        long = "webhook-retry-base-ms",
        env = "WEBHOOK_RETRY_BASE_MS",
        global = true,
        hide_env_values = true,
        default_value_t = 30_000
    )]
    pub webhook_retry_base_ms: u64,
    /// Hours a delivery is retried after its event before it is given up on.
    #[arg(
        long = "webhook-retry-hours",
        env = "WEBHOOK_RETRY_HOURS",
        global = true,
        hide_env_values = true,
        default_value_t = 24
    )]
    pub webhook_retry_hours: u64,
    /// Failed attempts in a row after which an endpoint is disabled (and its admins notified).
    #[arg(
        long = "webhook-disable-after-failures",
        env = "WEBHOOK_DISABLE_AFTER_FAILURES",
        global = true,
        hide_env_values = true,
        default_value_t = 20
    )]
    pub webhook_disable_after_failures: u32,
    /// ...and the first of those failures at least this many seconds ago.
    #[arg(
        long = "webhook-disable-after-seconds",
        env = "WEBHOOK_DISABLE_AFTER_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 3 * 24 * 3600
    )]
    pub webhook_disable_after_seconds: u64,
    /// Hours a rotated-out secret keeps signing (a second `v1=`), so receivers can switch without a gap.
    #[arg(
        long = "webhook-secret-overlap-hours",
        env = "WEBHOOK_SECRET_OVERLAP_HOURS",
        global = true,
        hide_env_values = true,
        default_value_t = 24
    )]
    pub webhook_secret_overlap_hours: u64,
    /// Webhook requests one node has in flight at most.
    #[arg(
        long = "webhook-concurrency",
        env = "WEBHOOK_CONCURRENCY",
        global = true,
        hide_env_values = true,
        default_value_t = 32
    )]
    pub webhook_concurrency: usize,
    /// Milliseconds between a node's scans for due deliveries (it also wakes at once after its own commits).
    #[arg(
        long = "webhook-poll-ms",
        env = "WEBHOOK_POLL_MS",
        global = true,
        hide_env_values = true,
        default_value_t = 1_000
    )]
    pub webhook_poll_ms: u64,
}

impl WebhookConfig {
    /// Whether strict URLs apply: as set, else on when the public URL is https.
    pub fn strict_urls(&self, public_url: Option<&str>) -> bool {
        self.webhook_strict_urls.unwrap_or_else(|| public_url.is_some_and(|url| url.starts_with("https://")))
    }
}
