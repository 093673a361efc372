//! Provider webhooks: Messenger (`/api/webhooks/messenger`) and Twilio WhatsApp
//! (`/api/webhooks/twilio/whatsapp`, status callbacks at `/api/webhooks/twilio/status`).
//! Every body is verified before anything is parsed; the answer comes after the store has the message,
//! and redeliveries (same provider message id) are stored once.

use super::{public_base, ApiError};
use crate::actors::{Post, RateReply};
use crate::channels::{messenger, twilio, InboundMessage};
use crate::delivery::announce_delivery;
use crate::domain::{Channel, CsatReply, Delivery, LicenseKey, MessageKind, Sender, MAX_MESSAGE_CHARS};
use crate::state::AppState;
use crate::store::NewMessage;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::HashMap;

/// Largest webhook body accepted (Messenger batches several events).
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// Mounts the webhook routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/messenger", web::get().to(messenger_handshake))
        .route("/webhooks/messenger", web::post().to(messenger_events))
        .route("/webhooks/twilio/whatsapp", web::post().to(whatsapp_message))
        .route("/webhooks/twilio/status", web::post().to(whatsapp_status));
}

fn disabled(channel: &str, variables: &str) -> ApiError {
    ApiError::Disabled(format!("the {channel} channel is disabled on this server: set {variables}"))
}

fn bad_signature(header: &str) -> ApiError {
    tracing::warn!(header, "webhook refused: bad signature");
    ApiError::forbidden("invalid_signature", format!("the {header} header does not match the body"))
}

/// Reads the raw body (signatures cover the exact bytes) up to `limit` (`WEBHOOK_MAX_BODY_BYTES`, also
/// enforced by the body guard before the handler).
async fn raw_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: String,
    #[serde(rename = "hub.verify_token")]
    verify_token: String,
    #[serde(rename = "hub.challenge")]
    challenge: String,
}

/// Messenger's subscription check: echo `hub.challenge` when the verify token is ours.
#[utoipa::path(
    get,
    path = "/api/webhooks/messenger",
    tag = "provider webhooks",
    params(Handshake),
    responses((status = 200, description = "the challenge, as text", body = String, content_type = "text/plain"))
)]
async fn messenger_handshake(
    state: web::Data<AppState>,
    query: web::Query<Handshake>,
) -> Result<HttpResponse, ApiError> {
    let config = state
        .messenger
        .as_ref()
        .ok_or_else(|| disabled("Messenger", "MESSENGER_APP_SECRET and MESSENGER_VERIFY_TOKEN"))?;
    if !messenger::handshake_is_valid(config, &query.mode, &query.verify_token) {
        return Err(ApiError::forbidden("invalid_verify_token", "hub.mode or hub.verify_token is wrong"));
    }
    Ok(HttpResponse::Ok().content_type("text/plain").body(query.challenge.clone()))
}

#[utoipa::path(
    post,
    path = "/api/webhooks/messenger",
    tag = "provider webhooks",
    request_body(content = serde_json::Value, content_type = "application/json", description = "the provider's signed event batch"),
    responses((status = 200, description = "EVENT_RECEIVED, after the store has the messages", body = String, content_type = "text/plain")),
    security(("messenger_signature" = []))
)]
async fn messenger_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let config = state
        .messenger
        .as_ref()
        .ok_or_else(|| disabled("Messenger", "MESSENGER_APP_SECRET and MESSENGER_VERIFY_TOKEN"))?;
    let body = raw_body(payload, state.webhook_max_body_bytes).await?;
    if !messenger::signature_is_valid(&config.app_secret, &body, header(&req, "X-Hub-Signature-256")) {
        return Err(bad_signature("X-Hub-Signature-256"));
    }
    let batch = messenger::parse_webhook(&body).map_err(|e| ApiError::bad_request("invalid_webhook", e))?;
    let mut owners: HashMap<String, Option<LicenseKey>> = HashMap::new();
    let mut stored = 0;
    for message in &batch.messages {
        if !owners.contains_key(&message.account_id) {
            let owner = state.store.integration_by_account(Channel::Messenger, &message.account_id).await?;
            owners.insert(message.account_id.clone(), owner.map(|i| i.license_key));
        }
        let Some(Some(license)) = owners.get(&message.account_id) else {
            tracing::warn!(page = %message.account_id, "Messenger event for a page no license connected");
            continue;
        };
        ingest(&state, license, Channel::Messenger, message).await?;
        stored += 1;
    }
    for mid in &batch.delivered {
        settle_outbound(&state, mid, Delivery::Delivered).await?;
    }
    if stored == 0 && !batch.messages.is_empty() {
        return Err(ApiError::NotFound("page"));
    }
    Ok(HttpResponse::Ok().content_type("text/plain").body("EVENT_RECEIVED"))
}

/// Verifies a Twilio request against the public URL it was sent to, and returns its parameters.
async fn twilio_params(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<(String, String)>, ApiError> {
    let config =
        state.twilio.as_ref().ok_or_else(|| disabled("WhatsApp", "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"))?;
    let body = raw_body(payload, state.webhook_max_body_bytes).await?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::bad_request("invalid_form", format!("invalid form body: {e}")))?;
    let path = req.uri().path_and_query().map_or(req.path(), |p| p.as_str());
    let url = format!("{}{path}", public_base(req, state.public_url.as_deref()));
    if !twilio::signature_is_valid(&config.auth_token, &url, &params, header(req, "X-Twilio-Signature")) {
        return Err(bad_signature("X-Twilio-Signature"));
    }
    Ok(params)
}

#[utoipa::path(
    post,
    path = "/api/webhooks/twilio/whatsapp",
    tag = "provider webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's signed form"),
    responses((status = 200, description = "empty TwiML", body = String, content_type = "application/xml")),
    security(("twilio_signature" = []))
)]
async fn whatsapp_message(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let params = twilio_params(&state, &req, payload).await?;
    let messages = twilio::parse_inbound(&params).map_err(|e| ApiError::bad_request("invalid_webhook", e))?;
    let number = messages.first().map(|m| m.account_id.clone()).unwrap_or_default();
    let Some(owner) = state.store.integration_by_account(Channel::Whatsapp, &number).await? else {
        tracing::warn!(%number, "WhatsApp message for a number no license connected");
        return Err(ApiError::NotFound("WhatsApp number"));
    };
    for message in &messages {
        ingest(&state, &owner.license_key, Channel::Whatsapp, message).await?;
    }
    Ok(HttpResponse::Ok().content_type("text/xml").body(EMPTY_TWIML))
}

#[utoipa::path(
    post,
    path = "/api/webhooks/twilio/status",
    tag = "provider webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's signed form"),
    responses((status = 200, description = "empty TwiML", body = String, content_type = "application/xml")),
    security(("twilio_signature" = []))
)]
async fn whatsapp_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let params = twilio_params(&state, &req, payload).await?;
    let (sid, delivery) = twilio::parse_status(&params).map_err(|e| ApiError::bad_request("invalid_webhook", e))?;
    if let Some(delivery) = delivery {
        if !settle_outbound(&state, &sid, delivery).await? {
            return Err(ApiError::NotFound("message"));
        }
    }
    Ok(HttpResponse::Ok().content_type("text/xml").body(EMPTY_TWIML))
}

/// Stores one inbound message in the contact's conversation; a redelivery is answered from the store.
async fn ingest(
    state: &AppState,
    license: &LicenseKey,
    channel: Channel,
    inbound: &InboundMessage,
) -> Result<(), ApiError> {
    // A flood for one license is refused before any work; the provider retries, and its message ids
    // make the retry of what was already stored a no-op.
    if !state.limits.allow_webhook_ingest(license) {
        return Err(ApiError::TooManyRequests {
            code: "rate_limited",
            message: "too many inbound messages per second for this license; retry shortly".into(),
            retry_after: 1,
        });
    }
    let conversation_id =
        state.registry.contact_conversation(license, channel, &inbound.account_id, &inbound.contact_id).await?;
    let provider_msg_id: String = inbound.provider_msg_id.chars().take(100).collect();
    // A reply to the rating question that reads as 1–5 is the rating, not a message; anything else
    // (or a rating for an open or already rated conversation) is stored as usual.
    if let Some(reply) = Some(inbound).filter(|m| m.kind == MessageKind::Text).and_then(|m| CsatReply::parse(&m.body)) {
        let rate = RateReply { reply, provider_msg_id: provider_msg_id.clone() };
        if state.registry.send(license, &conversation_id, rate).await?.transpose()? == Some(true) {
            return Ok(());
        }
    }
    let body =
        if inbound.body.trim().is_empty() { format!("({})", inbound.kind.as_str()) } else { inbound.body.clone() };
    let post = Post {
        message: NewMessage {
            sender: Sender::Visitor,
            kind: inbound.kind,
            text: body.chars().take(MAX_MESSAGE_CHARS).collect(),
            client_msg_id: Some(provider_msg_id),
            author_id: None,
            delivery: None,
        },
        origin: None,
    };
    state.registry.send(license, &conversation_id, post).await?.ok_or(ApiError::NotFound("conversation"))??;
    Ok(())
}

/// Applies a provider's delivery report to our message; `false` when we never sent that id.
async fn settle_outbound(state: &AppState, provider_msg_id: &str, delivery: Delivery) -> Result<bool, ApiError> {
    let Some(found) = state.store.message_by_provider_id(provider_msg_id).await? else {
        return Ok(false);
    };
    let license = LicenseKey::parse(&found.license_key)?;
    if state.store.set_delivery(&license, &found.message_id, delivery, None).await? {
        announce_delivery(&state.bus, &license, &found.conversation_id, &found.message_id, delivery, None);
    }
    Ok(true)
}
