//! `/api/admin/licenses`: the operator issues, lists, suspends and reinstates licenses.

use super::{AdminAccess, ApiError, AppState};
use crate::bus::Event;
use crate::domain::{Email, LicenseKey, Product, Tier};
use crate::store::{License, LicenseStatus, NewLicense};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the admin routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/licenses", web::post().to(create))
        .route("/admin/licenses", web::get().to(list))
        .route("/admin/licenses/{key}/suspend", web::post().to(suspend))
        .route("/admin/licenses/{key}/activate", web::post().to(activate));
}

/// A license order as the admin API and the CLI take it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseOrder {
    /// Purchaser's address.
    pub email: String,
    /// Product names.
    pub products: Vec<String>,
    /// Tier name; `basic` when absent.
    pub tier: Option<String>,
}

impl LicenseOrder {
    /// Validates the order into what the store takes.
    pub fn parse(&self) -> Result<NewLicense, ApiError> {
        let email = Email::parse(&self.email)?;
        let mut products: Vec<Product> = Vec::new();
        for name in &self.products {
            let product = name.parse()?;
            if !products.contains(&product) {
                products.push(product);
            }
        }
        if products.is_empty() {
            return Err(ApiError::bad_request("invalid_value", "a license needs at least one product"));
        }
        let tier = match &self.tier {
            Some(t) => t.parse::<Tier>()?,
            None => Tier::default(),
        };
        Ok(NewLicense { email: email.as_str().to_owned(), products, tier })
    }
}

async fn create(
    _: AdminAccess,
    state: web::Data<AppState>,
    body: web::Json<LicenseOrder>,
) -> Result<HttpResponse, ApiError> {
    let license = state.store.create_license(&body.parse()?).await?;
    tracing::info!(license = %license.license_key, "license issued");
    Ok(HttpResponse::Created().json(license_json(&license)))
}

async fn list(_: AdminAccess, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let licenses = state.store.licenses().await?;
    Ok(HttpResponse::Ok().json(json!({ "licenses": licenses.iter().map(license_json).collect::<Vec<_>>() })))
}

async fn suspend(
    _: AdminAccess,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let license = set_status(&state, &path, LicenseStatus::Suspended).await?;
    state.auth.revoke_license(&license.license_key).await?;
    state.registry.bus().publish(&license.license_key, Event::SessionRevoked { jti: None });
    tracing::info!(license = %license.license_key, "license suspended; its sessions are revoked");
    Ok(HttpResponse::Ok().json(license_json(&license)))
}

async fn activate(
    _: AdminAccess,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let license = set_status(&state, &path, LicenseStatus::Active).await?;
    Ok(HttpResponse::Ok().json(license_json(&license)))
}

async fn set_status(state: &AppState, raw_key: &str, status: LicenseStatus) -> Result<License, ApiError> {
    let key = LicenseKey::parse(raw_key)?;
    state.store.set_license_status(&key, status).await?.ok_or(ApiError::NotFound("license"))
}

/// The API shape of a license.
pub fn license_json(license: &License) -> serde_json::Value {
    json!({
        "license_key": license.license_key,
        "email": license.email,
        "products": license.products,
        "tier": license.tier,
        "status": license.status,
        "created_at": license.created_at,
    })
}
