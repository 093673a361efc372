//! `/api/admin/licenses`: the operator issues, lists, suspends and reinstates licenses (the operations
//! themselves live in [`crate::licenses`], shared with the CLI).

use super::{origin, AdminAccess, ApiError};
use crate::actors::{GetTenantStats, TenantActor, TenantStats};
use crate::audit::Actor;
use crate::domain::LicenseKey;
use crate::licenses::{license_json, LicenseOrder, Operator};
use crate::state::AppState;
use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// Mounts the admin routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/licenses", web::post().to(create))
        .route("/admin/licenses", web::get().to(list))
        .route("/admin/licenses/{key}/suspend", web::post().to(suspend))
        .route("/admin/licenses/{key}/activate", web::post().to(activate))
        .route("/admin/stats", web::get().to(stats));
}

#[utoipa::path(
    post,
    path = "/api/admin/licenses",
    tag = "admin",
    request_body = LicenseOrder,
    responses((status = 201, description = "the new license", body = serde_json::Value)),
    security(("admin" = []))
)]
async fn create(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LicenseOrder>,
) -> Result<HttpResponse, ApiError> {
    let license = state.licenses.issue(&body, &operator(&req, &state)).await?;
    Ok(HttpResponse::Created().json(license_json(&license)))
}

#[utoipa::path(
    get,
    path = "/api/admin/licenses",
    tag = "admin",
    responses((status = 200, description = "every license", body = serde_json::Value)),
    security(("admin" = []))
)]
async fn list(_: AdminAccess, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let licenses = state.licenses.list().await?;
    Ok(HttpResponse::Ok().json(json!({ "licenses": licenses.iter().map(license_json).collect::<Vec<_>>() })))
}

#[utoipa::path(
    post,
    path = "/api/admin/licenses/{key}/suspend",
    tag = "admin",
    params(("key" = String, Path, description = "license key")),
    responses((status = 200, description = "the suspended license", body = serde_json::Value)),
    security(("admin" = []))
)]
async fn suspend(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(license_json(&state.licenses.suspend(&path, &operator(&req, &state)).await?)))
}

/// The operator behind an admin API request, for the audit trail.
fn operator(req: &HttpRequest, state: &AppState) -> Operator {
    Operator { actor: Actor::admin("admin_api"), origin: origin(req, state) }
}

#[utoipa::path(
    post,
    path = "/api/admin/licenses/{key}/activate",
    tag = "admin",
    params(("key" = String, Path, description = "license key")),
    responses((status = 200, description = "the reinstated license", body = serde_json::Value)),
    security(("admin" = []))
)]
async fn activate(
    _: AdminAccess,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(license_json(&state.licenses.activate(&path, &operator(&req, &state)).await?)))
}

/// This node's live numbers: sockets by kind, live actors, messages stored per second over the last
/// minute, and per license with anything live here its sockets and open conversations. Cheap: counters
/// and one message per live tenant actor, plus one indexed count per such license.
#[utoipa::path(
    get,
    path = "/api/admin/stats",
    tag = "admin",
    responses((
        status = 200,
        description = "this node's sockets by kind (widget, dashboard_ws, socketio), live actors, messages stored \
                       over the last minute, and per license with something live here its open conversations and sockets",
        body = serde_json::Value
    )),
    security(("admin" = []))
)]
async fn stats(_: AdminAccess, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    const MAX_LICENSES: usize = 1000;
    let registry = &state.registry;
    let live_conversations = registry.live_conversations();
    let tenants = registry.live_tenants();
    let mut licenses: Vec<(LicenseKey, Option<Addr<TenantActor>>)> =
        tenants.iter().map(|(key, addr)| (key.clone(), Some(addr.clone()))).collect();
    for key in live_conversations.keys() {
        if !licenses.iter().any(|(known, _)| known == key) {
            licenses.push((key.clone(), None));
        }
    }
    licenses.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let truncated = licenses.len() > MAX_LICENSES;
    licenses.truncate(MAX_LICENSES);
    let (mut widget, mut dashboards, mut visitors) = (0, 0, 0);
    let mut rows = Vec::with_capacity(licenses.len());
    for (license, addr) in &licenses {
        // A tenant actor that stopped meanwhile has nothing open.
        let counts = match addr {
            Some(addr) => addr.send(GetTenantStats).await.unwrap_or_default(),
            None => TenantStats::default(),
        };
        let socketio = state.socketio.sockets(Some(license));
        widget += counts.widget_sockets;
        dashboards += counts.dashboards;
        visitors += counts.visitors;
        rows.push(json!({
            "license_key": license,
            "open_conversations": state.store.open_conversations(license).await?,
            "live_conversations": live_conversations.get(license).copied().unwrap_or(0),
            "visitors": counts.visitors,
            "sockets": {
                "widget": counts.widget_sockets,
                "dashboard_ws": counts.dashboards.saturating_sub(socketio),
                "socketio": socketio,
            },
        }));
    }
    let socketio = state.socketio.sockets(None);
    let stored = registry.stored_last_minute();
    Ok(HttpResponse::Ok().json(json!({
        "sockets": {
            "widget": widget,
            "dashboard_ws": dashboards.saturating_sub(socketio),
            "socketio": socketio,
        },
        "visitors": visitors,
        "actors": {
            "conversations": live_conversations.values().sum::<usize>(),
            "tenants": tenants.len(),
        },
        "messages_last_minute": stored,
        "messages_per_second": stored as f64 / 60.0,
        "shutting_down": state.shutdown.is_triggered(),
        "licenses": rows,
        "licenses_truncated": truncated,
    })))
}
