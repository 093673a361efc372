//! `TenantActor`: one per license. It counts visitors online (across their tabs) and dashboards,
//! listens to its license's bus topic, and pushes `metrics:updated` (coalesced to at most one a
//! second) and `notification:new` (new conversations, usage warnings).

mod live_metrics;
mod team;
mod visitors;
mod widget_status;

pub(super) use live_metrics::relay_shared_metrics;
pub use team::{DashboardPresence, MemberChanged, TeamView};
pub use visitors::{VisitorConnected, VisitorDisconnected};
pub use widget_status::{HoursChanged, WidgetTeamStatus};

use super::registry::Registry;
use crate::bus::{Activity, BusEvent, Event, Notification, SharedBus};
use crate::domain::{now_millis, ContactId, ConversationId, LicenseKey, NotificationKind, Tier};
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
    /// Whether the dashboards' numbers are current.
    metrics: live_metrics::Freshness,
    /// A lease claim or a computation of the numbers is under way.
    metrics_in_flight: bool,
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
            metrics: live_metrics::Freshness::stale(),
            metrics_in_flight: false,
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
            if act.metrics.is_stale() && act.dashboards > 0 && !act.metrics_in_flight {
                act.share_metrics(ctx);
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
            Event::MessageNew { .. } => self.metrics_went_stale(),
            Event::Activity(activity) => {
                self.metrics_went_stale();
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
            Event::Metrics(numbers) => self.metrics_shown(numbers, published.received),
            Event::Typing { .. } | Event::Read { .. } | Event::Notification(_) => {}
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
