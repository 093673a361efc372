//! The widget's cross-node frame counters: per second, per visitor and per license, in Redis.
//!
//! Redis holds each key's count for the second; a node claims frames from it in leases and spends them
//! locally, so a busy key costs a round trip every tenth of its frames instead of every frame. (At 10,000
//! widget messages a second on PostgreSQL + Redis, the check's round trip per frame was ~19 % of the
//! server's CPU, measured by skipping it; leases cut the server's CPU ~10 % and Redis's ~20 %, issue 14.)
//! A lease is a tenth of what the node spent on that key in the previous second (at least one frame, at
//! most a sixteenth of the limit): a quiet key is counted frame by frame, exactly as before, and what a
//! node leased but did not spend when the second ends (at most a tenth of its own traffic) is refused to
//! the other nodes, so the limits can refuse a little early but never let more through. Once Redis has
//! nothing left to grant in a second, the node refuses the rest of it without asking.

use crate::domain::{now_millis, LicenseKey};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;

/// Seconds a per-second key outlives its second.
const KEY_TTL_SECONDS: u64 = 2;

/// Per-second counters in Redis, with this node's leases on them.
pub struct SharedCounters {
    conn: ConnectionManager,
    prefix: String,
    /// Frames a visitor, and all of a license's visitors, may send per second across nodes.
    limits: [i64; 2],
    /// This node's leases, by key (without the second).
    leases: Mutex<HashMap<String, Lease>>,
}

/// What this node may still spend of one key's count in one second.
#[derive(Debug, Default, Clone, Copy)]
struct Lease {
    second: i64,
    /// Frames Redis granted this node in `second`.
    granted: i64,
    /// Frames this node spent of them.
    spent: i64,
    /// Frames it spent in the second before.
    spent_before: i64,
    /// Redis had no more frames to grant in `second`: the rest of it is refused without asking.
    exhausted: bool,
}

impl Lease {
    /// The lease as of `second`: a new second starts empty, remembering what the last one spent (a clock
    /// that went back starts empty too).
    fn at(self, second: i64) -> Self {
        match second - self.second {
            0 => self,
            1 => Self { second, spent_before: self.spent, ..Self::default() },
            _ => Self { second, ..Self::default() },
        }
    }

    /// Spends one frame if the lease has one.
    fn spend(&mut self) -> bool {
        let has = self.spent < self.granted;
        self.spent += i64::from(has);
        has
    }

    /// How many frames to claim next: a tenth of last second's use, between 1 and `limit / 16`.
    fn claim_size(&self, limit: i64) -> i64 {
        (self.spent_before / 10).min(limit / 16).max(1)
    }
}

impl SharedCounters {
    /// Counters under `prefix`: a visitor may send `visitor_per_second` frames a second and a license's
    /// visitors `license_per_second`, across nodes.
    pub fn new(conn: ConnectionManager, prefix: String, visitor_per_second: u32, license_per_second: u32) -> Self {
        let limits = [i64::from(visitor_per_second), i64::from(license_per_second)];
        Self { conn, prefix, limits, leases: Mutex::default() }
    }

    /// Counts one frame of `visitor_id` (of `license`) in this second; whether both counts are within
    /// their limits. Fails open (the local limits still hold) when Redis cannot answer.
    pub async fn allow(&self, license: &LicenseKey, visitor_id: &str) -> bool {
        let second = now_millis() / 1000;
        let keys = [
            format!("{}license:{license}:rate:{visitor_id}", self.prefix),
            format!("{}license:{license}:rate", self.prefix),
        ];
        // Spend from the leases where they have a frame left; claim more for the others, unless Redis has
        // none left for this second (then the frame is refused without asking).
        let mut claims = Vec::new();
        {
            let Ok(mut leases) = self.leases.lock() else { return true };
            for ((key, limit), at) in keys.iter().zip(self.limits).zip(0..) {
                let lease = leases.entry(key.clone()).or_default();
                *lease = lease.at(second);
                if lease.spend() {
                    continue;
                }
                if lease.exhausted {
                    return false;
                }
                claims.push((at, lease.claim_size(limit)));
            }
        }
        if claims.is_empty() {
            return true;
        }
        let mut pipe = redis::pipe();
        for &(at, size) in &claims {
            let key = format!("{}:{second}", keys[at]);
            pipe.cmd("INCRBY").arg(&key).arg(size).cmd("EXPIRE").arg(&key).arg(KEY_TTL_SECONDS).ignore();
        }
        let totals: Vec<i64> = match pipe.query_async(&mut self.conn.clone()).await {
            Ok(totals) => totals,
            Err(err) => {
                metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "rate_limit").increment(1);
                tracing::warn!(%err, "shared rate limit unavailable; local limits only");
                return true;
            }
        };
        let Ok(mut leases) = self.leases.lock() else { return true };
        let mut allowed = true;
        for (&(at, size), total) in claims.iter().zip(totals) {
            // Of what was claimed, only what fits under the limit counts; the rest is nobody's.
            let usable = (self.limits[at] - (total - size)).clamp(0, size);
            let lease = leases.entry(keys[at].clone()).or_default();
            if lease.second > second {
                // The key's next second began meanwhile: the claim was for this frame's second only.
                allowed &= usable > 0;
                continue;
            }
            *lease = lease.at(second);
            lease.granted += usable;
            lease.exhausted |= usable < size;
            allowed &= lease.spend();
        }
        allowed
    }

    /// Forgets the leases of seconds that are over.
    pub fn sweep(&self) {
        let second = now_millis() / 1000;
        if let Ok(mut leases) = self.leases.lock() {
            leases.retain(|_, lease| lease.second >= second - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Lease, SharedCounters};
    use crate::domain::{now_millis, LicenseKey};

    /// Waits for the start of the next second, so a test's frames fall in the seconds it means.
    async fn next_second() -> i64 {
        let second = now_millis() / 1000;
        while now_millis() / 1000 == second {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        second + 1
    }

    /// Two nodes spending leases on one busy visitor never let more than the limit through in a second,
    /// and refuse early by no more than their unspent leases (a sixteenth of the limit each, at most).
    #[tokio::test]
    async fn leases_across_two_nodes_stay_within_the_limit() -> anyhow::Result<()> {
        let Ok(url) = std::env::var("TEST_REDIS_URL") else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but TEST_REDIS_URL is unset");
            return Ok(());
        };
        let conn = redis::aio::ConnectionManager::new(redis::Client::open(url)?).await?;
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let node = || SharedCounters::new(conn.clone(), prefix.clone(), 160, 1_000_000);
        let (a, b) = (node(), node());
        let license = LicenseKey::generate();
        for round in 0..2 {
            let second = next_second().await;
            let mut allowed = 0;
            for frame in 0..240 {
                let node = if frame % 2 == 0 { &a } else { &b };
                allowed += i64::from(node.allow(&license, "v1").await);
            }
            assert_eq!(now_millis() / 1000, second, "the frames took longer than their second");
            // The first round counts frame by frame; the second spends leases of 10 (160 / 16).
            let slack = if round == 0 { 0 } else { 2 * 10 };
            assert!((160 - slack..=160).contains(&allowed), "round {round}: {allowed} of 240 through");
        }
        Ok(())
    }

    #[test]
    fn a_lease_claims_a_tenth_of_last_seconds_use_within_bounds() {
        let mut lease = Lease { second: 7, granted: 500, spent: 480, spent_before: 0, exhausted: true }.at(8);
        assert!(!lease.exhausted, "a new second may claim again");
        assert_eq!((lease.granted, lease.spent, lease.spent_before), (0, 0, 480), "a new second starts empty");
        assert_eq!(lease.claim_size(1_000_000), 48, "a tenth of what the last second spent");
        assert_eq!(lease.claim_size(160), 10, "at most a sixteenth of the limit");
        assert_eq!(lease.claim_size(5), 1, "a small limit is counted frame by frame");
        assert!(!lease.spend(), "nothing granted yet");
        lease.granted = 1;
        assert!(lease.spend() && !lease.spend(), "one granted, one spent");
        assert_eq!(lease.at(10).spent_before, 0, "a quiet second in between forgets the use");
    }
}
