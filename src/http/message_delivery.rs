//! `GET /api/conversations/{id}/messages/{message_id}/delivery`: where an outbound Messenger or WhatsApp
//! message stands, with every provider call made for it (intent, outcome, status, error).

use super::{ApiError, Caller};
use crate::actors::agent_conversation;
use crate::domain::{MessageId, Permission, Scope};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Mounts the route under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations/{id}/messages/{message_id}/delivery", web::get().to(show));
}

#[utoipa::path(
    get,
    path = "/api/conversations/{id}/messages/{message_id}/delivery",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id"), ("message_id" = String, Path, description = "message id")),
    responses((status = 200, description = "`{message_id, delivery (pending, sent, delivered, failed, unknown; null for widget messages), provider_msg_id, attempts: [{attempt, outcome (in_flight, sent, retry, failed, unknown), status_code, error, created_at, finished_at}]}`", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, Scope::ConversationsRead)?;
    let (conversation, message) = path.into_inner();
    let conversation = agent_conversation(&conversation)?;
    let message_id = MessageId::parse(&message).map_err(|_| ApiError::NotFound("message"))?;
    let license = caller.license();
    let message = state
        .store
        .message(license, &message_id)
        .await?
        .filter(|m| m.conversation_id == conversation)
        .ok_or(ApiError::NotFound("message"))?;
    let provider_msg_id = state.store.provider_msg_id(license, &message_id).await?;
    let attempts = state.store.delivery_attempts(license, &message_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "delivery": message.delivery,
        "provider_msg_id": provider_msg_id,
        "attempts": attempts,
    })))
}
