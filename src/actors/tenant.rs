//! `TenantActor`: one per license, counting the license's visitors online across their tabs.

use super::registry::Registry;
use crate::bus::{Activity, Event, SharedBus};
use crate::domain::LicenseKey;
use actix::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The live state of one license.
pub struct TenantActor {
    license: LicenseKey,
    bus: SharedBus,
    registry: Registry,
    /// Visitor id → open widget sockets (tabs).
    visitors: HashMap<String, usize>,
    last_active: Instant,
    idle_after: Duration,
}

impl TenantActor {
    /// A fresh actor for `license`.
    pub fn new(license: LicenseKey, bus: SharedBus, registry: Registry, idle_after: Duration) -> Self {
        Self {
            license,
            bus,
            registry,
            visitors: HashMap::new(),
            last_active: Instant::now(),
            idle_after,
        }
    }
}

impl Actor for TenantActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let check_every = (self.idle_after / 2).max(Duration::from_millis(200));
        ctx.run_interval(check_every, |act, ctx| {
            if act.visitors.is_empty() && act.last_active.elapsed() >= act.idle_after {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.registry.forget_tenant(&self.license, &ctx.address());
    }
}

/// A widget socket of `visitor_id` opened.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct VisitorConnected {
    /// The visitor.
    pub visitor_id: String,
}

impl Handler<VisitorConnected> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: VisitorConnected, _: &mut Self::Context) {
        self.last_active = Instant::now();
        let tabs = self.visitors.entry(msg.visitor_id.clone()).or_default();
        *tabs += 1;
        if *tabs == 1 {
            self.bus.publish(
                &self.license,
                Event::Activity(Activity::VisitorOnline {
                    visitor_id: msg.visitor_id,
                }),
            );
        }
    }
}

/// A widget socket of `visitor_id` closed.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct VisitorDisconnected {
    /// The visitor.
    pub visitor_id: String,
}

impl Handler<VisitorDisconnected> for TenantActor {
    type Result = ();

    fn handle(&mut self, msg: VisitorDisconnected, _: &mut Self::Context) {
        self.last_active = Instant::now();
        let Some(tabs) = self.visitors.get_mut(&msg.visitor_id) else {
            return;
        };
        *tabs = tabs.saturating_sub(1);
        if *tabs == 0 {
            self.visitors.remove(&msg.visitor_id);
            self.bus.publish(
                &self.license,
                Event::Activity(Activity::VisitorOffline {
                    visitor_id: msg.visitor_id,
                }),
            );
        }
    }
}
