//! Liveness and readiness probes for load balancers and orchestrators.

use super::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use serde_json::json;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The store answers and the node is not shutting down; otherwise it should get no new traffic.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.shutdown.is_triggered() {
        return Err(ApiError::ShuttingDown);
    }
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
