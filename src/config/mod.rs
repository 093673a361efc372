//! Configuration: every setting is a command-line flag and an environment variable (clap), each with
//! a default that runs on one machine with no set-up. `switchboard serve --help` lists them all; the
//! README's configuration table and `.env.example` mirror them (a test keeps `.env.example` in sync).
//! [`checks`] refuses impossible settings before anything starts.

mod burst;
mod channels;
mod checks;
mod log_format;
mod retention;
mod usage;
mod webhooks;

pub use burst::BurstConfig;
pub(crate) use checks::redact;
pub use checks::{InvalidSetting, MIN_JWT_SECRET_BYTES};
pub use log_format::LogFormat;
pub use retention::RetentionConfig;
pub use usage::UsageConfig;
pub use webhooks::WebhookConfig;

use clap::ArgAction;

/// Every setting the server reads at start.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Interface to bind.
    #[arg(long = "host", env = "HOST", global = true, hide_env_values = true, default_value = "0.0.0.0")]
    pub host: String,
    /// HTTP port; 0 picks a free one.
    #[arg(long = "port", env = "PORT", global = true, hide_env_values = true, default_value_t = 8080)]
    pub port: u16,
    /// Socket.IO port; 0 picks a free one.
    #[arg(
        long = "socketio-port",
        env = "SOCKETIO_PORT",
        global = true,
        hide_env_values = true,
        default_value_t = 8081
    )]
    pub socketio_port: u16,
    /// `sqlite://…` or `postgres://…`.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        default_value = "sqlite://switchboard.db"
    )]
    pub database_url: String,
    /// Largest number of store connections; 0 picks per engine (SQLite commits messages on one more).
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        global = true,
        hide_env_values = true,
        default_value_t = 0
    )]
    pub database_max_connections: u32,
    /// Redis for shared sessions and fan-out; `None` keeps everything in-process.
    #[arg(long = "redis-url", env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prepended to every Redis key and channel, so deployments can share one Redis.
    #[arg(
        long = "redis-key-prefix",
        env = "REDIS_KEY_PREFIX",
        global = true,
        hide_env_values = true,
        default_value = ""
    )]
    pub redis_key_prefix: String,
    /// HS256 secret for dashboard tokens; `None` draws a random one per start.
    #[arg(long = "jwt-secret", env = "JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long = "jwt-ttl-seconds", env = "JWT_TTL_SECONDS", global = true, hide_env_values = true, default_value_t = 7 * 24 * 3600)]
    pub jwt_ttl_seconds: i64,
    /// Bearer token for `/api/admin/*`; `None` disables the admin API.
    #[arg(long = "admin-token", env = "ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Mark the session cookie `Secure`; on behind HTTPS.
    #[arg(long = "cookie-secure", env = "COOKIE_SECURE", global = true, hide_env_values = true, default_value_t = false, action = ArgAction::Set)]
    pub cookie_secure: bool,
    /// The URL browsers and providers reach this server at; `None` uses the request's host.
    #[arg(long = "public-url", env = "PUBLIC_URL", global = true, hide_env_values = true)]
    pub public_url: Option<String>,
    /// Threads that run the actors and serve the Socket.IO connections (the message writer has its own: SQLite's writer thread, or one more arbiter on PostgreSQL).
    #[arg(long = "actor-threads", env = "ACTOR_THREADS", global = true, hide_env_values = true, default_value_t = default_threads())]
    pub actor_threads: usize,
    /// Seconds an actor with nothing to do lives on.
    #[arg(
        long = "actor-idle-seconds",
        env = "ACTOR_IDLE_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 300
    )]
    pub actor_idle_seconds: u64,
    /// Frames a visitor may send per second, sustained.
    #[arg(
        long = "visitor-rate-per-second",
        env = "VISITOR_RATE_PER_SECOND",
        global = true,
        hide_env_values = true,
        default_value_t = 10
    )]
    pub visitor_rate_per_second: u32,
    /// Frames a visitor may send in a burst.
    #[arg(long = "visitor-burst", env = "VISITOR_BURST", global = true, hide_env_values = true, default_value_t = 30)]
    pub visitor_burst: u32,
    /// Frames all visitors of one license may send per second.
    #[arg(
        long = "license-rate-per-second",
        env = "LICENSE_RATE_PER_SECOND",
        global = true,
        hide_env_values = true,
        default_value_t = 1000
    )]
    pub license_rate_per_second: u32,
    /// Widget frames one source address may send per second, whatever its visitor tokens.
    #[arg(
        long = "source-rate-per-second",
        env = "SOURCE_RATE_PER_SECOND",
        global = true,
        hide_env_values = true,
        default_value_t = 200
    )]
    pub source_rate_per_second: u32,
    /// New conversations one source address may open per minute.
    #[arg(
        long = "new-conversations-per-source-per-minute",
        env = "NEW_CONVERSATIONS_PER_SOURCE_PER_MINUTE",
        global = true,
        hide_env_values = true,
        default_value_t = 30
    )]
    pub new_conversations_per_source_per_minute: u32,
    /// Login and register attempts per source address per minute.
    #[arg(
        long = "login-attempts-per-source-per-minute",
        env = "LOGIN_ATTEMPTS_PER_SOURCE_PER_MINUTE",
        global = true,
        hide_env_values = true,
        default_value_t = 60
    )]
    pub login_attempts_per_source_per_minute: u32,
    /// Login attempts per e-mail address per minute.
    #[arg(
        long = "login-attempts-per-email-per-minute",
        env = "LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE",
        global = true,
        hide_env_values = true,
        default_value_t = 10
    )]
    pub login_attempts_per_email_per_minute: u32,
    /// Open widget sockets per visitor token on one node.
    #[arg(
        long = "max-sockets-per-visitor",
        env = "MAX_SOCKETS_PER_VISITOR",
        global = true,
        hide_env_values = true,
        default_value_t = 10
    )]
    pub max_sockets_per_visitor: usize,
    /// Open WebSocket and Socket.IO connections per source address on one node.
    #[arg(
        long = "max-connections-per-source",
        env = "MAX_CONNECTIONS_PER_SOURCE",
        global = true,
        hide_env_values = true,
        default_value_t = 1000
    )]
    pub max_connections_per_source: usize,
    /// Open connections per listener; more are refused at accept.
    #[arg(
        long = "max-connections",
        env = "MAX_CONNECTIONS",
        global = true,
        hide_env_values = true,
        default_value_t = 9_000
    )]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    #[arg(
        long = "header-timeout-seconds",
        env = "HEADER_TIMEOUT_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 10
    )]
    pub header_timeout_seconds: u64,
    /// Largest widget frame or message in bytes; larger ones close with 1009.
    #[arg(long = "widget-max-frame-bytes", env = "WIDGET_MAX_FRAME_BYTES", global = true, hide_env_values = true, default_value_t = 16 * 1024)]
    pub widget_max_frame_bytes: usize,
    /// Largest provider webhook body in bytes; providers batch events.
    #[arg(long = "webhook-max-body-bytes", env = "WEBHOOK_MAX_BODY_BYTES", global = true, hide_env_values = true, default_value_t = 256 * 1024)]
    pub webhook_max_body_bytes: usize,
    /// Use the last `X-Forwarded-For` hop as the client address; only behind a proxy that sets it.
    #[arg(long = "trust-x-forwarded-for", env = "TRUST_X_FORWARDED_FOR", global = true, hide_env_values = true, default_value_t = false, action = ArgAction::Set)]
    pub trust_x_forwarded_for: bool,
    /// Seconds sockets and in-flight work get to finish at SIGTERM/SIGINT.
    #[arg(
        long = "shutdown-grace-seconds",
        env = "SHUTDOWN_GRACE_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 10
    )]
    pub shutdown_grace_seconds: u64,
    /// Messenger app secret: verifies Messenger webhooks.
    #[arg(long = "messenger-app-secret", env = "MESSENGER_APP_SECRET", global = true, hide_env_values = true)]
    pub messenger_app_secret: Option<String>,
    /// Messenger verify token: the subscription handshake's token.
    #[arg(long = "messenger-verify-token", env = "MESSENGER_VERIFY_TOKEN", global = true, hide_env_values = true)]
    pub messenger_verify_token: Option<String>,
    /// Messenger page access token: authorises replies through the Send API.
    #[arg(
        long = "messenger-page-access-token",
        env = "MESSENGER_PAGE_ACCESS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub messenger_page_access_token: Option<String>,
    /// Key that seals tenants' page tokens at rest: 32 bytes, base64 (`head -c 32 /dev/urandom | base64`);
    /// unset, pages cannot bring their own token.
    #[arg(long = "secrets-key", env = "SECRETS_KEY", global = true, hide_env_values = true)]
    pub secrets_key: Option<String>,
    /// Graph API origin (tests point it at a local fake).
    #[arg(
        long = "messenger-api-base",
        env = "MESSENGER_API_BASE",
        global = true,
        hide_env_values = true,
        default_value = "https://graph.facebook.com"
    )]
    pub messenger_api_base: String,
    /// Twilio account SID: with the auth token, enables WhatsApp.
    #[arg(long = "twilio-account-sid", env = "TWILIO_ACCOUNT_SID", global = true, hide_env_values = true)]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token: verifies webhooks and authorises the Messages API.
    #[arg(long = "twilio-auth-token", env = "TWILIO_AUTH_TOKEN", global = true, hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Twilio API origin.
    #[arg(
        long = "twilio-api-base",
        env = "TWILIO_API_BASE",
        global = true,
        hide_env_values = true,
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,
    /// Attempts per outbound message, the first included.
    #[arg(
        long = "outbound-max-attempts",
        env = "OUTBOUND_MAX_ATTEMPTS",
        global = true,
        hide_env_values = true,
        default_value_t = 5
    )]
    pub outbound_max_attempts: u32,
    /// Delay before the first retry in milliseconds; doubles each time.
    #[arg(
        long = "outbound-base-delay-ms",
        env = "OUTBOUND_BASE_DELAY_MS",
        global = true,
        hide_env_values = true,
        default_value_t = 500
    )]
    pub outbound_base_delay_ms: u64,
    /// Timeout of one provider request in milliseconds.
    #[arg(
        long = "outbound-timeout-ms",
        env = "OUTBOUND_TIMEOUT_MS",
        global = true,
        hide_env_values = true,
        default_value_t = 10_000
    )]
    pub outbound_timeout_ms: u64,
    /// A delivery still pending after this many seconds is resumed by any node.
    #[arg(
        long = "outbound-orphan-seconds",
        env = "OUTBOUND_ORPHAN_SECONDS",
        global = true,
        hide_env_values = true,
        default_value_t = 600
    )]
    pub outbound_orphan_seconds: u64,
    /// Bearer token required by `GET /metrics`; unset leaves it open (bind it to a private network).
    #[arg(long = "metrics-token", env = "METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Log lines as `text` (for people) or `json` (one object per line, with span fields such as
    /// `request_id` and `license`, for log pipelines).
    #[arg(long = "log-format", env = "LOG_FORMAT", global = true, hide_env_values = true, default_value = "text")]
    pub log_format: LogFormat,
    /// This node's name on the bus and in logs; random when unset.
    #[arg(long = "node-id", env = "NODE_ID", global = true, hide_env_values = true)]
    pub node_id: Option<String>,
    /// Latest events kept per license for reconnecting dashboards (in-process, or per Redis stream).
    #[arg(
        long = "recovery-window-events",
        env = "RECOVERY_WINDOW_EVENTS",
        global = true,
        hide_env_values = true,
        default_value_t = 1_000
    )]
    pub recovery_window_events: usize,
    /// Daily API allowances per tier and usage alerts.
    #[command(flatten)]
    pub usage: UsageConfig,
    /// Outgoing tenant webhooks.
    #[command(flatten)]
    pub webhooks: WebhookConfig,
    /// Per-license data retention (the background job).
    #[command(flatten)]
    pub retention: RetentionConfig,
    /// Burst limits on the API, webhook ingestion and Socket.IO emits.
    #[command(flatten)]
    pub burst: BurstConfig,
}

impl Config {
    /// This node's name: `NODE_ID`, or a random one drawn once at start.
    pub fn node_name(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
    }

    /// Store connections: `DATABASE_MAX_CONNECTIONS`, or by default 1 for SQLite (it has one write lock;
    /// more connections only queue in its busy loop, measured slower) and 10 for PostgreSQL.
    pub fn store_connections(&self) -> u32 {
        match self.database_max_connections {
            0 if self.is_postgres() => 10,
            0 => 1,
            n => n,
        }
    }

    /// Whether the store is PostgreSQL (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://")
    }
}

/// Actor threads by default: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[cfg(test)]
mod tests;
