//! Configuration from environment variables, each with a default that runs on one machine with no set-up.
//! The README's configuration table mirrors this file.

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
    /// Largest number of store connections (`DATABASE_MAX_CONNECTIONS`).
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
}

impl Config {
    /// Reads the environment; a malformed number is an error rather than a silent default.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            host: var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: parse_var("PORT", 8080)?,
            socketio_port: parse_var("SOCKETIO_PORT", 8081)?,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://switchboard.db".into()),
            database_max_connections: parse_var("DATABASE_MAX_CONNECTIONS", 10)?,
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
        })
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
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}='{raw}' is not a valid value")),
    }
}
