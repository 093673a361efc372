//! The socket upgrade handlers, `GET /ws/widget` and `GET /ws/dashboard`: they authenticate and take the
//! connection slots *before* the upgrade, so a refusal is a plain HTTP 4xx with a JSON reason, then hand
//! the upgraded socket to its loop in [`crate::ws`].
//!
//! - `/ws/widget?product_key=chat_…[&visitor_token=…&last_seq=N]`: a visitor's live chat. A visitor
//!   token resumes the visitor's conversation and replays what they missed.
//! - `/ws/dashboard[?offset=N&epoch=E]`: the caller's license's live events; the token comes as
//!   `Authorization: Bearer`, the session cookie, or `?token=` (browsers cannot set headers on
//!   WebSockets). `offset` and `epoch` are the last event's: the socket replays what came after.

use super::{bearer_token, client_ip, resolve_widget_key, ApiError};
use crate::actors::Teammate;
use crate::auth::{Access, AuthError};
use crate::bus::Position;
use crate::domain::{ContactId, ProductKey, VisitorToken};
use crate::state::AppState;
use crate::ws::dashboard::{self, DashboardSocket, Place};
use crate::ws::upgrade;
use crate::ws::widget::{SocketContext, Visitor, WidgetSession};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Mounts the socket endpoints (outside `/api`).
pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    use super::health::refuse_sockets_when_stopping as refuse_when_stopping;
    use actix_web::middleware::from_fn;
    cfg.service(web::resource("/ws/widget").wrap(from_fn(refuse_when_stopping)).route(web::get().to(widget)))
        .service(web::resource("/ws/dashboard").wrap(from_fn(refuse_when_stopping)).route(web::get().to(dashboard)));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct WidgetQuery {
    product_key: String,
    visitor_token: Option<String>,
    last_seq: Option<i64>,
}

/// Upgrades a visitor's connection after checking the product key and the per-source and
/// per-visitor socket caps (429 beyond them, before any socket exists).
#[utoipa::path(
    get,
    path = "/ws/widget",
    tag = "sockets",
    params(WidgetQuery),
    responses((status = 101, description = "switches to the widget WebSocket protocol"))
)]
async fn widget(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WidgetQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = ProductKey::parse(&query.product_key)?;
    let record = resolve_widget_key(&state.store, &key).await?;
    let license = record.license_key;
    // A token that is not one we issued starts a new visitor. A well-formed one is looked up once the
    // socket is open, so a storm of returning visitors does not queue on the store before the upgrade,
    // each holding its connection's buffers (as product-key lookups once did); an unknown one has nothing
    // to resume and keeps its token.
    let (visitor_token, resuming) = match query.visitor_token.as_deref().and_then(|t| VisitorToken::parse(t).ok()) {
        Some(token) => (token, true),
        None => (VisitorToken::generate(), false),
    };
    let source = client_ip(&req, state.trust_x_forwarded_for);
    let source_slot = state.limits.source_connections.take(source).ok_or_else(too_many_connections)?;
    let visitor_slot = state.limits.visitor_sockets.take(format!("{license}/{visitor_token}")).ok_or_else(|| {
        ApiError::TooManyRequests {
            code: "too_many_sockets",
            message: "this visitor has too many open sockets; close some tabs".into(),
            retry_after: 5,
        }
    })?;
    let max_frame = state.widget_max_frame_bytes;
    let upgraded = upgrade(&req, body, max_frame)?;
    let visitor = Visitor { license, id: visitor_id_of(&visitor_token), token: visitor_token, product_key: key };
    let context = SocketContext {
        registry: state.registry.clone(),
        store: state.store.clone(),
        limits: state.limits.clone(),
        source,
        shutdown: state.shutdown.clone(),
        guard: upgraded.guard,
        max_frame,
        hub: state.widget_hub.clone(),
    };
    let session = Box::new(WidgetSession::new(upgraded.session, upgraded.stream, visitor, context));
    let last_seq = query.last_seq.unwrap_or(0).max(0);
    actix_web::rt::spawn(async move {
        session.run(resuming, last_seq).await;
        // The slots are given back when the socket is gone.
        drop((source_slot, visitor_slot));
    });
    Ok(upgraded.response)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DashboardQuery {
    token: Option<String>,
    /// The `offset` of the last event the dashboard received.
    offset: Option<u64>,
    /// The `epoch` of the last event the dashboard received.
    epoch: Option<String>,
}

/// Authenticates a dashboard (the license's allow-list and second-factor rule included), then upgrades.
#[utoipa::path(
    get,
    path = "/ws/dashboard",
    tag = "sockets",
    params(DashboardQuery),
    responses((status = 101, description = "switches to the dashboard event stream")),
    security(("bearer" = []))
)]
async fn dashboard(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    // An explicit query token wins over a session cookie the browser may also send.
    let token = query.token.clone().or_else(|| bearer_token(&req)).ok_or(AuthError::Missing)?;
    let claims = state.auth.validate(&token).await?;
    let license = claims.license_key.clone();
    let source = client_ip(&req, state.trust_x_forwarded_for);
    state.auth.admit(&claims, source, Access::Full).await?;
    let slot = state.limits.source_connections.take(source).ok_or_else(too_many_connections)?;
    let upgraded = upgrade(&req, body, dashboard::MAX_FRAME_BYTES)?;
    let teammate = Teammate { license: license.clone(), id: claims.sub, role: claims.role };
    // Seated before the catch-up is read: the live events overlap it, and the cursor skips the overlap.
    let place = Place::take(&state.bus, &license, &claims.jti, &teammate);
    let resume = Position::from_client(query.offset, query.epoch.clone());
    // Boxed before the task captures it: a captured value keeps its place in the task for the socket's life.
    let socket = Box::new(DashboardSocket {
        session: upgraded.session,
        stream: upgraded.stream,
        guard: upgraded.guard,
        place,
        catch_up: state.bus.catch_up(&license, resume.as_ref()).await,
        tenant: state.registry.tenant(&license),
        teammate,
        registry: state.registry.clone(),
        shutdown: state.shutdown.clone(),
    });
    actix_web::rt::spawn(async move {
        socket.run().await;
        drop(slot);
    });
    Ok(upgraded.response)
}

/// The answer when a source address holds [`crate::config::Config::max_connections_per_source`] sockets.
fn too_many_connections() -> ApiError {
    ApiError::TooManyRequests {
        code: "too_many_connections",
        message: "too many open connections from this address".into(),
        retry_after: 5,
    }
}

/// Tokens are 32 lowercase hex digits (what [`crate::domain::new_id`] makes); anything else starts afresh.
/// The public visitor id: derived from the secret token, so dashboards never see the token itself.
pub(super) fn visitor_id_of(token: &VisitorToken) -> ContactId {
    let digest = Sha256::digest(token.as_str().as_bytes());
    ContactId::from(format!("v_{}", hex::encode(&digest[..8])))
}
