//! `/api/integrations`: a tenant connects its Facebook page or WhatsApp number. A page or number
//! belongs to one license; a second claim is refused.

use super::{ApiError, DashboardUser};
use crate::domain::Channel;
use crate::state::AppState;
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the integration routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/integrations", web::get().to(list))
        .route("/integrations", web::post().to(create))
        .route("/integrations/{id}", web::delete().to(delete));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Connect {
    provider: String,
    page_id: Option<String>,
    number: Option<String>,
}

impl Connect {
    /// The channel and the validated account id.
    fn parse(&self) -> Result<(Channel, String), ApiError> {
        let invalid = |m: &str| ApiError::bad_request("invalid_value", m);
        match self.provider.as_str() {
            "messenger" => {
                let page = self.page_id.as_deref().ok_or_else(|| invalid("messenger needs page_id"))?;
                if page.is_empty() || page.len() > 32 || !page.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("page_id must be the page's numeric id"));
                }
                Ok((Channel::Messenger, page.to_owned()))
            }
            "whatsapp" => {
                let number = self.number.as_deref().ok_or_else(|| invalid("whatsapp needs number"))?;
                let digits = number.strip_prefix('+').unwrap_or("");
                if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("number must be in E.164 form, like +14155238886"));
                }
                Ok((Channel::Whatsapp, number.to_owned()))
            }
            other => Err(invalid(&format!("unknown provider '{other}' (expected messenger or whatsapp)"))),
        }
    }
}

async fn create(
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<Connect>,
) -> Result<HttpResponse, ApiError> {
    let (channel, account_id) = body.parse()?;
    let integration =
        state.store.create_integration(&user.license, channel, &account_id).await.map_err(|e| match e {
            StoreError::Duplicate => {
                ApiError::conflict("already_claimed", format!("{account_id} is already connected to a license"))
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(integration))
}

async fn list(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({ "integrations": state.store.integrations(&user.license).await? })))
}

async fn delete(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if state.store.delete_integration(&user.license, &path).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("integration"))
    }
}
