//! Visitors in the tenant actor: widget sockets opening and closing, and their shared presence.

use super::TenantActor;
use crate::bus::{Activity, Event};
use crate::domain::ContactId;
use actix::prelude::*;
use std::time::Instant;
use tokio::sync::watch;

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
            let presence = self.registry.presence().clone();
            let (license, visitor) = (self.license.clone(), msg.visitor_id.to_string());
            ctx.spawn(async move { presence.mark_online(&license, vec![visitor]).await }.into_actor(self));
            self.bus
                .publish(&self.license, Event::Activity(Activity::VisitorOnline { visitor_id: msg.visitor_id.into() }));
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
            let presence = self.registry.presence().clone();
            let (license, visitor) = (self.license.clone(), msg.visitor_id.to_string());
            ctx.spawn(async move { presence.mark_offline(&license, visitor).await }.into_actor(self));
            self.bus.publish(
                &self.license,
                Event::Activity(Activity::VisitorOffline { visitor_id: msg.visitor_id.into() }),
            );
        }
    }
}
