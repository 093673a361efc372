//! What a dashboard is told when it (re)connects, before any live event, on both transports: the events
//! it missed since the `{offset, epoch}` it gave, in order, then `recovery:ready {epoch, offset, replayed}`;
//! or `recovery:reset {epoch, offset}` when its place is gone (older than the window, another epoch), so
//! it refetches over HTTP. Either way it is then at `{epoch, offset}`, and live events continue from there.

use crate::bus::{BusEvent, CatchUp, Cursor, Event, Position};
use crate::domain::UserId;
use serde_json::{json, Value};
use std::sync::Arc;

/// Sent after the replay: the dashboard is caught up.
pub const READY: &str = "recovery:ready";
/// Sent instead of a replay: the dashboard must refetch.
pub const RESET: &str = "recovery:reset";

/// A dashboard's recovery: what to replay, what to say then, and where its live events continue.
pub struct Recovery {
    /// The missed events meant for this member, oldest first.
    pub missed: Vec<Arc<BusEvent>>,
    /// `recovery:ready` or `recovery:reset`, with its data.
    pub notice: (&'static str, Value),
    /// Skips the live events the replay already covered.
    pub cursor: Cursor,
}

impl Recovery {
    /// The recovery of `member` from `catch_up`, up to `at`: where its live events will continue (the
    /// history's present for a plain socket, what the Socket.IO bridge has broadcast for a room).
    pub fn plan(catch_up: CatchUp, member: &UserId, at: Option<Position>) -> Self {
        match (catch_up, at) {
            (CatchUp::Missed { events, now }, Some(at)) if now.epoch == at.epoch => {
                let missed: Vec<_> = events
                    .into_iter()
                    .filter(|e| e.position.as_ref().is_some_and(|p| p.offset <= at.offset) && replayable(e, member))
                    .collect();
                let data = json!({ "epoch": at.epoch, "offset": at.offset, "replayed": missed.len() });
                Self { missed, notice: (READY, data), cursor: Cursor::new(Some(at)) }
            }
            (_, at) => {
                let data = json!({
                    "epoch": at.as_ref().map(|p| p.epoch.clone()),
                    "offset": at.as_ref().map(|p| p.offset),
                });
                Self { missed: Vec::new(), notice: (RESET, data), cursor: Cursor::new(at) }
            }
        }
    }

    /// Where live events continue once the replay is sent; the missed events and the notice are dropped
    /// (a socket holding them for its whole life held a map and the replayed events).
    pub fn into_cursor(self) -> Cursor {
        self.cursor
    }

    /// The notice as a plain dashboard frame.
    pub fn notice_frame(&self) -> String {
        json!({ "event": self.notice.0, "data": self.notice.1 }).to_string()
    }
}

/// What a dashboard socket does with a live event of its license (the same on both transports).
#[derive(Debug, PartialEq, Eq)]
pub enum Live {
    /// The socket's own session was revoked: close it.
    Revoked,
    /// Not for this socket: internal, already replayed, or another member's notification.
    Skip,
    /// Send it.
    Send,
}

/// What the socket of `member`, opened with session `jti`, does with `event`; `cursor` is where its live
/// events continue, and moves past the event unless the event is internal.
pub fn route(event: &BusEvent, jti: &str, member: &UserId, cursor: &mut Cursor) -> Live {
    if event.event.revokes(jti) {
        return Live::Revoked;
    }
    if matches!(event.event, Event::SessionRevoked { .. }) || !cursor.advance(event) || !event.event.is_for(member) {
        return Live::Skip;
    }
    Live::Send
}

/// Whether a past event is shown to `member` again: not internal ones, not another member's notifications.
fn replayable(event: &BusEvent, member: &UserId) -> bool {
    !matches!(event.event, Event::SessionRevoked { .. }) && event.event.is_for(member)
}
