//! `/api/products/keys`: a tenant's product keys, one active key per product it bought.

use super::{user_event, ApiError, DashboardUser};
use crate::domain::{AuditAction, Permission, Product, ProductKey};
use crate::state::AppState;
use crate::store::{ProductKeyRecord, StoreError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the product-key routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/products/keys", web::get().to(list))
        .route("/products/keys", web::post().to(create))
        .route("/products/keys/{key}", web::delete().to(revoke));
}

#[utoipa::path(
    get,
    path = "/api/products/keys",
    tag = "product keys",
    responses((status = 200, description = "the license's product keys", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn list(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    let keys = state.store.product_keys(&user.license).await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    #[schema(pattern = r"^(chatbot|sales-agent|data-enrichment|setup-agent)$")]
    product: String,
}

#[utoipa::path(
    post,
    path = "/api/products/keys",
    tag = "product keys",
    request_body = CreateKey,
    responses((status = 201, description = "the new key", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let product: Product = body.product.parse()?;
    let key = issue_product_key(&req, &state, &user, product).await?;
    Ok(HttpResponse::Created().json(key_json(&key)))
}

/// Issues a key for `product` if the license bought it and has no active key for it yet (audited).
pub async fn issue_product_key(
    req: &HttpRequest,
    state: &AppState,
    user: &DashboardUser,
    product: Product,
) -> Result<ProductKeyRecord, ApiError> {
    if !user.claims.products.contains(&product) {
        return Err(ApiError::forbidden(
            "product_not_licensed",
            format!("this license has not bought {}", product.as_str()),
        ));
    }
    let key = state.store.create_product_key(&user.license, product).await.map_err(|e| match e {
        StoreError::Duplicate => ApiError::conflict(
            "product_key_exists",
            format!("{} already has an active key; revoke it first to issue a new one", product.as_str()),
        ),
        other => other.into(),
    })?;
    let event = user_event(req, state, user, AuditAction::ProductKeyCreated)
        .target(key.product_key.as_str())
        .metadata(json!({ "product": product }));
    state.audit.record(event).await;
    Ok(key)
}

#[utoipa::path(
    delete,
    path = "/api/products/keys/{key}",
    tag = "product keys",
    params(("key" = String, Path, description = "a product key of this license", pattern = r"^(chat|sale|data|agnt)_[a-z0-9]{16}$")),
    responses((status = 204, description = "revoked")),
    security(("bearer" = []))
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let key = ProductKey::parse(&path)?;
    if state.store.revoke_product_key(&user.license, &key).await? {
        let event = user_event(&req, &state, &user, AuditAction::ProductKeyRevoked)
            .target(key.as_str())
            .metadata(json!({ "product": key.product() }));
        state.audit.record(event).await;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("product key"))
    }
}

fn key_json(key: &ProductKeyRecord) -> serde_json::Value {
    json!({
        "product_key": key.product_key,
        "product": key.product,
        "status": key.status,
        "created_at": key.created_at,
    })
}
