//! Conversation logs and agent actions, strictly within the caller's license: for the dashboard (by
//! role) and for the tenant's backend (an API key with `conversations:read` or `conversations:write`).

use super::{ApiError, Caller};
use crate::actors::TeamView;
use crate::actors::{agent_conversation, agent_message};
use crate::domain::{now_millis, ConversationId, ConversationStatus, LicenseKey, Permission, Scope, UserId};
use crate::state::AppState;
use crate::store::{search_words, AssigneeFilter, ConversationCursor, ConversationFilter, ConversationSummary};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

/// Mounts the conversation routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/products/chatbot/conversations", web::get().to(list))
        .route("/conversations/{id}", web::get().to(show))
        .route("/conversations/{id}/messages", web::get().to(messages))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route("/conversations/{id}/close", web::post().to(close))
        .route("/conversations/{id}/reopen", web::post().to(reopen))
        .route("/conversations/{id}/read", web::post().to(read));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[param(pattern = r"^(open|closed)$")]
    status: Option<String>,
    /// `me`, `unassigned` or a member id.
    #[param(pattern = r"^(me|unassigned|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    assignee: Option<String>,
    /// A label name.
    #[param(pattern = r"^[a-z0-9_-]{1,40}$")]
    label: Option<String>,
    #[param(pattern = r"^(widget|messenger|whatsapp)$")]
    channel: Option<String>,
    /// Only conversations with visitor messages no agent has read.
    unread: Option<bool>,
    /// Words a message of the conversation contains (each as a prefix), e.g. `refund ord`.
    #[param(max_length = 200, pattern = r"[^\W_]")]
    q: Option<String>,
    /// Opaque: the `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,15}\.[0-9a-f]{32}$")]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request("invalid_query", format!("limit must be 1 to {MAX_PAGE}"))),
    }
}

/// Cursors are `<updated_at>.<id>` of the last conversation of the previous page.
fn parse_cursor(raw: &str) -> Result<ConversationCursor, ApiError> {
    raw.split_once('.')
        .and_then(|(time, id)| {
            Some(ConversationCursor { updated_at: time.parse().ok()?, id: ConversationId::parse(id).ok()? })
        })
        .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned"))
}

#[utoipa::path(
    get,
    path = "/api/products/chatbot/conversations",
    tag = "conversations",
    params(ListQuery),
    responses((status = 200, description = "a page of conversations, most recently active first", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, Scope::ConversationsRead)?;
    let assignee =
        match query.assignee.as_deref() {
            None => AssigneeFilter::Any,
            Some("me") => match &caller {
                Caller::User(user) => AssigneeFilter::Member(user.claims.sub.clone()),
                Caller::Key(_) => {
                    return Err(ApiError::bad_request("invalid_query", "an API key is nobody: name the member"))
                }
            },
            Some("unassigned") => AssigneeFilter::Unassigned,
            Some(id) => AssigneeFilter::Member(UserId::parse(id).map_err(|_| {
                ApiError::bad_request("invalid_query", "assignee must be me, unassigned or a member id")
            })?),
        };
    let filter = ConversationFilter {
        status: query.status.as_deref().map(str::parse).transpose()?,
        channel: query.channel.as_deref().map(str::parse).transpose()?,
        assignee,
        label: query.label.as_deref().map(super::labels::label_name).transpose()?,
        unread_only: query.unread.unwrap_or(false),
        words: match query.q.as_deref() {
            None => Vec::new(),
            Some(q) => {
                let words = search_words(q);
                if words.is_empty() || q.chars().count() > 200 {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        "q needs 1 to 200 characters with a letter or digit",
                    ));
                }
                words
            }
        },
    };
    let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = page_size(query.limit)?;
    let mut page = state.store.list_conversations(caller.license(), &filter, cursor.as_ref(), limit).await?;
    flag_waiting(&state, caller.license(), &mut page).await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|s| format!("{}.{}", s.conversation.updated_at, s.conversation.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "conversations": page, "next_cursor": next_cursor })))
}

/// Marks the open conversations whose assignee shows offline, last seen longer ago than the team's
/// `waiting_after_minutes`: they stay assigned, and the inbox shows them as waiting for someone.
async fn flag_waiting(
    state: &AppState,
    license: &LicenseKey,
    page: &mut [ConversationSummary],
) -> Result<(), ApiError> {
    let assigned = |s: &ConversationSummary| {
        s.conversation.status == ConversationStatus::Open && s.conversation.assignee_id.is_some()
    };
    let mut assignees: Vec<&UserId> =
        page.iter().filter(|s| assigned(s)).filter_map(|s| s.conversation.assignee_id.as_ref()).collect();
    if assignees.is_empty() {
        return Ok(());
    }
    assignees.sort_unstable();
    assignees.dedup();
    // The live availability from the tenant actor (memory), the rest in one store read.
    let shown = state.registry.tenant(license).send(TeamView).await.map_err(|_| ApiError::Unavailable)?;
    let (waiting_after_minutes, last_seen) = state.store.waiting_inputs(license, &assignees).await?;
    let since = now_millis() - waiting_after_minutes * 60_000;
    for summary in page.iter_mut().filter(|s| assigned(s)) {
        let Some(assignee) = &summary.conversation.assignee_id else { continue };
        let away = !shown.contains_key(assignee);
        let long_ago = last_seen.get(assignee).copied().flatten().is_none_or(|seen| seen < since);
        summary.waiting = away && long_ago;
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the conversation", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn show(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, Scope::ConversationsRead)?;
    let id = agent_conversation(&path)?;
    let license = caller.license();
    let conversation = state.store.conversation(license, &id).await?.ok_or(ApiError::NotFound("conversation"))?;
    let labels = state.store.labels_of(license, &[&id]).await?.remove(id.as_str()).unwrap_or_default();
    let mut shown = serde_json::to_value(conversation).map_err(anyhow::Error::from)?;
    shown["labels"] = json!(labels);
    Ok(HttpResponse::Ok().json(shown))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    #[param(minimum = 0)]
    before: Option<i64>,
    #[param(minimum = 0)]
    after: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// Newest page by default; `before=<seq>` pages back, `after=<seq>` reads forward.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/messages",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id"), MessagesQuery),
    responses((status = 200, description = "a page of messages, oldest first", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn messages(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, Scope::ConversationsRead)?;
    let limit = page_size(query.limit)?;
    let id = agent_conversation(&path)?;
    let license = caller.license();
    state.store.conversation(license, &id).await?.ok_or(ApiError::NotFound("conversation"))?;
    let messages = match (query.after, query.before) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("invalid_query", "use either before or after, not both"));
        }
        (Some(after), None) => state.store.messages_after(license, &id, after, limit).await?,
        (None, before) => state.store.messages_before(license, &id, before.unwrap_or(i64::MAX), limit).await?,
    };
    let first = messages.first().map(|m| m.seq);
    let last = messages.last().map(|m| m.seq);
    let full = messages.len() as i64 == limit;
    Ok(HttpResponse::Ok().json(json!({
        "messages": messages,
        "prev_before": if query.after.is_none() && full { first } else { None },
        "next_after": if query.after.is_some() && full { last } else { None },
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplyRequest {
    #[schema(max_length = 4000, pattern = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    text: String,
    #[schema(min_length = 1, max_length = 64)]
    client_msg_id: Option<String>,
    /// A private note for the team: never shown to the visitor or sent out on a channel.
    #[serde(default)]
    private: bool,
    /// API keys only: reply as this member of the license; without it the reply is the backend's own (a
    /// bot: an agent message with no author). Dashboard replies are always the caller's.
    #[schema(pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    author_id: Option<String>,
}

/// Who a reply is written by: the dashboard user; for an API key, the member it names or nobody (a bot).
async fn reply_author(state: &AppState, caller: &Caller, named: Option<&str>) -> Result<Option<UserId>, ApiError> {
    match (caller, named) {
        (Caller::User(user), None) => Ok(Some(user.claims.sub.clone())),
        (Caller::User(user), Some(named)) if named == user.claims.sub.as_str() => Ok(Some(user.claims.sub.clone())),
        (Caller::User(_), Some(_)) => Err(ApiError::forbidden(
            "insufficient_role",
            "a dashboard reply is the caller's own; only API keys reply as another member",
        )),
        (Caller::Key(_), None) => Ok(None),
        (Caller::Key(key), Some(named)) => {
            let id = UserId::parse(named)?;
            match state.store.member(&key.license, &id).await? {
                Some(member) if member.status == "active" => Ok(Some(id)),
                _ => Err(ApiError::NotFound("member")),
            }
        }
    }
}

/// An agent's reply: the same path as a Socket.IO `message:send`, delivered live to the visitor.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/messages",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id")),
    request_body = ReplyRequest,
    responses((status = 200, description = "the stored copy of a resent client_msg_id", body = serde_json::Value), (status = 201, description = "the stored reply", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn reply(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Answer, Scope::ConversationsWrite)?;
    let author = reply_author(&state, &caller, body.author_id.as_deref()).await?;
    let message = agent_message(author.as_ref(), &body.text, body.client_msg_id.as_deref(), body.private)?;
    let appended = state.registry.agent_reply(&caller.teammate(), &agent_conversation(&path)?, message).await?;
    let mut status = if appended.duplicate { HttpResponse::Ok() } else { HttpResponse::Created() };
    Ok(status.json(json!({ "message": appended.message, "duplicate": appended.duplicate })))
}

#[utoipa::path(
    post,
    path = "/api/conversations/{id}/close",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the closed conversation", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn close(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Answer, Scope::ConversationsWrite)?;
    let conversation = state
        .registry
        .agent_set_status(&caller.teammate(), &agent_conversation(&path)?, ConversationStatus::Closed)
        .await?;
    Ok(HttpResponse::Ok().json(conversation))
}

#[utoipa::path(
    post,
    path = "/api/conversations/{id}/reopen",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the reopened conversation", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn reopen(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Answer, Scope::ConversationsWrite)?;
    let conversation = state
        .registry
        .agent_set_status(&caller.teammate(), &agent_conversation(&path)?, ConversationStatus::Open)
        .await?;
    Ok(HttpResponse::Ok().json(conversation))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReadRequest {
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "super::json_object::whole_number")]
    seq: i64,
}

/// The agent has read up to `seq`: clears the unread count and shows a read receipt to the visitor.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/read",
    tag = "conversations",
    params(("id" = String, Path, description = "conversation id")),
    request_body = ReadRequest,
    responses((status = 204, description = "read up to seq")),
    security(("bearer" = []), ("api_key" = []))
)]
async fn read(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ReadRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Answer, Scope::ConversationsWrite)?;
    state.registry.agent_read(&caller.teammate(), &agent_conversation(&path)?, body.seq).await?;
    Ok(HttpResponse::NoContent().finish())
}
