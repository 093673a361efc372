//! The team in the tenant actor: which members have a dashboard open (on this node, and through the
//! shared presence on every node), what availability each shows, `presence:updated`, and auto-assignment.
//!
//! Every node's tenant actor learns each member's availability from the `presence:updated` events on
//! the license's topic, and reloads it from the store and the shared presence every 30 s (so a crashed
//! node's members fade out) and when it starts (before it answers anything).

use super::TenantActor;
use crate::actors::Presence;
use crate::actors::SetAssignee;
use crate::bus::Event;
use crate::bus::SharedBus;
use crate::domain::{AutoAssignment, Availability, ConversationId, LicenseKey, UserId};
use crate::store::Store;
use actix::prelude::*;
use actix::WeakAddr;
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use tokio::sync::mpsc;

/// A change to announce: whose, what this node saw, and who has dashboards here now.
struct Announcement {
    member: UserId,
    here: Option<bool>,
    local: HashSet<UserId>,
}

/// Runs announcements one after another until the tenant actor (holding the sender) stops. This
/// node's tenant actor learns each result before the bus carries it, so a widget that asks after a
/// dashboard saw `presence:updated` is answered with that state (not one the actor has yet to read).
async fn announce_in_order(
    mut jobs: mpsc::UnboundedReceiver<Announcement>,
    actor: WeakAddr<TenantActor>,
    presence: Presence,
    store: Store,
    bus: SharedBus,
    license: LicenseKey,
) {
    while let Some(Announcement { member, here, local }) = jobs.recv().await {
        match here {
            Some(true) => presence.mark_agents(&license, std::slice::from_ref(&member)).await,
            Some(false) => presence.unmark_agent(&license, &member).await,
            None => {}
        }
        let connected = presence.connected_agents(&license, local).await.contains(&member);
        if !connected {
            if let Err(err) = store.touch_member(&license, &member).await {
                tracing::warn!(%err, "last seen not recorded");
            }
        }
        let chosen = match store.member(&license, &member).await {
            Ok(Some(m)) if m.status == "active" => m.availability,
            _ => Availability::Offline,
        };
        let availability = shown(connected, chosen);
        if let Some(actor) = actor.upgrade() {
            // A stopped actor has nobody to answer; the event still goes out.
            let _ = actor.send(Learn { member: member.clone(), availability }).await;
        }
        bus.publish(&license, Event::PresenceUpdated { availability, member_id: member, connected });
    }
}

/// The team's live state on this node.
#[derive(Default)]
pub(super) struct Team {
    /// The ordered presence announcer, started with the first announcement.
    announcer: Option<mpsc::UnboundedSender<Announcement>>,
    /// Member → dashboard sockets open on this node.
    local: HashMap<UserId, usize>,
    /// What each member who is not offline shows, as last learnt.
    shown: HashMap<UserId, Availability>,
    /// Where round-robin continues.
    turn: usize,
}

impl Team {
    /// Whether some member shows `online`: the widget offers live chat, or the offline form.
    pub(super) fn any_online(&self) -> bool {
        self.shown.values().any(|a| *a == Availability::Online)
    }

    /// Takes in a `presence:updated` from any node.
    pub(super) fn learn(&mut self, member: &UserId, availability: Availability) {
        if availability == Availability::Offline {
            self.shown.remove(member);
        } else {
            self.shown.insert(member.clone(), availability);
        }
    }

    fn local_members(&self) -> HashSet<UserId> {
        self.local.keys().cloned().collect()
    }
}

/// What a member shows: offline without an open dashboard, else the status they chose.
fn shown(connected: bool, chosen: Availability) -> Availability {
    if connected {
        chosen
    } else {
        Availability::Offline
    }
}

impl TenantActor {
    /// Recomputes what every member shows from the store and the shared presence (re-marking this
    /// node's members first), and tells this node's dashboards what changed. With `hold`, the actor
    /// handles nothing else until it is done (at start, so its first answers are right).
    pub(super) fn reload_team(&mut self, ctx: &mut Context<Self>, hold: bool) {
        let presence = self.registry.presence().clone();
        let store = self.store.clone();
        let license = self.license.clone();
        let local = self.team.local_members();
        let load = async move {
            presence.mark_agents(&license, &local.iter().cloned().collect::<Vec<_>>()).await;
            let connected = presence.connected_agents(&license, local).await;
            (connected, store.members(&license).await)
        }
        .into_actor(self)
        .map(move |(connected, members), act, _| {
            let members = match members {
                Ok(members) => members,
                Err(err) => return tracing::warn!(%err, license = %act.license, "team availability not reloaded"),
            };
            let now: HashMap<UserId, Availability> = members
                .into_iter()
                .filter(|m| m.status == "active")
                .map(|m| (shown(connected.contains(&m.id), m.availability), m.id))
                .filter(|(availability, _)| *availability != Availability::Offline)
                .map(|(availability, id)| (id, availability))
                .collect();
            let gone = act.team.shown.keys().filter(|id| !now.contains_key(*id)).cloned().collect::<Vec<_>>();
            let changed = now.iter().filter(|(id, a)| act.team.shown.get(*id) != Some(*a));
            let events: Vec<Event> = changed
                .map(|(id, a)| Event::PresenceUpdated { member_id: id.clone(), availability: *a, connected: true })
                .chain(gone.into_iter().map(|id| Event::PresenceUpdated {
                    member_id: id,
                    availability: Availability::Offline,
                    connected: false,
                }))
                .collect();
            act.team.shown = now;
            if !hold {
                for event in events {
                    act.bus.publish_local(&act.license, event);
                }
            }
        });
        if hold {
            ctx.wait(load);
        } else {
            ctx.spawn(load);
        }
    }

    /// Records this node's change to `member`'s dashboards in the shared presence (`Some(true)`: their
    /// first socket here opened, `Some(false)`: their last closed), then works out what they show and
    /// tells every node. One worker per tenant actor runs these in order, so announcements leave in the
    /// order their causes arrived and the last one is the truth; the actor itself never waits on them.
    fn announce(&mut self, member: UserId, here: Option<bool>, ctx: &Context<Self>) {
        let mut job = Announcement { member, here, local: self.team.local_members() };
        // A worker that is gone (it cannot end while we hold its sender, unless it panicked) is replaced.
        for _ in 0..2 {
            let worker = self.team.announcer.get_or_insert_with(|| {
                let (jobs, queue) = mpsc::unbounded_channel();
                let (presence, store) = (self.registry.presence().clone(), self.store.clone());
                let actor = ctx.address().downgrade();
                tokio::spawn(announce_in_order(queue, actor, presence, store, self.bus.clone(), self.license.clone()));
                jobs
            });
            match worker.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(returned)) => {
                    tracing::warn!(license = %self.license, "the presence announcer stopped; starting another");
                    self.team.announcer = None;
                    job = returned;
                }
            }
        }
    }

    /// Picks an assignee for a conversation this node opened, if the license wants that: among members
    /// showing `online` and under their `max_open`, in turn or by fewest open conversations. Nobody
    /// available: it stays unassigned for whoever takes it.
    pub(super) fn auto_assign(&mut self, conversation: ConversationId, ctx: &mut Context<Self>) {
        let mut candidates: Vec<UserId> =
            self.team.shown.iter().filter(|(_, a)| **a == Availability::Online).map(|(id, _)| id.clone()).collect();
        if candidates.is_empty() {
            return;
        }
        candidates.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let turn = self.team.turn;
        self.team.turn = self.team.turn.wrapping_add(1);
        let (store, registry, license) = (self.store.clone(), self.registry.clone(), self.license.clone());
        ctx.spawn(
            async move {
                let settings = store.team_settings(&license).await?;
                if settings.auto_assignment == AutoAssignment::Off {
                    return Ok(());
                }
                let load = store.open_load(&license).await?;
                let caps: HashMap<UserId, Option<i64>> =
                    store.members(&license).await?.into_iter().map(|m| (m.id, m.max_open)).collect();
                let open = |id: &UserId| load.get(id).copied().unwrap_or(0);
                let eligible: Vec<&UserId> = candidates
                    .iter()
                    .filter(|id| caps.get(*id).is_some_and(|cap| cap.is_none_or(|max| open(id) < max)))
                    .collect();
                if eligible.is_empty() {
                    return Ok(());
                }
                let start = turn % eligible.len();
                let rotated = eligible[start..].iter().chain(&eligible[..start]);
                let pick = match settings.auto_assignment {
                    AutoAssignment::LeastOpen => rotated.min_by_key(|id| open(id)),
                    _ => rotated.into_iter().next(),
                };
                if let Some(pick) = pick {
                    let assign = SetAssignee { assignee: Some((*pick).clone()), by: None };
                    registry.send(&license, &conversation, assign).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                Ok::<(), anyhow::Error>(())
            }
            .into_actor(self)
            .map(|done, act, _| {
                if let Err(err) = done {
                    tracing::warn!(%err, license = %act.license, "auto-assignment failed");
                }
            }),
        );
    }
}

/// A dashboard socket of `member` opened or closed; a new one gets fresh metrics within a second. The
/// member's first socket on this node, or their last, changes what they show.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct DashboardPresence {
    /// Whose socket.
    pub member: UserId,
    /// Opened (true) or closed.
    pub connected: bool,
}

impl Handler<DashboardPresence> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: DashboardPresence, ctx: &mut Self::Context) {
        self.last_active = Instant::now();
        if msg.connected {
            self.metrics_wanted_by_new_dashboard();
        }
        let sockets = self.team.local.entry(msg.member.clone()).or_default();
        if msg.connected {
            self.dashboards += 1;
            *sockets += 1;
            if *sockets == 1 {
                self.announce(msg.member, Some(true), ctx);
            }
        } else {
            self.dashboards = self.dashboards.saturating_sub(1);
            *sockets = sockets.saturating_sub(1);
            if *sockets == 0 {
                self.team.local.remove(&msg.member);
                self.announce(msg.member, Some(false), ctx);
            }
        }
    }
}

/// A member's chosen status (or standing) changed: tell every node what they show now.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct MemberChanged(pub UserId);

impl Handler<MemberChanged> for TenantActor {
    type Result = ();

    fn handle(&mut self, MemberChanged(member): MemberChanged, ctx: &mut Self::Context) {
        self.announce(member, None, ctx);
    }
}

/// What the presence announcer worked out for a member, learnt before it goes on the bus.
#[derive(Message)]
#[rtype(result = "()")]
struct Learn {
    member: UserId,
    availability: Availability,
}

impl Handler<Learn> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: Learn, _: &mut Self::Context) {
        self.team.learn(&msg.member, msg.availability);
    }
}

/// What every member who is not offline shows.
#[derive(Message, Clone)]
#[rtype(result = "HashMap<UserId, Availability>")]
pub struct TeamView;

impl Handler<TeamView> for TenantActor {
    type Result = MessageResult<TeamView>;

    fn handle(&mut self, _: TeamView, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.team.shown.clone())
    }
}
