//! `POST /api/widget/leads`: the widget's pre-chat or offline form. Public like the widget's config
//! (any website may post; the product key and the visitor's token say who), validated against the
//! tenant's `leadForm`, stored on the visitor's conversation (one is opened if they have none) with the
//! `lead_capture` webhook event in the same transaction, and shown to the team as `lead_captured`.

use super::sockets::visitor_id_of;
use super::{client_ip, resolve_widget_key, ApiError};
use crate::actors::CaptureLead;
use crate::domain::{Channel, Lead, LeadAnswers, LicenseKey, ProductKey, VisitorToken, WidgetConfig};
use crate::state::AppState;
use crate::store::{Conversation, NewConversation, StoreError};
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Mounts the form's endpoint, CORS-open (with its preflight), outside the metered `/api` scope.
pub(super) fn public_routes(cfg: &mut web::ServiceConfig) {
    let cors = middleware::DefaultHeaders::new()
        .add(("Access-Control-Allow-Origin", "*"))
        .add(("Access-Control-Allow-Methods", "POST, OPTIONS"))
        .add(("Access-Control-Allow-Headers", "content-type"))
        .add(("Access-Control-Max-Age", "600"));
    cfg.service(
        web::resource("/api/widget/leads")
            .wrap(cors)
            .route(web::post().to(submit_lead))
            .route(web::method(actix_web::http::Method::OPTIONS).to(HttpResponse::NoContent)),
    );
}

/// The form as the widget sends it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LeadRequest {
    /// The widget's `chat_` key.
    #[schema(pattern = r"^chat_[a-z0-9]{16}$")]
    product_key: String,
    /// The visitor's token from the socket's `welcome` frame.
    #[schema(pattern = r"^[0-9a-f]{32}$")]
    visitor_token: String,
    /// Their name (required when the form says so).
    #[schema(max_length = 200)]
    name: Option<String>,
    /// Their e-mail address (always required).
    #[schema(max_length = 254)]
    email: Option<String>,
    /// Their phone number (digits, spaces, `+-.()`).
    #[schema(max_length = 200)]
    phone: Option<String>,
    /// Answers to the form's custom fields, by key.
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

#[utoipa::path(
    post,
    path = "/api/widget/leads",
    tag = "widget",
    request_body = LeadRequest,
    responses((status = 201, description = "the lead is stored on the visitor's conversation (400 codes: missing_field, invalid_email, invalid_phone, unknown_field, field_too_long, invalid_value, invalid_visitor_token)", body = serde_json::Value))
)]
async fn submit_lead(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LeadRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let key = ProductKey::parse(&body.product_key)?;
    let token = VisitorToken::parse(&body.visitor_token)
        .map_err(|_| ApiError::bad_request("invalid_visitor_token", "visitor_token is not one this server issues"))?;
    let record = resolve_widget_key(&state.store, &key).await?;
    let license = record.license_key;
    let config: WidgetConfig = match state.store.widget_config(&license).await? {
        Some(stored) => serde_json::from_value(stored).unwrap_or_default(),
        None => WidgetConfig::default(),
    };
    let answers = LeadAnswers { name: body.name, email: body.email, phone: body.phone, fields: body.fields };
    let lead = Lead::parse(&config.lead_form, answers).map_err(|r| ApiError::bad_request(r.code, r.message))?;
    let conversation = visitor_conversation(&req, &state, &license, &key, &token).await?;
    let stored = state
        .registry
        .send(&license, &conversation.id, CaptureLead(lead))
        .await?
        .ok_or(ApiError::NotFound("conversation"))??;
    Ok(HttpResponse::Created().json(json!({
        "conversation_id": stored.id,
        "visitor_id": stored.contact_id,
        "lead": stored.lead,
    })))
}

/// The visitor's conversation, opened now when they have none (an offline form before any message):
/// the same per-source budget as a first message applies.
async fn visitor_conversation(
    req: &HttpRequest,
    state: &AppState,
    license: &LicenseKey,
    key: &ProductKey,
    token: &VisitorToken,
) -> Result<Conversation, ApiError> {
    if let Some(existing) = state.store.conversation_by_visitor(license, token).await? {
        return Ok(existing);
    }
    if !state.limits.allow_new_conversation(client_ip(req, state.trust_x_forwarded_for)) {
        return Err(ApiError::TooManyRequests {
            code: "rate_limited",
            message: "too many new conversations from this address; try again in a minute".into(),
            retry_after: 60,
        });
    }
    let new = NewConversation {
        license: license.clone(),
        channel: Channel::Widget,
        contact_id: visitor_id_of(token),
        visitor_token: Some(token.clone()),
        metadata: json!({ "product_key": key.as_str() }),
    };
    let opened = state.registry.open_conversation(new).await;
    match opened {
        Ok((conversation, _)) => Ok(conversation),
        // The visitor's socket (on any node) opened it meanwhile.
        Err(StoreError::Duplicate) => {
            state.store.conversation_by_visitor(license, token).await?.ok_or(ApiError::NotFound("conversation"))
        }
        Err(err) => Err(err.into()),
    }
}
