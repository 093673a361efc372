//! The native sockets of one license on this node, as its relay sees them: the relay writes each event
//! into every socket's [`Line`] itself, routed by the socket's own [`route`] (its session, its member,
//! its cursor), so a delivery wakes no task.

use super::line::{Cut, Line};
use crate::bus::{BusEvent, Cursor};
use crate::domain::UserId;
use crate::telemetry::{self, Transport};
use crate::ws::recovery::{route, Live};
use crate::ws::relay::Fanout;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One socket's place in its license's room.
pub(super) struct Seat {
    line: Arc<Line>,
    /// The session the socket was opened with.
    jti: String,
    member: UserId,
    routing: Mutex<Routing>,
}

struct Routing {
    /// Where the socket's live events continue.
    cursor: Cursor,
    /// Events that came while the socket was still being sent what it missed; `None` once it is live.
    held: Option<Vec<Arc<BusEvent>>>,
}

impl Seat {
    /// The seat of the socket on `line`, opened by `member` with session `jti`; it holds the events that
    /// come until [`Seat::go_live`].
    pub(super) fn new(line: Arc<Line>, jti: String, member: UserId) -> Self {
        Self { line, jti, member, routing: Mutex::new(Routing { cursor: Cursor::new(None), held: Some(Vec::new()) }) }
    }

    fn routing(&self) -> MutexGuard<'_, Routing> {
        self.routing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the events held so far that come after `cursor`, then every later one as it comes.
    pub(super) fn go_live(&self, cursor: Cursor) {
        let mut routing = self.routing();
        routing.cursor = cursor;
        for event in routing.held.take().unwrap_or_default() {
            if self.pass(&event, &mut routing.cursor) {
                telemetry::delivered(Transport::SocketIo, 1, Some(event.received));
            }
        }
    }

    /// Writes `event` to the socket unless it is held or routed elsewhere; whether it was written.
    fn deliver(&self, event: &Arc<BusEvent>) -> bool {
        let mut routing = self.routing();
        let routing = &mut *routing;
        match &mut routing.held {
            Some(held) if held.len() == Line::MAX_UNSENT => {
                self.line.cut(Cut::TooSlow);
                false
            }
            Some(held) => {
                held.push(event.clone());
                false
            }
            None => self.pass(event, &mut routing.cursor),
        }
    }

    fn pass(&self, event: &BusEvent, cursor: &mut Cursor) -> bool {
        match route(event, &self.jti, &self.member, cursor) {
            Live::Revoked => {
                self.line.cut(Cut::Revoked);
                false
            }
            Live::Skip => false,
            Live::Send => {
                self.line.relay(event.socketio_ws_frame());
                true
            }
        }
    }
}

/// A license's native sockets on this node. Joining or leaving copies the list; each event reads it
/// once, so sockets come and go without holding up a delivery.
#[derive(Clone, Default)]
pub(in crate::ws::socketio) struct Room(Arc<Mutex<Arc<Vec<Arc<Seat>>>>>);

impl Room {
    fn seats(&self) -> MutexGuard<'_, Arc<Vec<Arc<Seat>>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seats `seat`; it stays until the returned membership is dropped.
    pub(super) fn enter(&self, seat: Arc<Seat>) -> Membership {
        let mut seats = self.seats();
        let mut grown = Vec::with_capacity(seats.len() + 1);
        grown.extend(seats.iter().cloned());
        grown.push(seat.clone());
        *seats = Arc::new(grown);
        Membership { room: self.clone(), seat }
    }
}

/// A seat in a room, given up when dropped: the relay writes to its socket no more.
pub(super) struct Membership {
    room: Room,
    seat: Arc<Seat>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.seat.line.cut(Cut::Left);
        let mut seats = self.room.seats();
        let rest = seats.iter().filter(|seat| !Arc::ptr_eq(seat, &self.seat)).cloned().collect();
        *seats = Arc::new(rest);
    }
}

impl Fanout for Room {
    fn open() -> Self {
        Self::default()
    }

    fn pass(&self, event: Arc<BusEvent>) -> bool {
        let seats = self.seats().clone();
        let written = seats.iter().map(|seat| u64::from(seat.deliver(&event))).sum();
        telemetry::delivered(Transport::SocketIo, written, Some(event.received));
        !seats.is_empty()
    }

    fn idle(&self) -> bool {
        self.seats().is_empty()
    }

    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn stop(&self) {
        for seat in self.seats().iter() {
            seat.line.cut(Cut::Restart);
        }
    }
}
