//! Liveness and readiness probes for load balancers and orchestrators.

use super::ApiError;
use crate::channels::constant_time_eq;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Prometheus metrics in the text exposition format; behind `METRICS_TOKEN` when it is set.
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
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.shutdown.is_triggered() {
        return Err(ApiError::ShuttingDown);
    }
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
