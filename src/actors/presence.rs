//! Who is online, across nodes. Single node: the tenant actor's own count. Several nodes: a Redis
//! sorted set per license (`license:<key>:online`), member = visitor id, score = when the entry
//! expires; nodes refresh their visitors every 30 s, so a crashed node's visitors fade out in 90 s.
//!
//! Team members the same way, in `license:<key>:agents`, one entry per member *and node*
//! (`<user id>|<node id>`): a member's last socket closing on one node removes only that node's
//! entry, so a socket they keep open on another node still counts.

use crate::domain::{now_millis, LicenseKey, UserId};
use redis::aio::ConnectionManager;
use std::collections::HashSet;
use std::sync::OnceLock;

/// How long an online mark lives without a refresh, in milliseconds.
const MARK_TTL_MS: i64 = 90_000;

/// Where presence is counted.
#[derive(Clone)]
pub enum Presence {
    /// This process only.
    Local,
    /// Shared through Redis.
    Redis {
        /// Reconnecting connection.
        conn: ConnectionManager,
        /// Key prefix.
        prefix: String,
    },
}

impl Presence {
    fn key(prefix: &str, license: &LicenseKey) -> String {
        format!("{prefix}license:{license}:online")
    }

    fn agents_key(prefix: &str, license: &LicenseKey) -> String {
        format!("{prefix}license:{license}:agents")
    }

    /// Marks `members` connected on this node (again) for the next 90 s.
    pub async fn mark_agents(&self, license: &LicenseKey, members: &[UserId]) {
        let Self::Redis { conn, prefix } = self else { return };
        if members.is_empty() {
            return;
        }
        let expires = now_millis() + MARK_TTL_MS;
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(Self::agents_key(prefix, license));
        for member in members {
            cmd.arg(expires).arg(format!("{member}|{}", node_id()));
        }
        let done: redis::RedisResult<i64> = cmd.query_async(&mut conn.clone()).await;
        if let Err(err) = done {
            tracing::warn!(%err, "agent presence update failed");
        }
    }

    /// Removes this node's mark of `member` (their last dashboard socket here closed).
    pub async fn unmark_agent(&self, license: &LicenseKey, member: &UserId) {
        let Self::Redis { conn, prefix } = self else { return };
        let entry = format!("{member}|{}", node_id());
        let done: redis::RedisResult<i64> =
            redis::cmd("ZREM").arg(Self::agents_key(prefix, license)).arg(entry).query_async(&mut conn.clone()).await;
        if let Err(err) = done {
            tracing::warn!(%err, "agent presence update failed");
        }
    }

    /// Members with a dashboard socket open on any node; `local` are this node's, used alone (or when
    /// Redis fails).
    pub async fn connected_agents(&self, license: &LicenseKey, local: HashSet<UserId>) -> HashSet<UserId> {
        let Self::Redis { conn, prefix } = self else { return local };
        let key = Self::agents_key(prefix, license);
        let listed: redis::RedisResult<(i64, Vec<String>)> = redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_millis())
            .cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn.clone())
            .await;
        match listed {
            Ok((_, entries)) => {
                let mut connected = local;
                connected.extend(entries.iter().filter_map(|e| e.split_once('|')?.0.parse().ok()));
                connected
            }
            Err(err) => {
                tracing::warn!(%err, "agent presence read failed; using this node's");
                local
            }
        }
    }

    /// Marks `visitors` online (again) for the next 90 s.
    pub async fn mark_online(&self, license: &LicenseKey, visitors: Vec<String>) {
        let Self::Redis { conn, prefix } = self else { return };
        if visitors.is_empty() {
            return;
        }
        let expires = now_millis() + MARK_TTL_MS;
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(Self::key(prefix, license));
        for visitor in visitors {
            cmd.arg(expires).arg(visitor);
        }
        let done: redis::RedisResult<i64> = cmd.query_async(&mut conn.clone()).await;
        if let Err(err) = done {
            tracing::warn!(%err, "presence update failed");
        }
    }

    /// Marks visitors offline (their last tab on this node closed).
    pub async fn mark_offline(&self, license: &LicenseKey, visitors: Vec<String>) {
        let Self::Redis { conn, prefix } = self else { return };
        if visitors.is_empty() {
            return;
        }
        let done: redis::RedisResult<i64> =
            redis::cmd("ZREM").arg(Self::key(prefix, license)).arg(visitors).query_async(&mut conn.clone()).await;
        if let Err(err) = done {
            tracing::warn!(%err, "presence update failed");
        }
    }

    /// Whether this node reads the license's live numbers this time: the first node to ask in
    /// `lease_ms` gets them (always this one on a single node, or when Redis does not answer).
    pub async fn claim_metrics_lease(&self, license: &LicenseKey, lease_ms: u64) -> bool {
        let Self::Redis { conn, prefix } = self else { return true };
        let claimed: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(format!("{prefix}license:{license}:metrics-lease"))
            .arg(node_id())
            .arg("NX")
            .arg("PX")
            .arg(lease_ms)
            .query_async(&mut conn.clone())
            .await;
        claimed.map_or(true, |reply| reply.is_some())
    }

    /// Visitors online on every node; `local` is this node's count, used alone (or when Redis fails).
    pub async fn count(&self, license: &LicenseKey, local: usize) -> i64 {
        let local = i64::try_from(local).unwrap_or(i64::MAX);
        let Self::Redis { conn, prefix } = self else { return local };
        let key = Self::key(prefix, license);
        let counted: redis::RedisResult<(i64, i64)> = redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_millis())
            .cmd("ZCARD")
            .arg(&key)
            .query_async(&mut conn.clone())
            .await;
        match counted {
            Ok((_, count)) => count.max(local),
            Err(err) => {
                tracing::warn!(%err, "presence count failed; showing this node's visitors");
                local
            }
        }
    }
}

/// This process's id in shared presence entries.
fn node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(crate::domain::new_id)
}
