//! Daily API allowances: every authenticated API call counts against its license's UTC day, and a tier
//! sets how many a day may hold (free 1,000, basic 10,000, pro 100,000, enterprise unlimited; each
//! overridable in the configuration). The HTTP layer checks it once, in one middleware.
//!
//! Live counts are in [`counter`] (this process, or Redis across nodes); each node flushes the counts it
//! saw to the store every few seconds and when it stops, which is the per-day history.

mod counter;

pub use counter::DailyCounter;

use crate::domain::{now_millis, start_of_utc_day, LicenseKey, Tier, DAY_MS};
use crate::store::{Store, StoreResult};
use dashmap::DashMap;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tiers change rarely (an operator action); a node rereads a license's tier after this long.
const TIER_CACHE: Duration = Duration::from_secs(60);

/// The UTC day of `millis` (epoch ms) as `yyyy-mm-dd`.
pub fn utc_date(millis: i64) -> String {
    let days = millis.div_euclid(DAY_MS);
    // Julian day 2440588 is 1970-01-01; the range covers any epoch-millisecond time this server sees.
    match i32::try_from(days + 2_440_588).ok().and_then(|jd| time::Date::from_julian_day(jd).ok()) {
        Some(date) => format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        None => "1970-01-01".to_owned(),
    }
}

/// The next UTC midnight after `millis`, epoch ms: when the day's allowance resets.
pub fn next_midnight(millis: i64) -> i64 {
    start_of_utc_day(millis) + DAY_MS
}

/// Calls a day per tier (`None`: unlimited), and the shares of it that raise an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePolicy {
    /// Free, basic, pro and enterprise, in that order.
    pub daily_calls: [Option<i64>; 4],
    /// Percentages of the allowance that count as alerts (e.g. 80 and 100).
    pub alert_percents: Vec<u32>,
}

impl UsagePolicy {
    /// The tier's calls a day, `None` for unlimited.
    pub fn daily_limit(&self, tier: Tier) -> Option<i64> {
        let index = Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0);
        self.daily_calls.get(index).copied().flatten()
    }
}

/// Where a license stands today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quota {
    /// The day, `yyyy-mm-dd` (UTC).
    pub date: String,
    /// The license's tier.
    pub tier: Tier,
    /// Calls counted so far today.
    pub calls: i64,
    /// The day's allowance, `None` for unlimited.
    pub limit: Option<i64>,
    /// Calls left today, `None` for unlimited.
    pub remaining: Option<i64>,
    /// When the allowance resets (next UTC midnight), epoch milliseconds.
    pub reset_at: i64,
}

impl Quota {
    fn new(date: String, tier: Tier, calls: i64, limit: Option<i64>, now: i64) -> Self {
        let remaining = limit.map(|limit| (limit - calls).max(0));
        Self { date, tier, calls, limit, remaining, reset_at: next_midnight(now) }
    }

    /// Whether this call went past the allowance.
    pub fn exceeded(&self) -> bool {
        self.limit.is_some_and(|limit| self.calls > limit)
    }

    /// The calls at which `percent` of the allowance is reached (rounded up), `None` when unlimited.
    pub fn threshold(&self, percent: u32) -> Option<i64> {
        self.limit.map(|limit| (limit * i64::from(percent) + 99) / 100)
    }

    /// The alert thresholds (of `percents`) this very call reached. Every count is handed out once,
    /// across nodes too (a Redis INCR), so each threshold fires once a day, on one node.
    pub fn crossed(&self, percents: &[u32]) -> Vec<u32> {
        percents.iter().copied().filter(|p| self.threshold(*p) == Some(self.calls)).collect()
    }
}

/// Counts calls, answers quotas and keeps the history flushed.
pub struct UsageMeter {
    store: Store,
    counter: DailyCounter,
    policy: UsagePolicy,
    tiers: DashMap<LicenseKey, (Tier, Instant)>,
    /// Counts seen since the last flush: (license, date) → the highest count seen.
    unflushed: DashMap<(LicenseKey, String), i64>,
}

impl UsageMeter {
    /// A meter over `counter`, flushing to `store`; call [`UsageMeter::flush_every`] to keep history.
    pub fn new(store: Store, counter: DailyCounter, policy: UsagePolicy) -> Arc<Self> {
        Arc::new(Self { store, counter, policy, tiers: DashMap::new(), unflushed: DashMap::new() })
    }

    /// The tiers and alert thresholds in force.
    pub fn policy(&self) -> &UsagePolicy {
        &self.policy
    }

    /// The license's tier (cached for a minute); `tier` when the caller already knows it.
    pub async fn tier(&self, license: &LicenseKey, known: Option<Tier>) -> StoreResult<Tier> {
        if let Some(tier) = known {
            self.tiers.insert(license.clone(), (tier, Instant::now()));
            return Ok(tier);
        }
        if let Some(entry) = self.tiers.get(license).filter(|e| e.1.elapsed() < TIER_CACHE) {
            return Ok(entry.0);
        }
        // A license that vanished has no calls to count: the basic default only shapes the answer.
        let tier = self.store.license_tier(license).await?.unwrap_or_default();
        self.tiers.insert(license.clone(), (tier, Instant::now()));
        Ok(tier)
    }

    /// Counts one call of `license` and answers where it stands.
    pub async fn count(&self, license: &LicenseKey, tier: Option<Tier>) -> StoreResult<Quota> {
        let tier = self.tier(license, tier).await?;
        let now = now_millis();
        let date = utc_date(now);
        let calls = self.counter.increment(&self.store, license, &date).await?;
        self.unflushed.entry((license.clone(), date.clone())).and_modify(|c| *c = (*c).max(calls)).or_insert(calls);
        Ok(Quota::new(date, tier, calls, self.policy.daily_limit(tier), now))
    }

    /// Where `license` stands, without counting a call.
    pub async fn quota(&self, license: &LicenseKey, tier: Option<Tier>) -> StoreResult<Quota> {
        let tier = self.tier(license, tier).await?;
        let now = now_millis();
        let date = utc_date(now);
        let calls = self.counter.current(&self.store, license, &date).await?;
        Ok(Quota::new(date, tier, calls, self.policy.daily_limit(tier), now))
    }

    /// Writes the counts seen since the last flush to the store; a failed write is kept for the next.
    pub async fn flush(&self) {
        let pending: Vec<((LicenseKey, String), i64)> =
            self.unflushed.iter().map(|e| (e.key().clone(), *e.value())).collect();
        for ((license, date), calls) in pending {
            // Only remove what was written: a count that grew meanwhile stays for the next flush.
            match self.store.save_daily_usage(&license, &date, calls).await {
                Ok(()) => {
                    self.unflushed.remove_if(&(license, date), |_, now| *now <= calls);
                }
                Err(err) => tracing::warn!(error = %err, "usage flush failed; retrying at the next one"),
            }
        }
        self.counter.forget_other_days(&utc_date(now_millis()));
    }

    /// Flushes every `period` for as long as the meter lives.
    pub fn flush_every(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(meter) = weak.upgrade() else { break };
                meter.flush().await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_709_164_800_000), "2024-02-29");
        assert_eq!(utc_date(1_709_251_199_999), "2024-02-29");
        assert_eq!(next_midnight(1_709_164_800_000), 1_709_251_200_000);
    }

    #[test]
    fn quotas_say_when_the_allowance_is_spent() {
        let at_limit = Quota::new("d".into(), Tier::Free, 1000, Some(1000), 0);
        assert_eq!((at_limit.remaining, at_limit.exceeded()), (Some(0), false));
        let over = Quota::new("d".into(), Tier::Free, 1001, Some(1000), 0);
        assert_eq!((over.remaining, over.exceeded()), (Some(0), true));
        let unlimited = Quota::new("d".into(), Tier::Enterprise, 1_000_000, None, 0);
        assert_eq!((unlimited.remaining, unlimited.exceeded()), (None, false));
    }

    #[test]
    fn each_threshold_is_crossed_by_exactly_one_count() {
        let quota = |calls| Quota::new("d".into(), Tier::Free, calls, Some(10), 0);
        let crossed: Vec<(i64, Vec<u32>)> =
            (1..=12).map(|calls| (calls, quota(calls).crossed(&[80, 100]))).filter(|(_, c)| !c.is_empty()).collect();
        assert_eq!(crossed, [(8, vec![80]), (10, vec![100])]);
        assert!(Quota::new("d".into(), Tier::Enterprise, 8, None, 0).crossed(&[80]).is_empty());
    }
}
