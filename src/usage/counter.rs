//! The live count of one license's calls on one UTC day: in this process on a single machine, a Redis
//! counter (`license:<key>:usage:<yyyy-mm-dd>`, INCR with an expiry) shared by every node in scale-out.
//!
//! Either way a counter that starts empty (a restart, a flushed Redis) starts from the count the store
//! holds for that day, so a restart does not hand a license a fresh allowance. If Redis fails, this
//! node counts on by itself (logged): limits loosen to one node's view, they never block requests.

use crate::domain::LicenseKey;
use crate::store::{Store, StoreResult};
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use std::sync::Arc;

/// Redis keeps a day's counter two days: long enough for every node to flush it, then it goes.
const REDIS_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// Where the live counts are kept.
#[derive(Clone)]
pub enum DailyCounter {
    /// In this process: (license, date) → calls.
    Local(Arc<DashMap<(LicenseKey, String), i64>>),
    /// In Redis, shared by every node; the local map is the fallback while Redis is down.
    Redis {
        /// Reconnecting connection.
        conn: ConnectionManager,
        /// Prepended to every key.
        prefix: String,
        /// This node's own counts, used only while Redis fails.
        fallback: Arc<DashMap<(LicenseKey, String), i64>>,
    },
}

impl DailyCounter {
    /// Counts in this process.
    pub fn local() -> Self {
        Self::Local(Arc::default())
    }

    /// Counts in Redis under `prefix`.
    pub fn redis(conn: ConnectionManager, prefix: String) -> Self {
        Self::Redis { conn, prefix, fallback: Arc::default() }
    }

    fn redis_key(prefix: &str, license: &LicenseKey, date: &str) -> String {
        format!("{prefix}license:{license}:usage:{date}")
    }

    /// Adds one call and answers the day's count so far.
    pub async fn increment(&self, store: &Store, license: &LicenseKey, date: &str) -> StoreResult<i64> {
        match self {
            Self::Local(map) => local_add(map, store, license, date, 1).await,
            Self::Redis { conn, prefix, fallback } => {
                let key = Self::redis_key(prefix, license, date);
                let counted: redis::RedisResult<(i64, i64)> = redis::pipe()
                    .cmd("INCR")
                    .arg(&key)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(REDIS_TTL_SECONDS)
                    .query_async(&mut conn.clone())
                    .await;
                match counted {
                    // The first call of the day here (or since Redis lost the key): resume from the store.
                    Ok((1, _)) => match store.daily_usage(license, date).await? {
                        0 => Ok(1),
                        stored => {
                            let seeded: redis::RedisResult<i64> =
                                redis::cmd("INCRBY").arg(&key).arg(stored).query_async(&mut conn.clone()).await;
                            Ok(seeded.unwrap_or(stored + 1))
                        }
                    },
                    Ok((count, _)) => Ok(count),
                    Err(err) => {
                        redis_failed(&err);
                        local_add(fallback, store, license, date, 1).await
                    }
                }
            }
        }
    }

    /// The day's count so far, without adding to it.
    pub async fn current(&self, store: &Store, license: &LicenseKey, date: &str) -> StoreResult<i64> {
        match self {
            Self::Local(map) => local_read(map, store, license, date).await,
            Self::Redis { conn, prefix, fallback } => {
                let key = Self::redis_key(prefix, license, date);
                let read: redis::RedisResult<Option<i64>> =
                    redis::cmd("GET").arg(&key).query_async(&mut conn.clone()).await;
                match read {
                    Ok(Some(count)) => Ok(count),
                    Ok(None) => store.daily_usage(license, date).await,
                    Err(err) => {
                        redis_failed(&err);
                        local_read(fallback, store, license, date).await
                    }
                }
            }
        }
    }

    /// Forgets local counts of days other than `today` (they were flushed; the day is over).
    pub fn forget_other_days(&self, today: &str) {
        let map = match self {
            Self::Local(map) => map,
            Self::Redis { fallback, .. } => fallback,
        };
        map.retain(|(_, date), _| date == today);
    }
}

/// Adds `calls` to a local count, starting it from the store's count the first time it is seen.
async fn local_add(
    map: &DashMap<(LicenseKey, String), i64>,
    store: &Store,
    license: &LicenseKey,
    date: &str,
    calls: i64,
) -> StoreResult<i64> {
    let key = (license.clone(), date.to_owned());
    if let Some(mut count) = map.get_mut(&key) {
        *count += calls;
        return Ok(*count);
    }
    // Read outside the map's lock (never held across an await); a concurrent first call may read too,
    // and `or_insert` keeps whichever seeded first.
    let stored = store.daily_usage(license, date).await?;
    let mut count = map.entry(key).or_insert(stored);
    *count += calls;
    Ok(*count)
}

/// A local count, or the store's when this process has not counted that day (reading starts nothing).
async fn local_read(
    map: &DashMap<(LicenseKey, String), i64>,
    store: &Store,
    license: &LicenseKey,
    date: &str,
) -> StoreResult<i64> {
    let counted = map.get(&(license.clone(), date.to_owned())).map(|count| *count);
    match counted {
        Some(count) => Ok(count),
        None => store.daily_usage(license, date).await,
    }
}

fn redis_failed(err: &redis::RedisError) {
    metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "usage").increment(1);
    tracing::warn!(%err, "shared usage counter unavailable; counting on this node alone");
}
