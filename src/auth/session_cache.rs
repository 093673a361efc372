//! A cache in front of the sessions table, so validating a token costs no store round trip.
//!
//! Single node: a `DashMap` in this process. Several nodes: Redis under `license:<key>:session:<jti>`,
//! so a logout on one node is seen by every other node at once. There is deliberately no local layer
//! in front of Redis: it would serve a revoked session until it expired. When Redis fails, lookups
//! fall through to the store, which stays the source of truth.

use crate::domain::{now_millis, LicenseKey};
use crate::store::Session;
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;

const LIVE: &str = "live";
const REVOKED: &str = "revoked";

/// Where cached session states live.
#[derive(Clone)]
pub enum SessionCache {
    /// In-process: key → (live, expires_at millis).
    Local(Arc<DashMap<String, (bool, i64)>>),
    /// Shared through Redis; `prefix` keeps deployments (and tests) apart.
    Redis {
        /// Reconnecting connection.
        conn: ConnectionManager,
        /// Prepended to every key.
        prefix: String,
    },
}

impl SessionCache {
    /// An in-process cache with a background sweep of expired entries, so it cannot grow without bound.
    pub fn local() -> Self {
        let map: Arc<DashMap<String, (bool, i64)>> = Arc::default();
        let weak = Arc::downgrade(&map);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(map) = weak.upgrade() else { break };
                let now = now_millis();
                map.retain(|_, (_, expires_at)| *expires_at > now);
            }
        });
        Self::Local(map)
    }

    /// A cache in Redis.
    pub fn redis(conn: ConnectionManager, prefix: String) -> Self {
        Self::Redis { conn, prefix }
    }

    fn key(&self, license: &LicenseKey, jti: &str) -> String {
        let prefix = match self {
            Self::Local(_) => "",
            Self::Redis { prefix, .. } => prefix,
        };
        format!("{prefix}license:{license}:session:{jti}")
    }

    /// Whether the session is live, or `None` when the cache does not know.
    pub async fn lookup(&self, license: &LicenseKey, jti: &str) -> Option<bool> {
        let key = self.key(license, jti);
        match self {
            Self::Local(map) => map.get(&key).map(|entry| entry.0 && entry.1 > now_millis()),
            Self::Redis { conn, .. } => {
                let mut conn = conn.clone();
                match conn.get::<_, Option<String>>(&key).await {
                    Ok(state) => state.map(|s| s == LIVE),
                    Err(err) => {
                        tracing::warn!(%err, "session cache lookup failed; asking the store");
                        None
                    }
                }
            }
        }
    }

    /// Caches a session's state until it expires.
    pub async fn remember(&self, session: &Session) {
        let live = session.is_live(now_millis());
        self.put(&session.license_key, &session.jti, live, session.expires_at).await;
    }

    /// Marks a session revoked until its expiry.
    pub async fn forget(&self, license: &LicenseKey, jti: &str, expires_at: i64) {
        self.put(license, jti, false, expires_at).await;
    }

    async fn put(&self, license: &LicenseKey, jti: &str, live: bool, expires_at: i64) {
        let key = self.key(license, jti);
        match self {
            Self::Local(map) => {
                map.insert(key, (live, expires_at));
            }
            Self::Redis { conn, .. } => {
                let ttl_secs = u64::try_from((expires_at - now_millis()) / 1000).unwrap_or(0).max(1);
                let state = if live { LIVE } else { REVOKED };
                let mut conn = conn.clone();
                if let Err(err) = conn.set_ex::<_, _, ()>(&key, state, ttl_secs).await {
                    tracing::warn!(%err, "session cache write failed");
                    if !live {
                        // A stale "live" entry would outlive the revocation; drop it at least.
                        let _: Result<(), _> = conn.del(&key).await;
                    }
                }
            }
        }
    }

    /// Drops every cached session of a license, so the next lookup reads the revoked rows.
    pub async fn forget_license(&self, license: &LicenseKey) {
        let pattern = self.key(license, "*");
        match self {
            Self::Local(map) => {
                let prefix = pattern.trim_end_matches('*');
                map.retain(|key, _| !key.starts_with(prefix));
            }
            Self::Redis { conn, .. } => {
                let mut conn = conn.clone();
                // SCAN, not KEYS: it does not block Redis for other clients on a large keyspace.
                let keys: Vec<String> = match conn.scan_match::<_, String>(&pattern).await {
                    Ok(mut iter) => {
                        let mut keys = Vec::new();
                        while let Some(key) = iter.next_item().await {
                            match key {
                                Ok(key) => keys.push(key),
                                Err(err) => tracing::warn!(%err, "skipping an unreadable session key"),
                            }
                        }
                        keys
                    }
                    Err(err) => {
                        tracing::warn!(%err, "could not list a license's cached sessions");
                        return;
                    }
                };
                if !keys.is_empty() {
                    if let Err(err) = conn.del::<_, ()>(keys).await {
                        tracing::warn!(%err, "could not drop a license's cached sessions");
                    }
                }
            }
        }
    }
}
