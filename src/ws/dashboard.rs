//! The dashboard WebSocket loop (`GET /ws/dashboard`, upgraded in `http::sockets`): the live events of
//! the caller's license as `{"event": …, "data": …, "offset": …, "epoch": …}` frames, for clients without
//! Socket.IO. It opens with the client's [`recovery`](crate::ws::recovery); the client may send `ping` and
//! `{"type":"typing","conversation_id","is_typing"}` (the agent's typing indicator, as the Socket.IO emit).
//!
//! The live events are written by the license's relay on this HTTP worker, straight into the socket's
//! connection ([`crate::ws::room`], [`crate::ws::line`]), as for native Socket.IO sockets: a delivery wakes
//! no task. The socket's loop reads the client and writes its own frames (the replay, pongs, pings, the
//! close) through the same line, so frames never interleave.

use crate::actors::{agent_conversation, DashboardPresence, Registry, Teammate, TenantActor};
use crate::bus::{CatchUp, SharedBus};
use crate::domain::LicenseKey;
use crate::shutdown::Shutdown;
use crate::telemetry::{SocketGauge, Transport};
use crate::ws::driver::{close_label, restarting, revoked, too_slow, KeepAlive, SendError};
use crate::ws::frame_guard::FrameGuard;
use crate::ws::line::{Cut, Line};
use crate::ws::protocol_close;
use crate::ws::recovery::Recovery;
use crate::ws::relay::Relays;
use crate::ws::room::{Membership, PlainFrames, Room, Seat};
use crate::ws::writer::{encode, encode_close, SocketWriter};
use actix::Addr;
use actix_http::ws::OpCode;
use actix_web::web::BytesMut;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use std::sync::Arc;

/// Largest frame a dashboard may send: it only sends pings.
pub const MAX_FRAME_BYTES: usize = 4096;

/// About how many bytes of a recovery's missed events go out in one write.
const REPLAY_WRITE: usize = 16 * 1024;

thread_local! {
    /// An HTTP worker thread's relays: each worker is a single-threaded runtime of its own, so a
    /// license's relay there writes to that worker's sockets without waking another thread.
    static WORKER_RELAYS: Arc<Relays<Room<PlainFrames>>> = Arc::default();
}

/// A dashboard's place in its license's room on this worker, taken before the upgrade answers.
pub struct Place {
    /// The socket's connection as the relay writes to it; connected once the 101 is written.
    line: Arc<Line>,
    /// Holds the live events until the replay is written, then routes them.
    seat: Arc<Seat<PlainFrames>>,
    /// Keeps the seat in the room until the socket leaves it.
    membership: Option<Membership<PlainFrames>>,
}

impl Place {
    /// Seats `teammate`'s socket, opened with session `jti`, in `license`'s room on this worker's relay:
    /// it gets every event published from now on (held until its replay is written).
    pub fn take(bus: &SharedBus, license: &LicenseKey, jti: &str, teammate: &Teammate) -> Self {
        let line = Arc::new(Line::unconnected());
        let seat = Arc::new(Seat::new(line.clone(), jti.to_owned(), teammate.id.clone()));
        let membership = WORKER_RELAYS.with(|relays| relays.join(bus, license, |room| room.enter(seat.clone())));
        Self { line, seat, membership: Some(membership) }
    }

    /// Gives the seat up: the relay writes no more to the socket, so its own close goes out last.
    fn leave(&mut self) {
        self.membership = None;
    }
}

/// An upgraded dashboard socket and what its loop needs.
pub struct DashboardSocket {
    /// Holds the connection until the 101 is written; then the line writes to it.
    pub session: SocketWriter,
    /// Reads from the client.
    pub stream: actix_ws::AggregatedMessageStream,
    /// Tells an oversized frame from other protocol errors.
    pub guard: FrameGuard,
    /// Its seat in the license's room, taken before the upgrade answered.
    pub place: Place,
    /// What the client missed since the position it gave, read after the seat was taken and before the
    /// upgrade answered: whatever the client causes once connected reaches it live, past the cursor.
    pub catch_up: CatchUp,
    /// The license's tenant actor, told while an agent is connected.
    pub tenant: Addr<TenantActor>,
    /// Whose socket it is: notifications for other members are not sent; typing frames act as them.
    pub teammate: Teammate,
    /// The actors, for the typing frames the agent sends.
    pub registry: Registry,
    /// The server's stop signal.
    pub shutdown: Shutdown,
}

impl DashboardSocket {
    /// Counts the agent online, replays what the client missed, then lets the relay write the live
    /// events while it answers the client, until the socket ends; then counts it offline and closes.
    ///
    /// Boxed, and the loop works on its fields in place: an async fn keeps its arguments beside whatever
    /// it moves them into (an owned `self` included), for as long as it runs (here, the socket's life).
    pub async fn run(mut self: Box<Self>) {
        let Some(write) = self.session.take_connection().await else { return };
        self.place.line.connect(write);
        let member = self.teammate.id.clone();
        self.tenant.do_send(DashboardPresence { member: member.clone(), connected: true });
        let mut gauge = SocketGauge::open(Transport::DashboardWs);
        let catch_up = std::mem::replace(&mut self.catch_up, CatchUp::Reset { now: None });
        let now = catch_up.now().cloned();
        let recovery = Recovery::plan(catch_up, &member, now);
        // Boxed: the replay runs once, and its state would otherwise stay in the task for the socket's life.
        let reason = match Box::pin(replay(&self.place.line, &recovery)).await {
            Err(reason) => reason,
            Ok(()) => {
                self.place.seat.go_live(recovery.into_cursor());
                self.serve().await
            }
        };
        self.place.leave();
        gauge.set_reason(close_label(reason.as_ref()));
        self.tenant.do_send(DashboardPresence { member, connected: false });
        if let Some(reason) = reason {
            let _ = self.place.line.send(&encode_close(Some(reason))).await;
        }
    }

    /// Answers the client while the relay writes the live events, until the client leaves, falls
    /// behind or must go; returns the close reason, if any.
    async fn serve(&mut self) -> Option<CloseReason> {
        let Self { stream, guard, place, teammate, registry, shutdown, .. } = self;
        let line = &place.line;
        let mut keep_alive = KeepAlive::new();
        let mut stalled = None;
        // Made once, not each time round: waiting on a signal every socket shares takes a lock.
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                cut = line.until_cut(&mut stalled) => return match cut {
                    Some(Cut::Revoked) => Some(revoked()),
                    Some(Cut::TooSlow) => Some(too_slow()),
                    Some(Cut::Restart) => Some(restarting()),
                    Some(Cut::Gone | Cut::Left) => None,
                    // The client took nothing for a send timeout: no room for a close either.
                    None => None,
                },
                frame = stream.recv() => {
                    keep_alive.heard();
                    match frame {
                        None => return None,
                        // Answer the client's close with the same code, as RFC 6455 asks.
                        Some(Ok(AggregatedMessage::Close(reason))) => return Some(reason.unwrap_or(CloseCode::Normal.into())),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => if let Err(err) = send(line, OpCode::Pong, &bytes).await { return err.into_close() },
                        Some(Ok(AggregatedMessage::Text(text))) if text.contains("\"ping\"") => {
                            if let Err(err) = send(line, OpCode::Text, br#"{"event":"pong","data":null}"#).await { return err.into_close() }
                        }
                        Some(Ok(AggregatedMessage::Text(text))) => Box::pin(typing(registry, teammate, &text)).await,
                        Some(Ok(_)) => {}
                        Some(Err(err)) => return Some(protocol_close(&err, guard, MAX_FRAME_BYTES)),
                    }
                }
                _ = &mut stopping => {
                    return Some(restarting());
                }
                beat = keep_alive.beat() => match beat {
                    Err(reason) => return Some(reason),
                    Ok(()) => if let Err(err) = send(line, OpCode::Ping, b"").await { return err.into_close() },
                },
            }
        }
    }
}

/// Writes one of the socket's own frames through its line, behind whatever the relay left waiting.
async fn send(line: &Line, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
    line.send(&encode(opcode, payload)).await
}

/// A typing frame from the agent: `{"type":"typing","conversation_id","is_typing"}`.
#[derive(serde::Deserialize)]
struct TypingFrame {
    #[serde(rename = "type")]
    kind: String,
    conversation_id: String,
    is_typing: bool,
}

/// Passes an agent's typing frame on to the conversation as `teammate`; anything else the client sends is
/// ignored, and so is a refusal (a viewer, an unknown conversation): typing is a hint, never worth an error.
async fn typing(registry: &Registry, teammate: &Teammate, text: &str) {
    let Ok(frame) = serde_json::from_str::<TypingFrame>(text) else { return };
    if frame.kind != "typing" {
        return;
    }
    if let Ok(id) = agent_conversation(&frame.conversation_id) {
        let _ = registry.agent_typing(teammate, &id, frame.is_typing).await;
    }
}

/// Sends the missed events, then `recovery:ready` (or just `recovery:reset`); `Err` holds the close.
async fn replay(line: &Line, recovery: &Recovery) -> Result<(), Option<CloseReason>> {
    // Gathered into writes of about `REPLAY_WRITE` bytes rather than one write an event.
    let mut batch = BytesMut::new();
    for event in &recovery.missed {
        batch.extend_from_slice(event.ws_frame());
        if batch.len() >= REPLAY_WRITE {
            line.push(&batch).map_err(|_| None)?;
            batch.clear();
        }
    }
    batch.extend_from_slice(&encode(OpCode::Text, recovery.notice_frame().as_bytes()));
    line.send(&batch).await.map_err(SendError::into_close)
}
