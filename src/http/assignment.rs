//! Who answers a conversation and how it is labelled: assign, unassign, self-assign, add and remove labels.

use super::labels::label_name;
use super::{ApiError, DashboardUser};
use crate::actors::{agent_conversation, agent_member};
use crate::bus::{Activity, Event};
use crate::domain::{ConversationId, Permission};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the assignment and conversation-label routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations/{id}/assignee", web::put().to(assign))
        .route("/conversations/{id}/assignee", web::delete().to(unassign))
        .route("/conversations/{id}/labels", web::post().to(add_label))
        .route("/conversations/{id}/labels/{label}", web::delete().to(remove_label));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Assign {
    /// A member id, or `me` to take it yourself.
    #[schema(pattern = r"^(me|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    assignee_id: String,
}

/// Assigns the conversation: `me` needs the member role, anyone else the manager role. Every dashboard
/// gets `activity:new {type: "assigned"}`, the assignee a `notification:new`.
#[utoipa::path(put, path = "/api/conversations/{id}/assignee", tag = "conversations", request_body = Assign,
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the conversation", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn assign(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
    body: web::Json<Assign>,
) -> Result<HttpResponse, ApiError> {
    let id = agent_conversation(&path)?;
    let assignee = match body.assignee_id.as_str() {
        "me" => user.claims.sub.clone(),
        other => agent_member(other)?,
    };
    let conversation = state.registry.agent_assign(&user.teammate(), &id, Some(assignee)).await?;
    Ok(HttpResponse::Ok().json(conversation))
}

#[utoipa::path(delete, path = "/api/conversations/{id}/assignee", tag = "conversations",
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the unassigned conversation", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn unassign(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = agent_conversation(&path)?;
    let conversation = state.registry.agent_assign(&user.teammate(), &id, None).await?;
    Ok(HttpResponse::Ok().json(conversation))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddLabel {
    #[schema(pattern = r"^[a-z0-9_-]{1,40}$")]
    label: String,
}

#[utoipa::path(post, path = "/api/conversations/{id}/labels", tag = "conversations", request_body = AddLabel,
    params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the conversation's labels", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn add_label(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
    body: web::Json<AddLabel>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Answer)?;
    let id = known_conversation(&state, &user, &path).await?;
    let label = label_name(&body.label)?;
    if !state.store.add_conversation_label(&user.license, &id, &label).await? {
        return Err(ApiError::NotFound("label"));
    }
    labels_changed(&state, &user, id).await
}

#[utoipa::path(delete, path = "/api/conversations/{id}/labels/{label}", tag = "conversations",
    params(("id" = String, Path, description = "conversation id"), ("label" = String, Path, description = "label name")),
    responses((status = 200, description = "the conversation's labels", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn remove_label(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Answer)?;
    let (raw_id, label) = path.into_inner();
    let id = known_conversation(&state, &user, &raw_id).await?;
    state.store.remove_conversation_label(&user.license, &id, &label).await?;
    labels_changed(&state, &user, id).await
}

/// The caller's license's conversation `raw` names, or 404.
async fn known_conversation(state: &AppState, user: &DashboardUser, raw: &str) -> Result<ConversationId, ApiError> {
    let id = agent_conversation(raw)?;
    state.store.conversation(&user.license, &id).await?.ok_or(ApiError::NotFound("conversation"))?;
    Ok(id)
}

/// Tells every dashboard the conversation's labels now, and answers with them.
async fn labels_changed(state: &AppState, user: &DashboardUser, id: ConversationId) -> Result<HttpResponse, ApiError> {
    let labels = state.store.labels_of(&user.license, &[&id]).await?.remove(id.as_str()).unwrap_or_default();
    state.bus.publish(
        &user.license,
        Event::Activity(Activity::LabelsChanged { conversation_id: id, labels: labels.clone() }),
    );
    Ok(HttpResponse::Ok().json(json!({ "labels": labels })))
}
