//! Visitors in the tenant actor: widget sockets opening and closing, and their shared presence.
//!
//! Dashboards hear of visitors coming and going through `activity:new {type: "visitor_presence"}`, at
//! most one a second per license: the first change after a quiet second goes out at once, and the changes
//! of a burst (a campaign page opening, a node's sockets reconnecting) wait for the next announcement.
//! One event per visitor would cost visitors × dashboards frames, which a large license cannot afford.

use super::TenantActor;
use crate::bus::{Activity, Event};
use crate::domain::ContactId;
use actix::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often visitors' presence is announced to dashboards, at most.
const PRESENCE_EVERY: Duration = Duration::from_secs(1);

/// A widget socket of `visitor_id` opened. Answers a receiver that changes when the license is
/// suspended, so the socket can close at once rather than at its next message.
#[derive(Message, Clone)]
#[rtype(result = "watch::Receiver<u64>")]
pub struct VisitorConnected {
    /// The visitor.
    pub visitor_id: ContactId,
}

impl Handler<VisitorConnected> for TenantActor {
    type Result = MessageResult<VisitorConnected>;

    fn handle(&mut self, msg: VisitorConnected, ctx: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let tabs = self.visitors.entry(msg.visitor_id.clone()).or_default();
        *tabs += 1;
        if *tabs == 1 {
            self.presence.changes.insert(msg.visitor_id, true);
            self.announce_presence(ctx);
        }
        MessageResult(self.suspensions.subscribe())
    }
}

/// A widget socket of `visitor_id` closed.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct VisitorDisconnected {
    /// The visitor.
    pub visitor_id: ContactId,
}

impl Handler<VisitorDisconnected> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: VisitorDisconnected, ctx: &mut Self::Context) {
        self.last_active = Instant::now();
        let Some(tabs) = self.visitors.get_mut(&msg.visitor_id) else {
            return;
        };
        *tabs = tabs.saturating_sub(1);
        if *tabs == 0 {
            self.visitors.remove(&msg.visitor_id);
            self.presence.changes.insert(msg.visitor_id, false);
            self.announce_presence(ctx);
        }
    }
}

/// Presence changes not announced yet, and when the last announcement went out.
#[derive(Default)]
pub(super) struct PendingPresence {
    /// Visitor → online now; a later change replaces an earlier one.
    changes: BTreeMap<ContactId, bool>,
    /// An announcement is due later (the last one was under [`PRESENCE_EVERY`] ago).
    scheduled: bool,
    /// When the last announcement went out.
    last: Option<Instant>,
}

impl TenantActor {
    /// Announces the pending changes now, or once [`PRESENCE_EVERY`] has passed since the last announcement.
    fn announce_presence(&mut self, ctx: &mut Context<Self>) {
        if self.presence.scheduled {
            return;
        }
        let wait = self.presence.last.map_or(Duration::ZERO, |last| PRESENCE_EVERY.saturating_sub(last.elapsed()));
        if wait.is_zero() {
            self.flush_presence(ctx);
        } else {
            self.presence.scheduled = true;
            ctx.run_later(wait, |act, ctx| {
                act.presence.scheduled = false;
                act.flush_presence(ctx);
            });
        }
    }

    /// Tells the shared presence set and the dashboards who came and went.
    fn flush_presence(&mut self, ctx: &mut Context<Self>) {
        let changes = std::mem::take(&mut self.presence.changes);
        if changes.is_empty() {
            return;
        }
        self.presence.last = Some(Instant::now());
        let (mut online, mut offline) = (Vec::new(), Vec::new());
        for (visitor, is_online) in changes {
            if is_online { &mut online } else { &mut offline }.push(visitor.to_string());
        }
        let presence = self.registry.presence().clone();
        let (license, marked_online, marked_offline) = (self.license.clone(), online.clone(), offline.clone());
        ctx.spawn(
            async move {
                presence.mark_online(&license, marked_online).await;
                presence.mark_offline(&license, marked_offline).await;
            }
            .into_actor(self),
        );
        self.bus.publish(&self.license, Event::Activity(Activity::VisitorPresence { online, offline }));
    }
}
