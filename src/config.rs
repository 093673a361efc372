//! Configuration from environment variables, each with a default that runs on one machine with no set-up.
//! The README's configuration table mirrors this file.

use crate::channels::messenger::MessengerConfig;
use crate::channels::twilio::TwilioConfig;
use std::env;

/// Every setting the server reads at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interface to bind (`HOST`).
    pub host: String,
    /// HTTP port (`PORT`); 0 picks a free one.
    pub port: u16,
    /// Socket.IO port (`SOCKETIO_PORT`); 0 picks a free one.
    pub socketio_port: u16,
    /// `sqlite://…` or `postgres://…` (`DATABASE_URL`, default `sqlite://switchboard.db`).
    pub database_url: String,
    /// Largest number of store connections (`DATABASE_MAX_CONNECTIONS`); 0 picks per engine.
    pub database_max_connections: u32,
    /// Redis for shared sessions and fan-out (`REDIS_URL`); `None` keeps everything in-process.
    pub redis_url: Option<String>,
    /// Prepended to every Redis key and channel (`REDIS_KEY_PREFIX`), so deployments can share one Redis.
    pub redis_key_prefix: String,
    /// HS256 secret for dashboard tokens (`JWT_SECRET`); `None` draws a random one per start.
    pub jwt_secret: Option<String>,
    /// Token lifetime in seconds (`JWT_TTL_SECONDS`).
    pub jwt_ttl_seconds: i64,
    /// Bearer token for `/api/admin/*` (`ADMIN_TOKEN`); `None` disables the admin API.
    pub admin_token: Option<String>,
    /// Mark the session cookie `Secure` (`COOKIE_SECURE`); on behind HTTPS.
    pub cookie_secure: bool,
    /// The URL browsers and providers reach this server at (`PUBLIC_URL`); `None` uses the request's host.
    pub public_url: Option<String>,
    /// Threads that run the actors (`ACTOR_THREADS`).
    pub actor_threads: usize,
    /// Seconds an actor with nothing to do lives on (`ACTOR_IDLE_SECONDS`).
    pub actor_idle_seconds: u64,
    /// Frames a visitor may send per second, sustained (`VISITOR_RATE_PER_SECOND`).
    pub visitor_rate_per_second: u32,
    /// Frames a visitor may send in a burst (`VISITOR_BURST`).
    pub visitor_burst: u32,
    /// Frames all visitors of one license may send per second (`LICENSE_RATE_PER_SECOND`).
    pub license_rate_per_second: u32,
    /// Widget frames one source address may send per second, whatever its visitor tokens
    /// (`SOURCE_RATE_PER_SECOND`).
    pub source_rate_per_second: u32,
    /// New conversations one source address may open per minute (`NEW_CONVERSATIONS_PER_SOURCE_PER_MINUTE`).
    pub new_conversations_per_source_per_minute: u32,
    /// Login and register attempts per source address per minute (`LOGIN_ATTEMPTS_PER_SOURCE_PER_MINUTE`).
    pub login_attempts_per_source_per_minute: u32,
    /// Login attempts per e-mail address per minute (`LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE`).
    pub login_attempts_per_email_per_minute: u32,
    /// Open widget sockets per visitor token on one node (`MAX_SOCKETS_PER_VISITOR`).
    pub max_sockets_per_visitor: usize,
    /// Open WebSocket and Socket.IO connections per source address on one node (`MAX_CONNECTIONS_PER_SOURCE`).
    pub max_connections_per_source: usize,
    /// Open connections per listener (`MAX_CONNECTIONS`); more are refused at accept.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (`HEADER_TIMEOUT_SECONDS`).
    pub header_timeout_seconds: u64,
    /// Largest widget frame or message in bytes (`WIDGET_MAX_FRAME_BYTES`); larger ones close with 1009.
    pub widget_max_frame_bytes: usize,
    /// Largest provider webhook body in bytes (`WEBHOOK_MAX_BODY_BYTES`); providers batch events.
    pub webhook_max_body_bytes: usize,
    /// Use the last `X-Forwarded-For` hop as the client address (`TRUST_X_FORWARDED_FOR`); only behind
    /// a proxy that sets it.
    pub trust_x_forwarded_for: bool,
    /// Seconds sockets and in-flight work get to finish at SIGTERM/SIGINT (`SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace_seconds: u64,
    /// This node's name on the bus (`NODE_ID`); random when unset.
    pub node_id: String,
    /// `MESSENGER_APP_SECRET`: verifies Messenger webhooks.
    pub messenger_app_secret: Option<String>,
    /// `MESSENGER_VERIFY_TOKEN`: the subscription handshake's token.
    pub messenger_verify_token: Option<String>,
    /// `MESSENGER_PAGE_ACCESS_TOKEN`: authorises replies through the Send API.
    pub messenger_page_access_token: Option<String>,
    /// `MESSENGER_API_BASE`: Graph API origin (tests point it at a local fake).
    pub messenger_api_base: String,
    /// `TWILIO_ACCOUNT_SID`.
    pub twilio_account_sid: Option<String>,
    /// `TWILIO_AUTH_TOKEN`: verifies webhooks and authorises the Messages API.
    pub twilio_auth_token: Option<String>,
    /// `TWILIO_API_BASE`: Twilio API origin.
    pub twilio_api_base: String,
    /// Attempts per outbound message, the first included (`OUTBOUND_MAX_ATTEMPTS`).
    pub outbound_max_attempts: u32,
    /// Delay before the first retry in milliseconds; doubles each time (`OUTBOUND_BASE_DELAY_MS`).
    pub outbound_base_delay_ms: u64,
    /// Timeout of one provider request in milliseconds (`OUTBOUND_TIMEOUT_MS`).
    pub outbound_timeout_ms: u64,
    /// A delivery still pending after this many seconds is resumed by any node (`OUTBOUND_ORPHAN_SECONDS`).
    pub outbound_orphan_seconds: u64,
}

impl Config {
    /// Reads the environment; a malformed number is an error rather than a silent default.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            host: var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: parse_var("PORT", 8080)?,
            socketio_port: parse_var("SOCKETIO_PORT", 8081)?,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://switchboard.db".into()),
            database_max_connections: parse_var("DATABASE_MAX_CONNECTIONS", 0)?,
            redis_url: var("REDIS_URL"),
            redis_key_prefix: var("REDIS_KEY_PREFIX").unwrap_or_default(),
            jwt_secret: var("JWT_SECRET"),
            jwt_ttl_seconds: parse_var("JWT_TTL_SECONDS", 7 * 24 * 3600)?,
            admin_token: var("ADMIN_TOKEN"),
            cookie_secure: parse_var("COOKIE_SECURE", false)?,
            public_url: var("PUBLIC_URL"),
            actor_threads: parse_var("ACTOR_THREADS", default_threads())?,
            actor_idle_seconds: parse_var("ACTOR_IDLE_SECONDS", 300)?,
            visitor_rate_per_second: parse_var("VISITOR_RATE_PER_SECOND", 10)?,
            visitor_burst: parse_var("VISITOR_BURST", 30)?,
            license_rate_per_second: parse_var("LICENSE_RATE_PER_SECOND", 1000)?,
            source_rate_per_second: parse_var("SOURCE_RATE_PER_SECOND", 200)?,
            new_conversations_per_source_per_minute: parse_var("NEW_CONVERSATIONS_PER_SOURCE_PER_MINUTE", 30)?,
            login_attempts_per_source_per_minute: parse_var("LOGIN_ATTEMPTS_PER_SOURCE_PER_MINUTE", 60)?,
            login_attempts_per_email_per_minute: parse_var("LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE", 10)?,
            max_sockets_per_visitor: parse_var("MAX_SOCKETS_PER_VISITOR", 10)?,
            max_connections_per_source: parse_var("MAX_CONNECTIONS_PER_SOURCE", 1000)?,
            max_connections: parse_var("MAX_CONNECTIONS", 9_000)?,
            header_timeout_seconds: parse_var("HEADER_TIMEOUT_SECONDS", 10)?,
            widget_max_frame_bytes: parse_var("WIDGET_MAX_FRAME_BYTES", 16 * 1024)?,
            webhook_max_body_bytes: parse_var("WEBHOOK_MAX_BODY_BYTES", 256 * 1024)?,
            trust_x_forwarded_for: parse_var("TRUST_X_FORWARDED_FOR", false)?,
            shutdown_grace_seconds: parse_var("SHUTDOWN_GRACE_SECONDS", 10)?,
            node_id: var("NODE_ID")
                .unwrap_or_else(|| format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])),
            messenger_app_secret: var("MESSENGER_APP_SECRET"),
            messenger_verify_token: var("MESSENGER_VERIFY_TOKEN"),
            messenger_page_access_token: var("MESSENGER_PAGE_ACCESS_TOKEN"),
            messenger_api_base: var("MESSENGER_API_BASE").unwrap_or_else(|| "https://graph.facebook.com".into()),
            twilio_account_sid: var("TWILIO_ACCOUNT_SID"),
            twilio_auth_token: var("TWILIO_AUTH_TOKEN"),
            twilio_api_base: var("TWILIO_API_BASE").unwrap_or_else(|| "https://api.twilio.com".into()),
            outbound_max_attempts: parse_var("OUTBOUND_MAX_ATTEMPTS", 5)?,
            outbound_base_delay_ms: parse_var("OUTBOUND_BASE_DELAY_MS", 500)?,
            outbound_timeout_ms: parse_var("OUTBOUND_TIMEOUT_MS", 10_000)?,
            outbound_orphan_seconds: parse_var("OUTBOUND_ORPHAN_SECONDS", 600)?,
        })
    }

    /// Messenger settings, or `None` (channel disabled) unless the app secret and verify token are set.
    pub fn messenger(&self) -> Option<MessengerConfig> {
        Some(MessengerConfig {
            app_secret: self.messenger_app_secret.clone()?,
            verify_token: self.messenger_verify_token.clone()?,
            page_access_token: self.messenger_page_access_token.clone(),
            api_base: self.messenger_api_base.clone(),
        })
    }

    /// Twilio settings, or `None` (WhatsApp disabled) unless the account SID and auth token are set.
    pub fn twilio(&self) -> Option<TwilioConfig> {
        Some(TwilioConfig {
            account_sid: self.twilio_account_sid.clone()?,
            auth_token: self.twilio_auth_token.clone()?,
            api_base: self.twilio_api_base.clone(),
        })
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

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A set, non-empty variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| anyhow::anyhow!("{name}='{raw}' is not a valid value")),
    }
}
