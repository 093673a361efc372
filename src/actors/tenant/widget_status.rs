//! What a widget learns about the team when it connects or loads its config: whether an agent is
//! available and whether the team is open by its business hours. The hours are read from the store
//! once and kept here; a save forgets them on every node (the saving node directly, the others
//! through the bus event `business_hours_updated`), with [`HOURS_TTL`] as a backstop.

use super::TenantActor;
use crate::domain::BusinessHours;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest the kept hours are trusted without a save being heard of (a bus message lost with Redis).
const HOURS_TTL: Duration = Duration::from_secs(300);

/// The team as the widget shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WidgetTeam {
    /// Some member shows `online`.
    pub agents_available: bool,
    /// Open by the business hours now.
    pub open_now: bool,
    /// What the widget shows while closed.
    pub offline_message: String,
}

/// Asks for [`WidgetTeam`]: one message instead of a store read per widget connection.
#[derive(Message, Clone)]
#[rtype(result = "WidgetTeam")]
pub struct WidgetTeamStatus;

/// The license's business hours were saved: the kept copy is stale.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct HoursChanged;

/// The kept business hours, and a count of saves heard of, so a read that started before a save does
/// not keep what it read.
#[derive(Default)]
pub(super) struct KeptHours {
    hours: Option<(Instant, Arc<BusinessHours>)>,
    saves: u64,
}

impl KeptHours {
    /// Forgets the hours (a save was heard of).
    pub(super) fn forget(&mut self) {
        self.hours = None;
        self.saves += 1;
    }
}

impl TenantActor {
    fn widget_team(&self, hours: &BusinessHours) -> WidgetTeam {
        WidgetTeam {
            agents_available: self.team.any_online(),
            open_now: hours.is_open(chrono::Utc::now()),
            offline_message: hours.offline_message.clone(),
        }
    }
}

impl Handler<WidgetTeamStatus> for TenantActor {
    type Result = ResponseActFuture<Self, WidgetTeam>;

    fn handle(&mut self, _: WidgetTeamStatus, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        if let Some((_, hours)) = self.hours.hours.as_ref().filter(|(read, _)| read.elapsed() < HOURS_TTL) {
            return Box::pin(fut::ready(self.widget_team(hours)));
        }
        let (store, license, saves) = (self.store.clone(), self.license.clone(), self.hours.saves);
        // Read on its own task: the actor only awaits the answer, so its future never holds a store
        // connection while something else of the actor's waits for one.
        let read = tokio::spawn(async move { store.business_hours(&license).await });
        Box::pin(read.into_actor(self).map(move |read, act, _| {
            match read.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
                Ok(hours) => {
                    let hours = Arc::new(hours);
                    if act.hours.saves == saves {
                        act.hours.hours = Some((Instant::now(), hours.clone()));
                    }
                    act.widget_team(&hours)
                }
                Err(err) => {
                    // The widget then offers chat as if open; the next connection reads again.
                    tracing::warn!(%err, license = %act.license, "business hours unavailable");
                    act.widget_team(&BusinessHours::default())
                }
            }
        }))
    }
}

impl Handler<HoursChanged> for TenantActor {
    type Result = ();

    fn handle(&mut self, _: HoursChanged, _: &mut Self::Context) {
        self.hours.forget();
    }
}
