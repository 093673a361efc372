//! `/api/admin/licenses`: the operator issues, lists, suspends and reinstates licenses (the operations
//! themselves live in [`crate::licenses`], shared with the CLI).

use super::{AdminAccess, ApiError};
use crate::licenses::{license_json, LicenseOrder};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Mounts the admin routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/licenses", web::post().to(create))
        .route("/admin/licenses", web::get().to(list))
        .route("/admin/licenses/{key}/suspend", web::post().to(suspend))
        .route("/admin/licenses/{key}/activate", web::post().to(activate));
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
    state: web::Data<AppState>,
    body: web::Json<LicenseOrder>,
) -> Result<HttpResponse, ApiError> {
    let license = state.licenses.issue(&body).await?;
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
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(license_json(&state.licenses.suspend(&path).await?)))
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
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(license_json(&state.licenses.activate(&path).await?)))
}
