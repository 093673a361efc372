//! `metrics:updated`: a license's live numbers, read from the store at most once a second per license
//! across every node, and shown on every node's dashboards.
//!
//! A tenant actor with dashboards marks its numbers stale on the license's events and when a dashboard
//! opens. Once a second, a stale node asks for the license's metrics lease (Redis `SET … NX PX`; always
//! granted on a single node). The holder reads the store and broadcasts the numbers to every node, where
//! [`relay_shared_metrics`] hands them to that node's dashboards and tenant actor ([`Freshness`] says
//! when its numbers are current again). Each node reading for itself cost nodes × licenses store reads a
//! second: 100 licenses on 10 nodes starved the store's pools (issue 14's 100k-socket run).

use super::TenantActor;
use crate::bus::{Event, Metrics, SharedBus};
use crate::domain::{now_millis, start_of_utc_day, LicenseKey, NotificationKind, Tier, DAY_MS};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// How long one node holds a license's metrics lease, in milliseconds: under the one-second cadence,
/// so the next second's reading is anyone's.
const LEASE_MS: u64 = 900;

/// The node-wide broadcast that carries one license's numbers: `{"metrics": {"license", "numbers"}}`.
#[derive(Serialize, Deserialize)]
struct SharedMetrics {
    metrics: LicenseMetrics,
}

#[derive(Serialize, Deserialize)]
struct LicenseMetrics {
    license: LicenseKey,
    numbers: Metrics,
}

/// Publishes the numbers any node broadcast (this one's included) to this node's subscribers of their
/// license: its dashboards and its tenant actor. Ends with the bus.
pub fn relay_shared_metrics(bus: &SharedBus) {
    let mut broadcasts = bus.subscribe_broadcasts();
    let bus = Arc::downgrade(bus);
    tokio::spawn(async move {
        loop {
            let payload = match broadcasts.recv().await {
                Ok(payload) => payload,
                // The next second brings fresh numbers.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            // Other broadcasts (widget pushes and receipts) are not ours to read.
            let Ok(SharedMetrics { metrics }) = serde_json::from_str(&payload) else { continue };
            let Some(bus) = bus.upgrade() else { return };
            bus.publish_local(&metrics.license, Event::Metrics(metrics.numbers));
        }
    });
}

/// Whether this node's dashboards have current numbers: not from a change, until a reading taken after
/// it is shown, nor from a dashboard's opening, until a reading reaches this node after it.
///
/// After the *last* change, not the first since the numbers were current: a reading taken between two
/// changes misses the second. Under steady traffic that means a reading every second, the cadence wanted
/// anyway. A reading that came before a dashboard subscribed never reached it, however recent: an
/// opening is compared with when the reading reached this node (its own clock, so another node's clock
/// does not enter into it), a change with when the reading was taken (the reader's clock: it read the
/// store then).
#[derive(Debug)]
pub(super) struct Freshness {
    /// When (epoch ms) the numbers last changed, until a reading taken after it is shown.
    changed: Option<i64>,
    /// When a dashboard last opened, until a reading reaches this node after it.
    opened: Option<Instant>,
}

impl Freshness {
    /// Numbers nobody has read yet.
    pub(super) fn stale() -> Self {
        Self { changed: Some(now_millis()), opened: None }
    }

    /// Whether a reading is wanted.
    pub(super) fn is_stale(&self) -> bool {
        self.changed.is_some() || self.opened.is_some()
    }

    /// Something the numbers count happened by `now`.
    pub(super) fn changed(&mut self, now: i64) {
        self.changed = Some(self.changed.map_or(now, |since| since.max(now)));
    }

    /// A dashboard that subscribed before `now` opened.
    pub(super) fn opened(&mut self, now: Instant) {
        self.opened = Some(now);
    }

    /// A reading taken at `at` (epoch ms) that reached this node at `received` was shown. Strictly after:
    /// in the same millisecond, the store may have been read before the change.
    pub(super) fn shown(&mut self, at: i64, received: Instant) {
        if self.changed.is_some_and(|changed| at > changed) {
            self.changed = None;
        }
        if self.opened.is_some_and(|opened| received > opened) {
            self.opened = None;
        }
    }
}

impl TenantActor {
    /// Something the numbers count happened: they are stale until a reading taken after it is shown.
    pub(super) fn metrics_went_stale(&mut self) {
        self.metrics.changed(now_millis());
    }

    /// A dashboard opened: it needs numbers that reach this node after it subscribed.
    pub(super) fn metrics_wanted_by_new_dashboard(&mut self) {
        self.metrics.opened(Instant::now());
    }

    /// Numbers that reached this node at `received` were shown on its dashboards: perhaps current again;
    /// warns once a day at 80 % and 100 % of the tier's allowance.
    pub(super) fn metrics_shown(&mut self, numbers: &Metrics, received: Instant) {
        self.metrics.shown(numbers.at, received);
        self.warn_on_usage(numbers.messages_today, numbers.at / DAY_MS);
    }

    /// Claims the license's lease and, when granted, reads the numbers and broadcasts them to every node.
    pub(super) fn share_metrics(&mut self, ctx: &mut Context<Self>) {
        self.metrics_in_flight = true;
        let (store, bus, license) = (self.store.clone(), self.bus.clone(), self.license.clone());
        let needs_tier = self.tier.is_none();
        let now = now_millis();
        let presence = self.registry.presence().clone();
        let local_visitors = self.visitors.len();
        ctx.spawn(
            async move {
                let tier = if needs_tier { store.license(&license).await.ok().flatten().map(|l| l.tier) } else { None };
                if !presence.claim_metrics_lease(&license, LEASE_MS).await {
                    return (tier, Ok(()));
                }
                let visitors_online = presence.count(&license, local_visitors).await;
                let stored = match store.metrics(&license, start_of_utc_day(now)).await {
                    Ok(stored) => stored,
                    Err(err) => return (tier, Err(err)),
                };
                let numbers = Metrics {
                    open_conversations: stored.open_conversations,
                    visitors_online,
                    messages_today: stored.messages_since,
                    median_first_response_ms: stored.median_first_response_ms,
                    csat_responses: stored.csat_responses,
                    csat_average: stored.csat_average,
                    at: now,
                };
                let shared = SharedMetrics { metrics: LicenseMetrics { license, numbers } };
                if let Ok(payload) = serde_json::to_string(&shared) {
                    bus.broadcast(Arc::from(payload)).await;
                }
                (tier, Ok(()))
            }
            .into_actor(self)
            .map(|(tier, read), act, _| {
                act.metrics_in_flight = false;
                if tier.is_some() {
                    act.tier = tier;
                }
                // Still stale: the next second tries again.
                if let Err(err) = read {
                    tracing::warn!(%err, license = %act.license, "metrics unavailable");
                }
            }),
        );
    }

    fn warn_on_usage(&mut self, messages_today: i64, day: i64) {
        let Some(limit) = self.tier.and_then(daily_allowance) else {
            return;
        };
        for percent in [100u8, 80] {
            let threshold = limit * i64::from(percent) / 100;
            if messages_today >= threshold && self.warned.get(&percent) != Some(&day) {
                self.warned.insert(percent, day);
                let body = format!("{messages_today} of {limit} messages used today ({percent} % of your plan)");
                self.notify(NotificationKind::UsageWarning, "Usage warning", body, None, false);
                break;
            }
        }
    }
}

/// Daily message allowance per tier (the seeds' API calls per day); `None` is unlimited.
fn daily_allowance(tier: Tier) -> Option<i64> {
    match tier {
        Tier::Free => Some(1_000),
        Tier::Basic => Some(10_000),
        Tier::Pro => Some(100_000),
        Tier::Enterprise => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn current() -> Freshness {
        Freshness { changed: None, opened: None }
    }

    #[test]
    fn only_a_reading_taken_after_the_last_change_makes_the_numbers_current() {
        let (mut freshness, now) = (current(), Instant::now());
        freshness.changed(100);
        freshness.changed(200);
        freshness.shown(150, now);
        assert!(freshness.is_stale(), "a reading between two changes misses the second");
        freshness.shown(200, now);
        assert!(freshness.is_stale(), "read in the same millisecond as the change: maybe before it");
        freshness.shown(201, now);
        assert!(!freshness.is_stale());
        // A node whose clock is behind does not move the change back.
        freshness.changed(300);
        freshness.changed(250);
        freshness.shown(280, now);
        assert!(freshness.is_stale());
    }

    #[test]
    fn a_new_dashboard_waits_for_a_reading_that_reached_the_node_after_it_opened() {
        let mut freshness = current();
        let before = Instant::now();
        let opened = before + Duration::from_millis(10);
        freshness.opened(opened);
        // Taken later by a node whose clock runs ahead, but here before the dashboard subscribed.
        freshness.shown(i64::MAX, before);
        assert!(freshness.is_stale(), "that reading never reached the new dashboard");
        freshness.shown(0, opened + Duration::from_millis(1));
        assert!(!freshness.is_stale());
    }
}
