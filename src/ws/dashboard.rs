//! The dashboard WebSocket loop (`GET /ws/dashboard`, upgraded in `http::sockets`): the live events of
//! the caller's license as `{"event": …, "data": …}` frames, for clients without Socket.IO.
//! Receive-only, plus `ping`.

use crate::actors::{DashboardPresence, TenantActor};
use crate::bus::{BusEvent, Event};
use crate::domain::UserId;
use crate::shutdown::Shutdown;
use crate::telemetry::SocketGauge;
use crate::ws::driver::{close_label, restarting, send_text, too_slow, KeepAlive, SendError};
use crate::ws::frame_guard::FrameGuard;
use crate::ws::protocol_close;
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
    pub session: actix_ws::Session,
    /// Reads from the client.
    pub stream: actix_ws::AggregatedMessageStream,
    /// Tells an oversized frame from other protocol errors.
    pub guard: FrameGuard,
    /// The license's bus events, subscribed before the upgrade answered.
    pub events: broadcast::Receiver<Arc<BusEvent>>,
    /// The license's tenant actor, told while an agent is connected.
    pub tenant: Addr<TenantActor>,
    /// The session the socket was opened with; revoking it closes the socket.
    pub jti: String,
    /// Whose socket it is: notifications for other members are not sent.
    pub member: UserId,
    /// The server's stop signal.
    pub shutdown: Shutdown,
}

impl DashboardSocket {
    /// Counts the agent online, forwards events until the socket ends, then counts it offline and closes.
    pub async fn run(self) {
        let Self { session, stream, guard, events, tenant, jti, member, shutdown } = self;
        tenant.do_send(DashboardPresence { member: member.clone(), connected: true });
        let mut gauge = SocketGauge::open("dashboard_ws");
        let reason = serve(session.clone(), Inbound { stream, guard }, events, (jti, member.clone()), shutdown).await;
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
}

/// Forwards bus events until the client leaves or falls behind; returns the close reason, if any.
async fn serve(
    mut session: actix_ws::Session,
    inbound: Inbound,
    mut events: broadcast::Receiver<Arc<BusEvent>>,
    (jti, member): (String, UserId),
    shutdown: Shutdown,
) -> Option<CloseReason> {
    let mut keep_alive = KeepAlive::new();
    let Inbound { mut stream, guard } = inbound;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.event.revokes(&jti) => {
                    return Some(CloseReason { code: CloseCode::Other(CLOSE_REVOKED), description: Some("session revoked".into()) });
                }
                Ok(event) if matches!(event.event, Event::SessionRevoked { .. }) => {}
                Ok(event) if !event.event.is_for(&member) => {}
                Ok(event) => match send_text(&mut session, event.frame().to_owned()).await {
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
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Some(protocol_close(&err, &guard, MAX_FRAME_BYTES)),
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
