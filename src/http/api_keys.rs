//! `/api/security/api-keys`: the license's owner creates (the secret is shown once), lists and revokes
//! the API keys its backend sends as `X-API-Key`.

use super::{user_event, ApiError, DashboardUser};
use crate::domain::{ApiKeyId, ApiKeySecret, AuditAction, Permission, Scope, Scopes};
use crate::state::AppState;
use crate::store::NewApiKey;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

const MAX_NAME_CHARS: usize = 100;

/// Mounts the API-key routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/security/api-keys", web::get().to(list))
        .route("/security/api-keys", web::post().to(create))
        .route("/security/api-keys/{id}", web::delete().to(revoke));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateApiKey {
    /// A name for people, e.g. "CRM sync".
    #[schema(max_length = 100, pattern = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    name: String,
    /// What the key may do (an unknown scope is refused with 400).
    #[schema(min_items = 1, inline)]
    scopes: Vec<Scope>,
}

#[utoipa::path(
    post,
    path = "/api/security/api-keys",
    tag = "security",
    request_body = CreateApiKey,
    responses((status = 201, description = "the new key with its secret, shown this once", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.contains('\0') {
        return Err(ApiError::bad_request("invalid_value", format!("name must be 1 to {MAX_NAME_CHARS} characters")));
    }
    let scopes = Scopes::new(body.scopes.clone())?;
    let secret = ApiKeySecret::generate();
    let new = NewApiKey {
        license_key: user.license.clone(),
        name: name.to_owned(),
        prefix: secret.shown_prefix(),
        secret_hash: secret.hash(),
        scopes,
    };
    let key = state.store.create_api_key(&new).await?;
    let event = user_event(&req, &state, &user, AuditAction::ApiKeyCreated)
        .target(key.id.as_str())
        .metadata(json!({ "name": key.name, "prefix": key.prefix, "scopes": key.scopes.iter().map(Scope::as_str).collect::<Vec<_>>() }));
    state.audit.record(event).await;
    let mut shown = serde_json::to_value(&key).map_err(anyhow::Error::from)?;
    shown["secret"] = json!(secret.expose());
    Ok(HttpResponse::Created().json(shown))
}

#[utoipa::path(
    get,
    path = "/api/security/api-keys",
    tag = "security",
    responses((status = 200, description = "the license's live keys (never their secrets)", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn list(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    Ok(HttpResponse::Ok().json(json!({ "api_keys": state.store.api_keys(&user.license).await? })))
}

#[utoipa::path(
    delete,
    path = "/api/security/api-keys/{id}",
    tag = "security",
    params(("id" = String, Path, description = "an API key's id (not its secret)")),
    responses((status = 204, description = "revoked: refused on every node from now on")),
    security(("bearer" = []))
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    // A malformed id is answered like an unknown one: callers learn nothing about which ids exist.
    let id = ApiKeyId::parse(&path).map_err(|_| ApiError::NotFound("API key"))?;
    let key = state.store.revoke_api_key(&user.license, &id).await?.ok_or(ApiError::NotFound("API key"))?;
    let event = user_event(&req, &state, &user, AuditAction::ApiKeyRevoked)
        .target(key.id.as_str())
        .metadata(json!({ "name": key.name, "prefix": key.prefix }));
    state.audit.record(event).await;
    Ok(HttpResponse::NoContent().finish())
}
