//! `GET /ws/dashboard`: the live events of the caller's license as `{"event": …, "data": …}` frames,
//! for clients without Socket.IO. The token comes as `Authorization: Bearer`, the session cookie,
//! or `?token=` (browsers cannot set headers on WebSockets). Receive-only, plus `ping`.

use crate::actors::DashboardPresence;
use crate::auth::AuthError;
use crate::bus::Event;
use crate::domain::LicenseKey;
use crate::http::{bearer_token, ApiError, AppState};
use crate::ws::{CLIENT_TIMEOUT, CLOSE_TOO_SLOW, HEARTBEAT, SEND_TIMEOUT};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message as WsMessage};
use serde::Deserialize;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// Close code when the socket's session is revoked (logout, license suspended).
const CLOSE_REVOKED: u16 = 4003;

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
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let events = state.registry.bus().subscribe(&license);
    let tenant = state.registry.tenant(&license);
    tenant.do_send(DashboardPresence(true));
    actix_web::rt::spawn(async move {
        let reason = serve(session.clone(), stream, events, claims.jti).await;
        tenant.do_send(DashboardPresence(false));
        if let Some(reason) = reason {
            let _ = session.close(Some(reason)).await;
        }
    });
    Ok(response)
}

/// Forwards bus events until the client leaves or falls behind; returns the close reason, if any.
async fn serve(
    mut session: actix_ws::Session,
    stream: actix_ws::MessageStream,
    mut events: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::bus::BusEvent>>,
    jti: String,
) -> Option<CloseReason> {
    let too_slow = || CloseReason {
        code: CloseCode::Other(CLOSE_TOO_SLOW),
        description: Some("too slow: the client stopped reading".into()),
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_heard = Instant::now();
    let mut stream = stream.max_frame_size(4096);
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
                    Some(Ok(WsMessage::Close(reason))) => return Some(reason.unwrap_or(CloseCode::Normal.into())),
                    Some(Ok(WsMessage::Ping(bytes))) => if session.pong(&bytes).await.is_err() { return None },
                    Some(Ok(WsMessage::Text(text))) if text.contains("\"ping\"") => {
                        if session.text(r#"{"event":"pong","data":null}"#).await.is_err() { return None }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Some(CloseReason { code: CloseCode::Protocol, description: Some(err.to_string()) }),
                }
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
