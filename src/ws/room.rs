//! The dashboard sockets of one license on this node (of one transport, in one group), as its relay
//! sees them: the relay writes each event into every socket's [`Line`] itself, routed by the socket's
//! own [`route`] (its session, its member, its cursor), so a delivery wakes no task.

use super::line::{Cut, Line};
use crate::bus::{BusEvent, Cursor};
use crate::domain::UserId;
use crate::telemetry::{self, Transport};
use crate::ws::recovery::{route, Live};
use crate::ws::relay::Fanout;
use bytes::Bytes;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How a room's sockets frame an event, and what their deliveries count as.
pub trait Framing: Send + Sync + 'static {
    /// The sockets' transport, for the delivery metrics.
    const TRANSPORT: Transport;
    /// `event` as one whole WebSocket frame, encoded once for every socket.
    fn frame(event: &BusEvent) -> &Bytes;
}

/// Plain dashboards' frames: `{"event","data","offset","epoch"}`.
pub struct PlainFrames;

impl Framing for PlainFrames {
    const TRANSPORT: Transport = Transport::DashboardWs;
    fn frame(event: &BusEvent) -> &Bytes {
        event.ws_frame()
    }
}

/// Socket.IO's frames: `42["name",data]`.
pub struct SocketIoFrames;

impl Framing for SocketIoFrames {
    const TRANSPORT: Transport = Transport::SocketIo;
    fn frame(event: &BusEvent) -> &Bytes {
        event.socketio_ws_frame()
    }
}

/// One socket's place in its license's room.
pub struct Seat<F> {
    line: Arc<Line>,
    /// The session the socket was opened with.
    jti: String,
    member: UserId,
    routing: Mutex<Routing>,
    framing: PhantomData<fn() -> F>,
}

struct Routing {
    /// Where the socket's live events continue.
    cursor: Cursor,
    /// Events that came while the socket was still being sent what it missed; `None` once it is live.
    held: Option<Vec<Arc<BusEvent>>>,
}

impl<F: Framing> Seat<F> {
    /// The seat of the socket on `line`, opened by `member` with session `jti`; it holds the events that
    /// come until [`Seat::go_live`].
    pub fn new(line: Arc<Line>, jti: String, member: UserId) -> Self {
        let routing = Mutex::new(Routing { cursor: Cursor::new(None), held: Some(Vec::new()) });
        Self { line, jti, member, routing, framing: PhantomData }
    }

    fn routing(&self) -> MutexGuard<'_, Routing> {
        self.routing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the events held so far that come after `cursor`, then every later one as it comes.
    pub fn go_live(&self, cursor: Cursor) {
        let mut routing = self.routing();
        routing.cursor = cursor;
        for event in routing.held.take().unwrap_or_default() {
            if self.pass(&event, &mut routing.cursor) {
                telemetry::delivered(F::TRANSPORT, 1, Some(event.received));
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
                self.line.relay(F::frame(event));
                true
            }
        }
    }
}

/// A license's sockets of one transport in one group on this node. Joining or leaving copies the list;
/// each event reads it once, so sockets come and go without holding up a delivery.
pub struct Room<F>(Arc<Mutex<Seats<F>>>);

/// A room's list of seats as one event reads it.
type Seats<F> = Arc<Vec<Arc<Seat<F>>>>;

impl<F> Clone for Room<F> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<F> Default for Room<F> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<F: Framing> Room<F> {
    fn seats(&self) -> MutexGuard<'_, Seats<F>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seats `seat`; it stays until the returned membership is dropped.
    pub fn enter(&self, seat: Arc<Seat<F>>) -> Membership<F> {
        let mut seats = self.seats();
        let mut grown = Vec::with_capacity(seats.len() + 1);
        grown.extend(seats.iter().cloned());
        grown.push(seat.clone());
        *seats = Arc::new(grown);
        Membership { room: self.clone(), seat }
    }
}

/// A seat in a room, given up when dropped: the relay writes to its socket no more.
pub struct Membership<F: Framing> {
    room: Room<F>,
    seat: Arc<Seat<F>>,
}

impl<F: Framing> Drop for Membership<F> {
    fn drop(&mut self) {
        self.seat.line.cut(Cut::Left);
        let mut seats = self.room.seats();
        let rest = seats.iter().filter(|seat| !Arc::ptr_eq(seat, &self.seat)).cloned().collect();
        *seats = Arc::new(rest);
    }
}

impl<F: Framing> Fanout for Room<F> {
    fn open() -> Self {
        Self::default()
    }

    fn pass(&self, event: Arc<BusEvent>) -> bool {
        let seats = self.seats().clone();
        let written = seats.iter().map(|seat| u64::from(seat.deliver(&event))).sum();
        telemetry::delivered(F::TRANSPORT, written, Some(event.received));
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
