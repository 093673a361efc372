//! Liveness and readiness probes for load balancers and orchestrators.

use super::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use serde_json::json;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The store answers; a node that cannot reach it should get no traffic.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
