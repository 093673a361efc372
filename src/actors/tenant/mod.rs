//! `TenantActor`: one per license. It counts visitors online (across their tabs) and dashboards,
//! listens to its license's bus topic, and pushes `metrics:updated` (coalesced to at most one a
//! second) and `notification:new` (new conversations, usage warnings).

mod team;
mod visitors;
mod widget_status;

pub use team::{DashboardPresence, MemberChanged, TeamView};
pub use visitors::{VisitorConnected, VisitorDisconnected};
pub use widget_status::{HoursChanged, WidgetTeamStatus};

use super::registry::Registry;
use crate::bus::{Activity, BusEvent, Event, Metrics, Notification, SharedBus};
use crate::domain::{
    now_millis, start_of_utc_day, ContactId, ConversationId, LicenseKey, NotificationKind, Tier, DAY_MS,
};
use crate::store::Store;
use actix::prelude::*;
use futures_util::stream;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// How often changed metrics are pushed, at most.
const METRICS_EVERY: Duration = Duration::from_secs(1);
/// How often this node re-marks its visitors online in the shared presence set.
const PRESENCE_REFRESH: Duration = Duration::from_secs(30);

/// The live state of one license.
pub struct TenantActor {
    license: LicenseKey,
    store: Store,
    bus: SharedBus,
    registry: Registry,
    /// Visitor id → open widget sockets (tabs).
    visitors: HashMap<ContactId, usize>,
    dashboards: usize,
    metrics_dirty: bool,
    /// The day (epoch day number) a usage warning was last sent for, per threshold.
    warned: HashMap<u8, i64>,
    tier: Option<Tier>,
    last_active: Instant,
    idle_after: Duration,
    /// Counts the license's suspensions seen on the bus; widget sockets watch it and close on a change.
    suspensions: watch::Sender<u64>,
    /// Members' dashboards and availability.
    team: team::Team,
    /// The business hours, as last read (for widgets).
    hours: widget_status::KeptHours,
    /// Visitors who came or went since dashboards were last told.
    presence: visitors::PendingPresence,
}

impl TenantActor {
    /// A fresh actor for `license`.
    pub fn new(license: LicenseKey, store: Store, bus: SharedBus, registry: Registry, idle_after: Duration) -> Self {
        Self {
            license,
            store,
            bus,
            registry,
            visitors: HashMap::new(),
            dashboards: 0,
            metrics_dirty: true,
            warned: HashMap::new(),
            tier: None,
            last_active: Instant::now(),
            idle_after,
            suspensions: watch::Sender::new(0),
            team: team::Team::default(),
            hours: widget_status::KeptHours::default(),
            presence: visitors::PendingPresence::default(),
        }
    }

    fn is_idle(&self) -> bool {
        self.visitors.is_empty() && self.dashboards == 0 && self.last_active.elapsed() >= self.idle_after
    }

    /// A notification; `everywhere` sends it to other nodes' dashboards too (for things only this node saw).
    fn notify(
        &self,
        kind: NotificationKind,
        title: &str,
        body: String,
        conversation_id: Option<ConversationId>,
        everywhere: bool,
    ) {
        let notification =
            Notification { kind, title: title.into(), body, conversation_id, recipient: None, at: now_millis() };
        if everywhere {
            self.bus.publish(&self.license, Event::Notification(notification));
        } else {
            self.bus.publish_local(&self.license, Event::Notification(notification));
        }
    }

    /// Reads the numbers from the store and publishes them; warns once a day at 80 % and 100 % of the tier's allowance.
    fn push_metrics(&mut self, ctx: &mut Context<Self>) {
        self.metrics_dirty = false;
        let store = self.store.clone();
        let license = self.license.clone();
        let needs_tier = self.tier.is_none();
        let now = now_millis();
        let today = start_of_utc_day(now);
        let presence = self.registry.presence().clone();
        let local_visitors = self.visitors.len();
        ctx.spawn(
            async move {
                let tier = if needs_tier { store.license(&license).await.ok().flatten().map(|l| l.tier) } else { None };
                let online = presence.count(&license, local_visitors).await;
                (store.metrics(&license, today).await, tier, online)
            }
            .into_actor(self)
            .map(move |(stored, tier, visitors_online), act, _| {
                if tier.is_some() {
                    act.tier = tier;
                }
                let stored = match stored {
                    Ok(stored) => stored,
                    Err(err) => {
                        tracing::warn!(%err, license = %act.license, "metrics unavailable");
                        act.metrics_dirty = true;
                        return;
                    }
                };
                // Every node computes the same numbers from the store; each tells its own dashboards.
                act.bus.publish_local(
                    &act.license,
                    Event::Metrics(Metrics {
                        open_conversations: stored.open_conversations,
                        visitors_online,
                        messages_today: stored.messages_since,
                        median_first_response_ms: stored.median_first_response_ms,
                        csat_responses: stored.csat_responses,
                        csat_average: stored.csat_average,
                        at: now,
                    }),
                );
                act.warn_on_usage(stored.messages_since, now / DAY_MS);
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

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!(crate::telemetry::ACTORS_LIVE, "kind" => "tenant").increment(1.0);
        let events = stream::unfold(self.bus.subscribe(&self.license), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some((event, rx)),
                    // Metrics come from the store, so a lag only delays them.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        ctx.add_stream(events);
        ctx.run_interval(METRICS_EVERY, |act, ctx| {
            if act.metrics_dirty && act.dashboards > 0 {
                act.push_metrics(ctx);
            }
        });
        self.reload_team(ctx, true);
        ctx.run_interval(PRESENCE_REFRESH, |act, ctx| {
            let presence = act.registry.presence().clone();
            let (license, visitors) = (act.license.clone(), act.visitors.keys().map(ContactId::to_string).collect());
            ctx.spawn(async move { presence.mark_online(&license, visitors).await }.into_actor(act));
            act.reload_team(ctx, false);
        });
        let check_every = (self.idle_after / 2).max(Duration::from_millis(200));
        ctx.run_interval(check_every, |act, ctx| {
            if act.is_idle() {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!(crate::telemetry::ACTORS_LIVE, "kind" => "tenant").decrement(1.0);
        self.registry.forget_tenant(&self.license, &ctx.address());
    }
}

impl StreamHandler<Arc<BusEvent>> for TenantActor {
    fn handle(&mut self, published: Arc<BusEvent>, ctx: &mut Self::Context) {
        match &published.event {
            Event::MessageNew { .. } => self.metrics_dirty = true,
            Event::Activity(activity) => {
                self.metrics_dirty = true;
                match activity {
                    // The node where it happened tells every node's dashboards, once.
                    Activity::BusinessHoursUpdated {} => self.hours.forget(),
                    Activity::ConversationOpened { conversation_id, channel } if !published.remote => {
                        let body = format!("A visitor started a conversation on {}", channel.as_str());
                        self.notify(
                            NotificationKind::NewConversation,
                            "New conversation",
                            body,
                            Some(conversation_id.clone()),
                            true,
                        );
                        self.auto_assign(conversation_id.clone(), ctx);
                    }
                    _ => {}
                }
            }
            Event::PresenceUpdated { member_id, availability, .. } => self.team.learn(member_id, *availability),
            Event::Typing { .. } | Event::Read { .. } | Event::Metrics(_) | Event::Notification(_) => {}
            // Every session of the license revoked at once: the license was suspended (on any node).
            Event::SessionRevoked { jti: None } => self.suspensions.send_modify(|n| *n += 1),
            Event::SessionRevoked { .. } => {}
        }
    }

    /// The bus closing means shutdown; the interval stops the actor when idle anyway.
    fn finished(&mut self, _: &mut Self::Context) {}
}

/// What the tenant actor counts on this node, for `/api/admin/stats`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantStats {
    /// Open widget sockets (a visitor's tabs each count).
    pub widget_sockets: usize,
    /// Distinct visitors with a widget socket here.
    pub visitors: usize,
    /// Open dashboard sockets of both kinds (plain WebSocket and Socket.IO).
    pub dashboards: usize,
}

/// Asks a tenant actor for its counts.
#[derive(Message, Clone)]
#[rtype(result = "TenantStats")]
pub struct GetTenantStats;

impl Handler<GetTenantStats> for TenantActor {
    type Result = MessageResult<GetTenantStats>;

    fn handle(&mut self, _: GetTenantStats, _: &mut Self::Context) -> Self::Result {
        MessageResult(TenantStats {
            widget_sockets: self.visitors.values().sum(),
            visitors: self.visitors.len(),
            dashboards: self.dashboards,
        })
    }
}
