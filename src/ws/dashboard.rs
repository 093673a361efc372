//! `GET /ws/dashboard`: the live events of the caller's license as `{"event": …, "data": …}` frames,
//! for clients without Socket.IO. The token comes as `Authorization: Bearer`, the session cookie,
//! or `?token=` (browsers cannot set headers on WebSockets). Receive-only, plus `ping`.

use crate::actors::DashboardPresence;
use crate::auth::AuthError;
use crate::bus::Event;
use crate::domain::LicenseKey;
use crate::http::{bearer_token, client_ip, ApiError, AppState};
use crate::shutdown::Shutdown;
use crate::ws::frame_guard::FrameGuard;
use crate::ws::widget::too_many_connections;
use crate::ws::{protocol_close, upgrade, CLIENT_TIMEOUT, CLOSE_RESTART, CLOSE_TOO_SLOW, HEARTBEAT, SEND_TIMEOUT};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use serde::Deserialize;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// Close code when the socket's session is revoked (logout, license suspended).
const CLOSE_REVOKED: u16 = 4003;
/// Largest frame a dashboard may send: it only sends pings.
const MAX_FRAME_BYTES: usize = 4096;

#[derive(Deserialize)]
pub struct DashboardQuery {
    token: Option<String>,
}

/// Authenticates, then upgrades.
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    // An explicit query token wins over a session cookie the browser may also send.
    let token = query.token.clone().or_else(|| bearer_token(&req)).ok_or(AuthError::Missing)?;
    let claims = state.auth.validate(&token).await?;
    let license = LicenseKey::parse(&claims.license_key).map_err(|_| AuthError::Invalid)?;
    let source = client_ip(&req, state.trust_x_forwarded_for);
    let slot = state.limits.source_connections.take(source).ok_or_else(too_many_connections)?;
    let upgraded = upgrade(&req, body, MAX_FRAME_BYTES)?;
    let (session, stream) = (upgraded.session, upgraded.stream);
    let events = state.registry.bus().subscribe(&license);
    let tenant = state.registry.tenant(&license);
    tenant.do_send(DashboardPresence(true));
    let (guard, shutdown) = (upgraded.guard, state.shutdown.clone());
    actix_web::rt::spawn(async move {
        let _slot = slot;
        let reason = serve(session.clone(), Inbound { stream, guard }, events, claims.jti, shutdown).await;
        tenant.do_send(DashboardPresence(false));
        if let Some(reason) = reason {
            let _ = session.close(Some(reason)).await;
        }
    });
    Ok(upgraded.response)
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
    mut events: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::bus::BusEvent>>,
    jti: String,
    shutdown: Shutdown,
) -> Option<CloseReason> {
    let too_slow = || CloseReason {
        code: CloseCode::Other(CLOSE_TOO_SLOW),
        description: Some("too slow: the client stopped reading".into()),
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_heard = Instant::now();
    let Inbound { mut stream, guard } = inbound;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.event.revokes(&jti) => {
                    return Some(CloseReason { code: CloseCode::Other(CLOSE_REVOKED), description: Some("session revoked".into()) });
                }
                Ok(event) if matches!(event.event, Event::SessionRevoked { .. }) => {}
                Ok(event) => match tokio::time::timeout(SEND_TIMEOUT, session.text(event.frame().to_owned())).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return None,
                    Err(_) => return Some(too_slow()),
                },
                // The license's topic keeps a bounded backlog; falling off its end means the client is too slow.
                Err(RecvError::Lagged(_)) => return Some(too_slow()),
                Err(RecvError::Closed) => return Some(CloseReason { code: CloseCode::Restart, description: None }),
            },
            frame = stream.recv() => {
                last_heard = Instant::now();
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
                return Some(CloseReason { code: CloseCode::Other(CLOSE_RESTART), description: Some("the server is restarting; reconnect".into()) });
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    return Some(CloseReason { code: CloseCode::Away, description: Some("no frames or pongs for 60 s".into()) });
                }
                if session.ping(b"").await.is_err() { return None }
            }
        }
    }
}
