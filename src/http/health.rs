//! Liveness and readiness probes for load balancers and orchestrators.

use super::ApiError;
use crate::channels::constant_time_eq;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "the process is up", body = serde_json::Value))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Prometheus metrics in the text exposition format; behind `METRICS_TOKEN` when it is set.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")),
    security(("metrics" = []))
)]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &state.metrics_token {
        let given = super::identity::authorization_bearer(&req).unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Unauthorized(
                "send the metrics token as Authorization: Bearer <METRICS_TOKEN>".into(),
            ));
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::telemetry::render()))
}

/// The store answers and the node is not shutting down; otherwise it should get no new traffic.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, description = "ready: the store answers", body = serde_json::Value))
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.shutdown.is_triggered() {
        return Err(ApiError::ShuttingDown);
    }
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

/// Middleware on `/ws/*`: once the node is stopping, a new socket is refused with `503 shutting_down`
/// before the upgrade instead of being opened and closed with 1012 at once. A proxy then tries the
/// next node for it (nginx: `proxy_next_upstream … http_503`), so reconnecting clients land on a live
/// node on their first try while this one's listener still accepts.
pub async fn refuse_sockets_when_stopping(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let stopping = req.app_data::<web::Data<AppState>>().is_some_and(|state| state.shutdown.is_triggered());
    if stopping {
        let response = ApiError::ShuttingDown.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
