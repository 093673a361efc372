//! What a dashboard socket may emit: replies and notes, close, typing, assignment. Each answers through
//! its acknowledgement with `{ok: true, …}` or `{ok: false, error: {code, message}}`, the codes HTTP uses.
//! [`answer`] is the one implementation, for both the native WebSocket sockets and socketioxide's.

use super::SocketIoState;
use crate::actors::{agent_conversation, agent_member, agent_message, AgentError, Teammate};
use crate::domain::ConversationStatus;
use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Event, Extension, SocketRef, State, TryData};

/// The events a dashboard may emit.
const EVENTS: [&str; 4] = ["message:send", "conversation:close", "typing", "conversation:assign"];

#[derive(Deserialize)]
struct SendPayload {
    conversation_id: String,
    text: String,
    client_msg_id: Option<String>,
    #[serde(default)]
    private: bool,
}

#[derive(Deserialize)]
struct ConversationPayload {
    conversation_id: String,
}

#[derive(Deserialize)]
struct TypingPayload {
    conversation_id: String,
    is_typing: bool,
}

#[derive(Deserialize)]
struct AssignPayload {
    conversation_id: String,
    /// `null` unassigns.
    assignee_id: Option<String>,
}

/// Answers every emit of a socketioxide socket with [`answer`] (unknown events included, as natively).
pub(super) fn listen(socket: &SocketRef) {
    socket.on_fallback(
        |Event(event): Event,
         TryData(data): TryData<Value>,
         Extension(dashboard): Extension<super::Dashboard>,
         State(state): State<SocketIoState>,
         ack: AckSender| async move {
            let answer = answer(&state, &dashboard.teammate, &event, data.unwrap_or(Value::Null)).await;
            let _ = ack.send(&answer);
        },
    );
}

/// Runs `teammate`'s emit of `event` with `data` and returns its acknowledgement: `{ok: false, error}`
/// for an emit over the member's budget (`rate_limited`, nothing done), an unknown event, a payload that
/// does not parse, or an action that fails.
pub(super) async fn answer(state: &SocketIoState, teammate: &Teammate, event: &str, data: Value) -> Value {
    if !state.limits.allow_emit(&teammate.license, teammate.id.as_str()) {
        let message = "too many emits per second (SOCKETIO_EMIT_RATE_PER_SECOND); slow down";
        return json!({ "ok": false, "error": { "code": "rate_limited", "message": message } });
    }
    let registry = &state.registry;
    match event {
        "message:send" => {
            act(data, |p: SendPayload| async move {
                let message = agent_message(Some(&teammate.id), &p.text, p.client_msg_id.as_deref(), p.private)?;
                let id = agent_conversation(&p.conversation_id)?;
                let appended = registry.agent_reply(teammate, &id, message).await?;
                Ok(json!({ "ok": true, "duplicate": appended.duplicate, "message": appended.message }))
            })
            .await
        }
        "conversation:close" => {
            act(data, |p: ConversationPayload| async move {
                let id = agent_conversation(&p.conversation_id)?;
                let conversation = registry.agent_set_status(teammate, &id, ConversationStatus::Closed).await?;
                Ok(json!({ "ok": true, "conversation": conversation }))
            })
            .await
        }
        "typing" => {
            act(data, |p: TypingPayload| async move {
                let id = agent_conversation(&p.conversation_id)?;
                registry.agent_typing(teammate, &id, p.is_typing).await?;
                Ok(json!({ "ok": true }))
            })
            .await
        }
        "conversation:assign" => {
            act(data, |p: AssignPayload| async move {
                let id = agent_conversation(&p.conversation_id)?;
                let assignee = p.assignee_id.as_deref().map(agent_member).transpose()?;
                let conversation = registry.agent_assign(teammate, &id, assignee).await?;
                Ok(json!({ "ok": true, "conversation": conversation }))
            })
            .await
        }
        other => {
            let message = format!("unknown event {other:?}; dashboards emit {}", EVENTS.join(", "));
            json!({ "ok": false, "error": { "code": "unknown_event", "message": message } })
        }
    }
}

/// Runs `action` on the payload parsed as `P`: its answer, or why the payload does not parse or the action
/// failed.
async fn act<P, F, Fut>(data: Value, action: F) -> Value
where
    P: DeserializeOwned,
    F: FnOnce(P) -> Fut,
    Fut: std::future::Future<Output = Result<Value, AgentError>>,
{
    match serde_json::from_value(data) {
        Ok(payload) => action(payload).await.unwrap_or_else(failure),
        Err(err) => json!({ "ok": false, "error": { "code": "invalid_payload", "message": err.to_string() } }),
    }
}

/// An action's failure, with the code and message HTTP would answer ([`ApiError`], the one mapping).
fn failure(err: AgentError) -> Value {
    let err = ApiError::from(err);
    if let ApiError::Internal(source) = &err {
        tracing::error!(error = ?source, "a dashboard action failed");
    }
    json!({ "ok": false, "error": { "code": err.code(), "message": err.to_string() } })
}
