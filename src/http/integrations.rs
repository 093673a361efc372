//! `/api/integrations`: a tenant connects its Facebook page or WhatsApp number. A page or number
//! belongs to one license; a second claim is refused.

use super::{user_event, ApiError, DashboardUser};
use crate::domain::{AuditAction, Channel, Permission};
use crate::state::AppState;
use crate::store::StoreError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the integration routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/integrations", web::get().to(list))
        .route("/integrations", web::post().to(create))
        .route("/integrations/{id}", web::delete().to(delete));
}

/// A page or number to connect; each provider takes its own field and nothing else.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
enum Connect {
    /// A Facebook page.
    Messenger {
        /// The page's numeric id.
        #[schema(pattern = r"^[0-9]{1,32}$")]
        page_id: String,
        /// The page's own access token for replies, stored sealed (needs `SECRETS_KEY`); without it the
        /// operator's `MESSENGER_PAGE_ACCESS_TOKEN` is used. Never returned.
        #[serde(default)]
        #[schema(min_length = 1, max_length = 1024, pattern = r"^[A-Za-z0-9_.|-]+$")]
        page_access_token: Option<String>,
    },
    /// A WhatsApp number.
    Whatsapp {
        /// E.164, like `+14155238886`.
        #[schema(pattern = r"^\+[0-9]{8,15}$")]
        number: String,
    },
}

impl Connect {
    /// The channel and the validated account id.
    fn parse(&self) -> Result<(Channel, String), ApiError> {
        let invalid = |m: &str| ApiError::bad_request("invalid_value", m);
        match self {
            Self::Messenger { page_id, .. } => {
                if page_id.is_empty() || page_id.len() > 32 || !page_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("page_id must be the page's numeric id"));
                }
                Ok((Channel::Messenger, page_id.clone()))
            }
            Self::Whatsapp { number } => {
                let digits = number.strip_prefix('+').unwrap_or("");
                if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("number must be in E.164 form, like +14155238886"));
                }
                Ok((Channel::Whatsapp, number.clone()))
            }
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/integrations",
    tag = "integrations",
    request_body = Connect,
    responses((status = 201, description = "the connected page or number", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<Connect>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let (channel, account_id) = body.parse()?;
    let sealed = match &*body {
        Connect::Messenger { page_access_token: Some(token), .. } => {
            if token.is_empty() || token.len() > 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::bad_request("invalid_value", "page_access_token is not a token"));
            }
            let tokens = state.tokens.as_ref().ok_or_else(|| {
                ApiError::bad_request(
                    "token_storage_disabled",
                    "this server cannot store page tokens: the operator must set SECRETS_KEY",
                )
            })?;
            Some(tokens.seal(&account_id, token))
        }
        _ => None,
    };
    let integration =
        state.store.create_integration(&user.license, channel, &account_id, sealed).await.map_err(|e| match e {
            StoreError::Duplicate => {
                ApiError::conflict("already_claimed", format!("{account_id} is already connected to a license"))
            }
            other => other.into(),
        })?;
    let event =
        user_event(&req, &state, &user, AuditAction::IntegrationConnected).target(integration.id.as_str()).metadata(
            json!({ "provider": channel, "account_id": account_id, "has_access_token": integration.has_access_token }),
        );
    state.audit.record(event).await;
    Ok(HttpResponse::Created().json(integration))
}

#[utoipa::path(
    get,
    path = "/api/integrations",
    tag = "integrations",
    responses((status = 200, description = "connected pages and numbers", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn list(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    Ok(HttpResponse::Ok().json(json!({ "integrations": state.store.integrations(&user.license).await? })))
}

#[utoipa::path(
    delete,
    path = "/api/integrations/{id}",
    tag = "integrations",
    params(("id" = String, Path, description = "integration id")),
    responses((status = 204, description = "disconnected")),
    security(("bearer" = []))
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    if state.store.delete_integration(&user.license, &path).await? {
        let event = user_event(&req, &state, &user, AuditAction::IntegrationDisconnected).target(path.as_str());
        state.audit.record(event).await;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("integration"))
    }
}
