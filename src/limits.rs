//! Rate limits on widget traffic, per visitor and per license. Each node enforces a GCRA (governor)
//! locally; with Redis, a per-second counter per visitor and per license also caps the total across
//! nodes. If Redis fails, the local limits still hold (the shared check fails open, logged).

use crate::domain::{now_millis, LicenseKey};
use governor::{DefaultKeyedRateLimiter, Quota};
use redis::aio::ConnectionManager;
use std::num::NonZeroU32;

/// Limits for one deployment.
pub struct RateLimits {
    visitor: DefaultKeyedRateLimiter<String>,
    license: DefaultKeyedRateLimiter<String>,
    shared: Option<SharedCounters>,
}

/// Per-second counters in Redis.
pub struct SharedCounters {
    /// Reconnecting connection.
    pub conn: ConnectionManager,
    /// Key prefix.
    pub prefix: String,
    /// Frames one visitor may send per second across nodes.
    pub visitor_per_second: u32,
    /// Frames one license's visitors may send per second across nodes.
    pub license_per_second: u32,
}

impl RateLimits {
    /// Visitors get `visitor_rate` frames a second with bursts of `visitor_burst`; a license's visitors
    /// together get `license_rate` (bursts of twice that).
    pub fn new(
        visitor_rate: NonZeroU32,
        visitor_burst: NonZeroU32,
        license_rate: NonZeroU32,
        shared: Option<SharedCounters>,
    ) -> Self {
        let license_burst = license_rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Self {
            visitor: DefaultKeyedRateLimiter::keyed(Quota::per_second(visitor_rate).allow_burst(visitor_burst)),
            license: DefaultKeyedRateLimiter::keyed(Quota::per_second(license_rate).allow_burst(license_burst)),
            shared,
        }
    }

    /// Whether a visitor's frame may pass now.
    pub async fn allow_visitor_frame(&self, license: &LicenseKey, visitor_id: &str) -> bool {
        let visitor_key = format!("{license}/{visitor_id}");
        if self.visitor.check_key(&visitor_key).is_err() || self.license.check_key(&license.to_string()).is_err() {
            return false;
        }
        match &self.shared {
            None => true,
            Some(shared) => shared.allow(license, visitor_id).await,
        }
    }

    /// Forgets keys that have been quiet long enough to be back at full allowance.
    pub fn sweep(&self) {
        self.visitor.retain_recent();
        self.license.retain_recent();
    }
}

impl SharedCounters {
    async fn allow(&self, license: &LicenseKey, visitor_id: &str) -> bool {
        let second = now_millis() / 1000;
        let visitor_key = format!("{}license:{license}:rate:{visitor_id}:{second}", self.prefix);
        let license_key = format!("{}license:{license}:rate:{second}", self.prefix);
        let counted: redis::RedisResult<(i64, i64, i64, i64)> = redis::pipe()
            .cmd("INCR")
            .arg(&visitor_key)
            .cmd("EXPIRE")
            .arg(&visitor_key)
            .arg(2)
            .cmd("INCR")
            .arg(&license_key)
            .cmd("EXPIRE")
            .arg(&license_key)
            .arg(2)
            .query_async(&mut self.conn.clone())
            .await;
        match counted {
            Ok((visitor, _, license, _)) => {
                visitor <= i64::from(self.visitor_per_second) && license <= i64::from(self.license_per_second)
            }
            Err(err) => {
                tracing::warn!(%err, "shared rate limit unavailable; local limits only");
                true
            }
        }
    }
}
