//! The dashboard WebSocket loop (`GET /ws/dashboard`, upgraded in `http::sockets`): the live events of
//! the caller's license as `{"event": …, "data": …, "offset": …, "epoch": …}` frames, for clients without
//! Socket.IO. It opens with the client's [`recovery`](crate::ws::recovery); the client may send `ping` and
//! `{"type":"typing","conversation_id","is_typing"}` (the agent's typing indicator, as the Socket.IO emit).

use crate::actors::{agent_conversation, DashboardPresence, Registry, Teammate, TenantActor};
use crate::bus::{BusEvent, CatchUp, Cursor};
use crate::shutdown::Shutdown;
use crate::telemetry::{self, SocketGauge, Transport};
use crate::ws::driver::{close_label, restarting, revoked, too_slow, KeepAlive, SendError};
use crate::ws::frame_guard::FrameGuard;
use crate::ws::protocol_close;
use crate::ws::recovery::{route, Live, Recovery};
use crate::ws::writer::SocketWriter;
use actix::Addr;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

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
    /// Boxed, and the loop works on its fields in place: an async fn keeps its arguments beside whatever
    /// it moves them into (an owned `self` included), for as long as it runs (here, the socket's life).
    pub async fn run(mut self: Box<Self>) {
        let member = self.teammate.id.clone();
        self.tenant.do_send(DashboardPresence { member: member.clone(), connected: true });
        let mut gauge = SocketGauge::open(Transport::DashboardWs);
        // Subscribed before the catch-up: the live events overlap it, and the cursor skips the overlap.
        let catch_up = std::mem::replace(&mut self.catch_up, CatchUp::Reset { now: None });
        let now = catch_up.now().cloned();
        let recovery = Recovery::plan(catch_up, &member, now);
        // Boxed: the replay runs once, and its state would otherwise stay in the task for the socket's life.
        let reason = match Box::pin(replay(&mut self.session, &recovery)).await {
            Err(reason) => reason,
            Ok(()) => self.serve(recovery.into_cursor()).await,
        };
        gauge.set_reason(close_label(reason.as_ref()));
        self.tenant.do_send(DashboardPresence { member, connected: false });
        if let Some(reason) = reason {
            let _ = self.session.close(Some(reason)).await;
        }
    }

    /// Forwards bus events after `cursor` until the client leaves or falls behind; returns the close
    /// reason, if any.
    async fn serve(&mut self, mut cursor: Cursor) -> Option<CloseReason> {
        let Self { session, stream, guard, events, jti, teammate, registry, shutdown, .. } = self;
        let mut keep_alive = KeepAlive::new();
        // Made once, not each time round: waiting on a signal every socket shares takes a lock.
        let stopping = shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => match route(&event, jti, &teammate.id, &mut cursor) {
                        Live::Revoked => return Some(revoked()),
                        Live::Skip => {}
                        Live::Send => match session.encoded(event.ws_frame().clone()).await {
                            Ok(()) => telemetry::delivered(Transport::DashboardWs, 1, Some(event.received)),
                            Err(err) => return err.into_close(),
                        },
                    },
                    // The license's topic keeps a bounded backlog; falling off its end means the client is too slow.
                    Err(RecvError::Lagged(_)) => return Some(too_slow()),
                    // The bus ends only when the node stops: the same close as on shutdown.
                    Err(RecvError::Closed) => return Some(restarting()),
                },
                frame = stream.recv() => {
                    keep_alive.heard();
                    match frame {
                        None => return None,
                        // Answer the client's close with the same code, as RFC 6455 asks.
                        Some(Ok(AggregatedMessage::Close(reason))) => return Some(reason.unwrap_or(CloseCode::Normal.into())),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => if let Err(err) = session.pong(&bytes).await { return err.into_close() },
                        Some(Ok(AggregatedMessage::Text(text))) if text.contains("\"ping\"") => {
                            if let Err(err) = session.text(r#"{"event":"pong","data":null}"#).await { return err.into_close() }
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
                    Ok(()) => if let Err(err) = session.ping(b"").await { return err.into_close() },
                },
            }
        }
    }
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
async fn replay(session: &mut SocketWriter, recovery: &Recovery) -> Result<(), Option<CloseReason>> {
    // Queued, so the missed events go out with the notice in a few large writes rather than one each.
    for event in &recovery.missed {
        session.queue_encoded(event.ws_frame().clone()).await.map_err(SendError::into_close)?;
    }
    session.text(&recovery.notice_frame()).await.map_err(SendError::into_close)
}
