//! `/api/webhook-endpoints/{id}/deliveries`: an endpoint's delivery log (each event, its attempts with
//! status code, answer excerpt and latency, and the next retry), cursor-paged newest first; and manual
//! redelivery of one delivery.

use super::audit_logs::split_cursor;
use super::webhook_endpoints::endpoint_id;
use super::{ApiError, Caller};
use crate::domain::{Permission, Scope, WebhookDeliveryId};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Mounts the delivery-log routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhook-endpoints/{id}/deliveries", web::get().to(log))
        .route("/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver", web::post().to(redeliver));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    /// Opaque: the `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,15}\.[0-9a-f]{32}$")]
    cursor: Option<String>,
    /// Deliveries per page.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/webhook-endpoints/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "a webhook endpoint's id"), LogQuery),
    responses((status = 200, description = "`{deliveries, next_cursor}`, newest first: event, status, attempts (code, excerpt ≤ 1 KiB, latency, error), next retry", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn log(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageSettings, Scope::WebhooksManage)?;
    let id = endpoint_id(&path)?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::bad_request("invalid_query", format!("limit must be 1 to {MAX_LIMIT}"))),
    };
    let cursor = query.cursor.as_deref().map(split_cursor).transpose()?;
    if state.store.webhook_endpoint(caller.license(), &id).await?.is_none() {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    let page = state.store.webhook_delivery_log(caller.license(), &id, cursor, limit).await?;
    let full = i64::try_from(page.len()).unwrap_or(i64::MAX) == limit;
    let next_cursor = page.last().filter(|_| full).map(|last| format!("{}.{}", last.created_at, last.id));
    Ok(HttpResponse::Ok().json(json!({ "deliveries": page, "next_cursor": next_cursor })))
}

#[utoipa::path(
    post,
    path = "/api/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "a webhook endpoint's id"),
        ("delivery_id" = String, Path, description = "one of its deliveries")
    ),
    responses((status = 202, description = "queued again, due now, with the same event id (receivers deduplicate on it): the delivery", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn redeliver(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageSettings, Scope::WebhooksManage)?;
    let (endpoint, delivery) = path.into_inner();
    let endpoint = endpoint_id(&endpoint)?;
    let delivery = WebhookDeliveryId::parse(&delivery).map_err(|_| ApiError::NotFound("webhook delivery"))?;
    let entry = state.store.redeliver_webhook(caller.license(), &endpoint, &delivery).await?;
    Ok(HttpResponse::Accepted().json(entry.ok_or(ApiError::NotFound("webhook delivery"))?))
}
