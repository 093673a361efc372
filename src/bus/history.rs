//! Dashboard recovery: each license's events form one history, numbered by `offset` within an `epoch`.
//! A bounded window of the latest events (in-process here, a capped Redis stream in [`super::RedisBus`])
//! lets a reconnecting dashboard receive exactly what it missed, or learn that it must refetch.
//!
//! The epoch names one unbroken history: it changes when the history is lost (a single node restarts;
//! Redis forgets the license's stream, or a node could not append to it), so an offset is only ever
//! compared within its epoch.

use super::BusEvent;
use crate::domain::LicenseKey;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// A place in a license's history: the `offset`-th event of `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The history this offset counts in.
    pub epoch: Arc<str>,
    /// The number of the event (1 for the first).
    pub offset: u64,
}

impl Position {
    /// Where a client says it stopped: both parts, or nothing (a fresh start). An offset without an epoch
    /// matches no history (so it resets); an epoch without an offset asks for all of that epoch's window.
    pub fn from_client(offset: Option<u64>, epoch: Option<String>) -> Option<Self> {
        match (offset, epoch) {
            (None, None) => None,
            (offset, epoch) => Some(Self { epoch: epoch.unwrap_or_default().into(), offset: offset.unwrap_or(0) }),
        }
    }
}

/// A new random epoch.
pub(crate) fn new_epoch() -> Arc<str> {
    uuid::Uuid::new_v4().simple().to_string()[..16].into()
}

/// What a (re)connecting dashboard is owed.
#[derive(Debug)]
pub enum CatchUp {
    /// The events after its position, in order (none for a fresh start); it is then at `now`.
    Missed {
        /// The missed events, oldest first.
        events: Vec<Arc<BusEvent>>,
        /// Where the license's history stands.
        now: Position,
    },
    /// Its position is gone (older than the window, another epoch): it must refetch, then continue from
    /// `now` (`None` while the history cannot be read).
    Reset {
        /// Where the license's history stands, if known.
        now: Option<Position>,
    },
}

impl CatchUp {
    /// Where the license's history stands, if known.
    pub fn now(&self) -> Option<&Position> {
        match self {
            Self::Missed { now, .. } => Some(now),
            Self::Reset { now } => now.as_ref(),
        }
    }

    /// Judges a client's position against the history: `now`, and what the window holds after `from`.
    pub(crate) fn judge(from: Option<&Position>, now: Position, after: Vec<Arc<BusEvent>>) -> Self {
        let Some(from) = from else { return Self::Missed { events: Vec::new(), now } };
        if from.epoch != now.epoch || from.offset > now.offset {
            return Self::Reset { now: Some(now) };
        }
        if from.offset == now.offset {
            return Self::Missed { events: Vec::new(), now };
        }
        // Every event is in the history, so the window must start right after the client's offset.
        let first = after.first().and_then(|e| e.position.as_ref()).map(|p| p.offset);
        if first != Some(from.offset + 1) {
            return Self::Reset { now: Some(now) };
        }
        let events =
            after.into_iter().filter(|e| e.position.as_ref().is_some_and(|p| p.offset <= now.offset)).collect();
        Self::Missed { events, now }
    }
}

/// Where one dashboard (or one Socket.IO bridge) stands: live events it already got (replayed) are skipped.
#[derive(Debug, Default)]
pub struct Cursor(Option<Position>);

impl Cursor {
    /// A cursor at `position` (`None`: everything is news).
    pub fn new(position: Option<Position>) -> Self {
        Self(position)
    }

    /// Where it stands.
    pub fn position(&self) -> Option<&Position> {
        self.0.as_ref()
    }

    /// Whether `event` is news, moving the cursor past it. Events without a position always are; one from
    /// another epoch starts that epoch.
    pub fn advance(&mut self, event: &BusEvent) -> bool {
        let Some(position) = &event.position else { return true };
        match &self.0 {
            Some(at) if at.epoch == position.epoch && position.offset <= at.offset => false,
            _ => {
                self.0 = Some(position.clone());
                true
            }
        }
    }
}

/// The single-node history: a counter and a ring of the latest `window` events per license, under one
/// epoch drawn at start (a restart loses the history, so it draws a new one).
pub(crate) struct LocalHistory {
    epoch: Arc<str>,
    window: usize,
    licenses: DashMap<LicenseKey, Ring>,
}

#[derive(Default)]
struct Ring {
    offset: u64,
    events: VecDeque<Arc<BusEvent>>,
}

impl LocalHistory {
    /// An empty history keeping `window` events per license.
    pub(crate) fn new(window: usize) -> Self {
        Self { epoch: new_epoch(), window, licenses: DashMap::new() }
    }

    /// Numbers `event` as the license's next, keeps it, and hands it to `deliver` before the next one can
    /// be numbered (the license's entry stays locked meanwhile), so sockets see offsets in order.
    pub(crate) fn append(&self, license: &LicenseKey, event: super::Event, deliver: impl FnOnce(Arc<BusEvent>)) {
        let mut ring = self.licenses.entry(license.clone()).or_default();
        ring.offset += 1;
        let position = Position { epoch: self.epoch.clone(), offset: ring.offset };
        let event = Arc::new(BusEvent::at(event, position, false));
        if self.window > 0 {
            if ring.events.len() == self.window {
                ring.events.pop_front();
            }
            ring.events.push_back(event.clone());
        }
        deliver(event);
    }

    /// What a client at `from` missed.
    pub(crate) fn catch_up(&self, license: &LicenseKey, from: Option<&Position>) -> CatchUp {
        let (offset, after) = match self.licenses.get(license) {
            Some(ring) => {
                let after = from.map_or_else(Vec::new, |from| {
                    ring.events
                        .iter()
                        .filter(|e| e.position.as_ref().is_some_and(|p| p.offset > from.offset))
                        .cloned()
                        .collect()
                });
                (ring.offset, after)
            }
            None => (0, Vec::new()),
        };
        CatchUp::judge(from, Position { epoch: self.epoch.clone(), offset }, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Activity, Event};

    fn online(id: &str) -> Event {
        Event::Activity(Activity::VisitorPresence { online: vec![id.into()], offline: Vec::new() })
    }

    fn offsets(catch_up: &CatchUp) -> Option<Vec<u64>> {
        match catch_up {
            CatchUp::Missed { events, .. } => {
                Some(events.iter().filter_map(|e| e.position.as_ref()).map(|p| p.offset).collect())
            }
            CatchUp::Reset { .. } => None,
        }
    }

    #[test]
    fn a_client_gets_what_it_missed_or_a_reset() {
        let history = LocalHistory::new(3);
        let license = LicenseKey::generate();
        let mut delivered = Vec::new();
        for i in 0..5 {
            history.append(&license, online(&format!("v{i}")), |e| delivered.push(e));
        }
        let epoch = delivered[0].position.clone().map(|p| p.epoch).unwrap_or_default();
        let at = |offset| Position { epoch: epoch.clone(), offset };
        assert_eq!(offsets(&history.catch_up(&license, Some(&at(3)))), Some(vec![4, 5]));
        assert_eq!(offsets(&history.catch_up(&license, Some(&at(2)))), Some(vec![3, 4, 5]), "the whole window");
        assert_eq!(offsets(&history.catch_up(&license, Some(&at(5)))), Some(vec![]), "up to date");
        assert_eq!(offsets(&history.catch_up(&license, None)), Some(vec![]), "a fresh start");
        assert_eq!(offsets(&history.catch_up(&license, Some(&at(1)))), None, "older than the window");
        assert_eq!(offsets(&history.catch_up(&license, Some(&at(9)))), None, "ahead of the history");
        let other = Position { epoch: "another".into(), offset: 4 };
        assert_eq!(offsets(&history.catch_up(&license, Some(&other))), None, "another epoch");
        assert_eq!(history.catch_up(&license, None).now(), Some(&at(5)));
    }

    #[test]
    fn a_cursor_skips_what_was_replayed() {
        let placed = |epoch: &str, offset| BusEvent::at(online("v"), Position { epoch: epoch.into(), offset }, false);
        let mut cursor = Cursor::new(Some(Position { epoch: "e".into(), offset: 4 }));
        assert!(!cursor.advance(&placed("e", 3)));
        assert!(!cursor.advance(&placed("e", 4)));
        assert!(cursor.advance(&BusEvent::new(online("v"))), "not history: always news");
        assert!(cursor.advance(&placed("e", 5)));
        assert!(cursor.advance(&placed("f", 1)), "a new epoch");
        assert_eq!(cursor.position().map(|p| p.offset), Some(1));
    }
}
