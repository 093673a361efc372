//! What a dashboard socket may emit: replies and notes, close, typing, assignment. Each answers through
//! its acknowledgement with `{ok: true, …}` or `{ok: false, error: {code, message}}`, the codes HTTP uses.

use super::{Dashboard, SocketIoState};
use crate::actors::{agent_conversation, agent_member, agent_message, AgentError};
use crate::domain::ConversationStatus;
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Extension, State, TryData};

#[derive(Deserialize)]
pub(super) struct SendPayload {
    conversation_id: String,
    text: String,
    client_msg_id: Option<String>,
    #[serde(default)]
    private: bool,
}

/// Runs a client emit's action and answers through its acknowledgement: `{ok: false, error}` for an
/// emit over the member's budget (`rate_limited`, nothing done), a payload that does not parse, or an
/// action that fails.
async fn acknowledge<P, E, F, Fut>(within_budget: bool, ack: AckSender, payload: Result<P, E>, action: F)
where
    E: std::fmt::Display,
    F: FnOnce(P) -> Fut,
    Fut: std::future::Future<Output = Result<Value, AgentError>>,
{
    let answer = if !within_budget {
        let message = "too many emits per second (SOCKETIO_EMIT_RATE_PER_SECOND); slow down";
        json!({ "ok": false, "error": { "code": "rate_limited", "message": message } })
    } else {
        match payload {
            Err(err) => invalid(&err),
            Ok(payload) => action(payload).await.unwrap_or_else(failure),
        }
    };
    let _ = ack.send(&answer);
}

pub(super) async fn on_message_send(
    TryData(payload): TryData<SendPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(within_budget(&state, &dashboard), ack, payload, |p| async move {
        let message = agent_message(Some(&dashboard.teammate.id), &p.text, p.client_msg_id.as_deref(), p.private)?;
        let id = agent_conversation(&p.conversation_id)?;
        let appended = state.registry.agent_reply(&dashboard.teammate, &id, message).await?;
        Ok(json!({ "ok": true, "duplicate": appended.duplicate, "message": appended.message }))
    })
    .await;
}

#[derive(Deserialize)]
pub(super) struct ConversationPayload {
    conversation_id: String,
}

pub(super) async fn on_close(
    TryData(payload): TryData<ConversationPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(within_budget(&state, &dashboard), ack, payload, |p| async move {
        let closed = ConversationStatus::Closed;
        let id = agent_conversation(&p.conversation_id)?;
        let conversation = state.registry.agent_set_status(&dashboard.teammate, &id, closed).await?;
        Ok(json!({ "ok": true, "conversation": conversation }))
    })
    .await;
}

#[derive(Deserialize)]
pub(super) struct TypingPayload {
    conversation_id: String,
    is_typing: bool,
}

pub(super) async fn on_typing(
    TryData(payload): TryData<TypingPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(within_budget(&state, &dashboard), ack, payload, |p| async move {
        let id = agent_conversation(&p.conversation_id)?;
        state.registry.agent_typing(&dashboard.teammate, &id, p.is_typing).await?;
        Ok(json!({ "ok": true }))
    })
    .await;
}

#[derive(Deserialize)]
pub(super) struct AssignPayload {
    conversation_id: String,
    /// `null` unassigns.
    assignee_id: Option<String>,
}

pub(super) async fn on_assign(
    TryData(payload): TryData<AssignPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(within_budget(&state, &dashboard), ack, payload, |p| async move {
        let id = agent_conversation(&p.conversation_id)?;
        let assignee = p.assignee_id.as_deref().map(agent_member).transpose()?;
        let conversation = state.registry.agent_assign(&dashboard.teammate, &id, assignee).await?;
        Ok(json!({ "ok": true, "conversation": conversation }))
    })
    .await;
}

/// Whether the member may send another emit now (their per-second budget on this node).
fn within_budget(state: &SocketIoState, dashboard: &Dashboard) -> bool {
    state.limits.allow_emit(&dashboard.teammate.license, dashboard.teammate.id.as_str())
}

fn invalid(err: &dyn std::fmt::Display) -> Value {
    json!({ "ok": false, "error": { "code": "invalid_payload", "message": err.to_string() } })
}

/// An action's failure, with the code and message HTTP would answer ([`ApiError`], the one mapping).
fn failure(err: AgentError) -> Value {
    let err = ApiError::from(err);
    if let ApiError::Internal(source) = &err {
        tracing::error!(error = ?source, "a dashboard action failed");
    }
    json!({ "ok": false, "error": { "code": err.code(), "message": err.to_string() } })
}
