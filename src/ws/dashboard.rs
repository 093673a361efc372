//! The dashboard WebSocket loop (`GET /ws/dashboard`, upgraded in `http::sockets`): the live events of
//! the caller's license as `{"event": …, "data": …, "offset": …, "epoch": …}` frames, for clients without
//! Socket.IO. It opens with the client's [`recovery`](crate::ws::recovery); the client may send `ping` and
//! `{"type":"typing","conversation_id","is_typing"}` (the agent's typing indicator, as the Socket.IO emit).

use crate::actors::{agent_conversation, DashboardPresence, Registry, Teammate, TenantActor};
use crate::bus::{BusEvent, CatchUp, Cursor, Event};
use crate::domain::UserId;
use crate::shutdown::Shutdown;
use crate::telemetry::SocketGauge;
use crate::ws::driver::{close_label, restarting, send_text, too_slow, KeepAlive, SendError};
use crate::ws::frame_guard::FrameGuard;
use crate::ws::protocol_close;
use crate::ws::recovery::Recovery;
use crate::ws::writer::SocketWriter;
use actix::Addr;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

/// Close code when the socket's session is revoked (logout, license suspended).
const CLOSE_REVOKED: u16 = 4003;
/// Largest frame a dashboard may send: it only sends pings.
pub const MAX_FRAME_BYTES: usize = 4096;

/// An upgraded dashboard socket and what its loop needs.
pub struct DashboardSocket {
    /// Writes to the client.
    pub session: SocketWriter,
    /// Reads from the client.
    pub stream: actix_ws::AggregatedMessageStream,
    /// Tells an oversized frame from other protocol errors.
    pub guard: FrameGuard,
    /// The license's bus events, subscribed before the upgrade answered.
    pub events: broadcast::Receiver<Arc<BusEvent>>,
    /// What the client missed since the position it gave, read after `events` was subscribed and before
    /// the upgrade answered: whatever the client causes once connected reaches it live, past the cursor.
    pub catch_up: CatchUp,
    /// The license's tenant actor, told while an agent is connected.
    pub tenant: Addr<TenantActor>,
    /// The session the socket was opened with; revoking it closes the socket.
    pub jti: String,
    /// Whose socket it is: notifications for other members are not sent; typing frames act as them.
    pub teammate: Teammate,
    /// The actors, for the typing frames the agent sends.
    pub registry: Registry,
    /// The server's stop signal.
    pub shutdown: Shutdown,
}

impl DashboardSocket {
    /// Counts the agent online, replays what the client missed, forwards events until the socket ends,
    /// then counts it offline and closes.
    ///
    /// Boxed: an async fn keeps its arguments for its whole life beside what it moves them into, and this
    /// one lives as long as the socket.
    pub async fn run(self: Box<Self>) {
        let Self { mut session, stream, guard, events, catch_up, tenant, jti, teammate, registry, shutdown } = *self;
        let member = teammate.id.clone();
        tenant.do_send(DashboardPresence { member: member.clone(), connected: true });
        let mut gauge = SocketGauge::open("dashboard_ws");
        // Subscribed before the catch-up: the live events overlap it, and the cursor skips the overlap.
        let now = catch_up.now().cloned();
        let recovery = Recovery::plan(catch_up, &member, now);
        // Boxed: the replay runs once, and its state would otherwise stay in the task for the socket's life.
        let reason = match Box::pin(replay(&mut session, &recovery)).await {
            Err(reason) => reason,
            Ok(()) => {
                let inbound = Inbound { stream, guard, typist: Typist { registry, teammate } };
                let cursor = recovery.into_cursor();
                let mut live = Live { events, cursor, jti, member: member.clone(), shutdown, inbound };
                serve(&mut session, &mut live).await
            }
        };
        gauge.set_reason(close_label(reason.as_ref()));
        tenant.do_send(DashboardPresence { member, connected: false });
        if let Some(reason) = reason {
            let _ = session.close(Some(reason)).await;
        }
    }
}

/// The client's side of the socket.
struct Inbound {
    stream: actix_ws::AggregatedMessageStream,
    guard: FrameGuard,
    typist: Typist,
}

/// Acts on the agent's typing frames as the socket's member.
struct Typist {
    registry: Registry,
    teammate: Teammate,
}

/// A typing frame from the agent: `{"type":"typing","conversation_id","is_typing"}`.
#[derive(serde::Deserialize)]
struct TypingFrame {
    #[serde(rename = "type")]
    kind: String,
    conversation_id: String,
    is_typing: bool,
}

impl Typist {
    /// Passes an agent's typing frame on to the conversation; anything else the client sends is ignored,
    /// and so is a refusal (a viewer, an unknown conversation): typing is a hint, never worth an error.
    async fn typing(&self, text: &str) {
        let Ok(frame) = serde_json::from_str::<TypingFrame>(text) else { return };
        if frame.kind != "typing" {
            return;
        }
        if let Ok(id) = agent_conversation(&frame.conversation_id) {
            let _ = self.registry.agent_typing(&self.teammate, &id, frame.is_typing).await;
        }
    }
}

/// Sends the missed events, then `recovery:ready` (or just `recovery:reset`); `Err` holds the close.
async fn replay(session: &mut SocketWriter, recovery: &Recovery) -> Result<(), Option<CloseReason>> {
    let frames = recovery.missed.iter().map(|event| event.frame().to_owned());
    for frame in frames.chain([recovery.notice_frame()]) {
        match send_text(session, frame).await {
            Ok(()) => {}
            Err(SendError::Gone) => return Err(None),
            Err(SendError::TooSlow(reason)) => return Err(Some(reason)),
        }
    }
    Ok(())
}

/// What the live loop works on, borrowed by [`serve`] rather than moved into it: an async fn keeps what it
/// is given beside what it unpacks that into, for as long as it runs (here, the socket's life).
struct Live {
    /// The license's bus events.
    events: broadcast::Receiver<Arc<BusEvent>>,
    /// Skips the live events the replay already covered.
    cursor: Cursor,
    /// The socket's session: an event revoking it closes the socket.
    jti: String,
    /// Whose socket it is.
    member: UserId,
    /// The server's stop signal.
    shutdown: Shutdown,
    /// The client's side.
    inbound: Inbound,
}

/// Forwards bus events after the cursor until the client leaves or falls behind; returns the close reason, if any.
async fn serve(session: &mut SocketWriter, live: &mut Live) -> Option<CloseReason> {
    let mut keep_alive = KeepAlive::new();
    let Live { events, cursor, jti, member, shutdown, inbound: Inbound { stream, guard, typist } } = live;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.event.revokes(jti) => {
                    return Some(CloseReason { code: CloseCode::Other(CLOSE_REVOKED), description: Some("session revoked".into()) });
                }
                Ok(event) if matches!(event.event, Event::SessionRevoked { .. }) => {}
                Ok(event) if !cursor.advance(&event) || !event.event.is_for(member) => {}
                Ok(event) => match send_text(session, event.frame().to_owned()).await {
                    Ok(()) => {
                        metrics::counter!(crate::telemetry::DELIVERIES, "transport" => "dashboard_ws").increment(1);
                        metrics::histogram!(crate::telemetry::FANOUT_SECONDS, "transport" => "dashboard_ws")
                            .record(event.received.elapsed().as_secs_f64());
                    }
                    Err(SendError::Gone) => return None,
                    Err(SendError::TooSlow(reason)) => return Some(reason),
                },
                // The license's topic keeps a bounded backlog; falling off its end means the client is too slow.
                Err(RecvError::Lagged(_)) => return Some(too_slow()),
                Err(RecvError::Closed) => return Some(CloseReason { code: CloseCode::Restart, description: None }),
            },
            frame = stream.recv() => {
                keep_alive.heard();
                match frame {
                    None => return None,
                    // Answer the client's close with the same code, as RFC 6455 asks.
                    Some(Ok(AggregatedMessage::Close(reason))) => return Some(reason.unwrap_or(CloseCode::Normal.into())),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => if session.pong(&bytes).await.is_err() { return None },
                    Some(Ok(AggregatedMessage::Text(text))) if text.contains("\"ping\"") => {
                        if session.text(r#"{"event":"pong","data":null}"#).await.is_err() { return None }
                    }
                    Some(Ok(AggregatedMessage::Text(text))) => Box::pin(typist.typing(&text)).await,
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Some(protocol_close(&err, guard, MAX_FRAME_BYTES)),
                }
            }
            _ = shutdown.triggered() => {
                return Some(restarting());
            }
            beat = keep_alive.beat() => match beat {
                Err(reason) => return Some(reason),
                Ok(()) => if session.ping(b"").await.is_err() { return None },
            },
        }
    }
}
