//! `/api/webhook-endpoints`: a license's outgoing webhooks: create (the signing secret is shown once), list,
//! read, change, delete, rotate the secret (the old one keeps signing for `WEBHOOK_SECRET_OVERLAP_HOURS`),
//! and send a test event. Dashboard admins (`manage_settings`) or API keys with `webhooks:manage`.
//!
//! Not under `/api/webhooks/`: that prefix belongs to the inbound provider webhooks (Messenger, Twilio),
//! which carry no tenant credential.

use super::{caller_event, ApiError, Caller};
use crate::domain::{AuditAction, Permission, Scope, WebhookEndpointId, WebhookEvent, WebhookSecret};
use crate::state::AppState;
use crate::store::{EndpointChange, WebhookEndpoint};
use crate::webhooks::address::check_url;
use crate::webhooks::seal_for_storage;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Most endpoints one license may have.
const MAX_ENDPOINTS: usize = 20;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// Mounts the endpoint routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhook-endpoints", web::get().to(list))
        .route("/webhook-endpoints", web::post().to(create))
        .route("/webhook-endpoints/{id}", web::get().to(show))
        .route("/webhook-endpoints/{id}", web::patch().to(update))
        .route("/webhook-endpoints/{id}", web::delete().to(delete))
        .route("/webhook-endpoints/{id}/rotate-secret", web::post().to(rotate))
        .route("/webhook-endpoints/{id}/test", web::post().to(test));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateEndpoint {
    /// Where events are POSTed: http(s); https to a public address when `WEBHOOK_STRICT_URLS` is on.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = r"^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    url: String,
    /// What to send (`test` is not subscribable: `POST …/test` sends it on request).
    #[schema(min_items = 1, inline)]
    events: Vec<WebhookEvent>,
    /// A note for people.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// On by default.
    enabled: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateEndpoint {
    /// A new URL (checked like at creation).
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = r"^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    url: Option<String>,
    /// A new subscription.
    #[schema(min_items = 1, inline)]
    events: Option<Vec<WebhookEvent>>,
    /// A new note.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// On or off; turning a disabled endpoint on forgets its failure streak.
    enabled: Option<bool>,
}

/// The caller may manage webhooks: `manage_settings` or `webhooks:manage`.
fn authorize(caller: &Caller) -> Result<(), ApiError> {
    caller.require(Permission::ManageSettings, Scope::WebhooksManage)
}

/// A malformed id is answered like an unknown one.
pub(super) fn endpoint_id(raw: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(raw).map_err(|_| ApiError::NotFound("webhook endpoint"))
}

async fn checked_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let url = check_url(raw.trim(), state.webhook_strict_urls).await;
    url.map(String::from).map_err(|why| ApiError::bad_request("invalid_value", why))
}

fn checked_events(asked: &[WebhookEvent]) -> Result<Vec<WebhookEvent>, ApiError> {
    if asked.is_empty() || asked.contains(&WebhookEvent::Test) {
        let message = "events must name at least one event, and not `test` (POST …/test sends it)";
        return Err(ApiError::bad_request("invalid_value", message));
    }
    Ok(WebhookEvent::subscribable().filter(|e| asked.contains(e)).collect())
}

fn checked_description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        Some(text) if text.chars().count() > MAX_DESCRIPTION_CHARS || text.contains('\0') => {
            Err(ApiError::bad_request(
                "invalid_value",
                format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// The endpoint as shown, with its secret when one was just made.
fn shown(endpoint: &WebhookEndpoint, secret: &WebhookSecret) -> Result<serde_json::Value, ApiError> {
    let mut shown = serde_json::to_value(endpoint).map_err(anyhow::Error::from)?;
    shown["secret"] = json!(secret.expose());
    Ok(shown)
}

#[utoipa::path(
    post,
    path = "/api/webhook-endpoints",
    tag = "webhooks",
    request_body = CreateEndpoint,
    responses((status = 201, description = "the endpoint with its signing secret (`whsec_…`), shown this once", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    let events = checked_events(&body.events)?;
    let description = checked_description(body.description.as_deref())?.unwrap_or_default();
    let url = checked_url(&state, &body.url).await?;
    let license = caller.license();
    if state.store.webhook_endpoints(license).await?.len() >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(
            "too_many_endpoints",
            format!("a license has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let secret = WebhookSecret::generate();
    let stored = seal_for_storage(state.tokens.as_deref(), license, &secret);
    let enabled = body.enabled.unwrap_or(true);
    let endpoint = state.store.create_webhook_endpoint(license, &url, &description, &events, enabled, &stored).await?;
    let event = caller_event(&req, &state, &caller, AuditAction::WebhookEndpointCreated)
        .target(endpoint.id.as_str())
        .metadata(json!({ "url": endpoint.url, "events": endpoint.events }));
    state.audit.record(event).await;
    Ok(HttpResponse::Created().json(shown(&endpoint, &secret)?))
}

#[utoipa::path(
    get,
    path = "/api/webhook-endpoints",
    tag = "webhooks",
    responses((status = 200, description = "`{webhook_endpoints: […]}` (never their secrets)", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    Ok(HttpResponse::Ok().json(json!({ "webhook_endpoints": state.store.webhook_endpoints(caller.license()).await? })))
}

#[utoipa::path(
    get,
    path = "/api/webhook-endpoints/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "a webhook endpoint's id")),
    responses((status = 200, description = "the endpoint (never its secret)", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn show(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    let id = endpoint_id(&path)?;
    let endpoint = state.store.webhook_endpoint(caller.license(), &id).await?;
    Ok(HttpResponse::Ok().json(endpoint.ok_or(ApiError::NotFound("webhook endpoint"))?))
}

#[utoipa::path(
    patch,
    path = "/api/webhook-endpoints/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "a webhook endpoint's id")),
    request_body = UpdateEndpoint,
    responses((status = 200, description = "the changed endpoint", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UpdateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    let id = endpoint_id(&path)?;
    let change = EndpointChange {
        url: match &body.url {
            Some(url) => Some(checked_url(&state, url).await?),
            None => None,
        },
        description: checked_description(body.description.as_deref())?,
        events: body.events.as_deref().map(checked_events).transpose()?,
        enabled: body.enabled,
    };
    let endpoint = state.store.update_webhook_endpoint(caller.license(), &id, &change).await?;
    let endpoint = endpoint.ok_or(ApiError::NotFound("webhook endpoint"))?;
    let event = caller_event(&req, &state, &caller, AuditAction::WebhookEndpointUpdated)
        .target(endpoint.id.as_str())
        .metadata(json!({ "url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled }));
    state.audit.record(event).await;
    Ok(HttpResponse::Ok().json(endpoint))
}

#[utoipa::path(
    delete,
    path = "/api/webhook-endpoints/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "a webhook endpoint's id")),
    responses((status = 204, description = "deleted, with its pending deliveries and its log")),
    security(("bearer" = []), ("api_key" = []))
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    let id = endpoint_id(&path)?;
    if !state.store.delete_webhook_endpoint(caller.license(), &id).await? {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    state
        .audit
        .record(caller_event(&req, &state, &caller, AuditAction::WebhookEndpointDeleted).target(id.as_str()))
        .await;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/webhook-endpoints/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "a webhook endpoint's id")),
    responses((status = 200, description = "the endpoint with its new secret, shown this once; the old one keeps signing (a second `v1=`) until `previous_secret_expires_at`", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    let id = endpoint_id(&path)?;
    let secret = WebhookSecret::generate();
    let overlap = i64::try_from(state.webhook_secret_overlap.as_millis()).unwrap_or(i64::MAX);
    let until = crate::domain::now_millis().saturating_add(overlap);
    let stored = seal_for_storage(state.tokens.as_deref(), caller.license(), &secret);
    let endpoint = state.store.rotate_webhook_secret(caller.license(), &id, &stored, until).await?;
    let endpoint = endpoint.ok_or(ApiError::NotFound("webhook endpoint"))?;
    let event = caller_event(&req, &state, &caller, AuditAction::WebhookSecretRotated)
        .target(endpoint.id.as_str())
        .metadata(json!({ "previous_secret_expires_at": until }));
    state.audit.record(event).await;
    Ok(HttpResponse::Ok().json(shown(&endpoint, &secret)?))
}

#[utoipa::path(
    post,
    path = "/api/webhook-endpoints/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path, description = "a webhook endpoint's id")),
    responses((status = 202, description = "a `test` event is queued for this endpoint only: `{event_id}`", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn test(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    authorize(&caller)?;
    let id = endpoint_id(&path)?;
    let event = state.store.enqueue_test_event(caller.license(), &id).await?;
    let event = event.ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(HttpResponse::Accepted().json(json!({ "event_id": event })))
}
