//! Data protection, for admins: the license's retention period (`/api/security/data-retention`), and one
//! contact's export and erasure (`/api/contacts/{contact_id}`). Each change is audited; an erasure reaches
//! the live state of every node (actors stopped, the visitor's sockets closed).

use super::{user_event, ApiError, DashboardUser, JsonObject};
use crate::domain::{now_millis, AuditAction, ContactId, Permission};
use crate::state::AppState;
use crate::store::MAX_RETENTION_DAYS;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Messages read per page while exporting.
const EXPORT_PAGE: i64 = 500;

/// Mounts the routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/security/data-retention", web::get().to(show_retention))
        .route("/security/data-retention", web::put().to(set_retention))
        .route("/contacts/{contact_id}/export", web::get().to(export_contact))
        .route("/contacts/{contact_id}", web::delete().to(erase_contact));
}

#[utoipa::path(
    get,
    path = "/api/security/data-retention",
    tag = "security",
    responses((status = 200, description = "`{days}`: messages, and conversations idle for longer, are deleted after this many days; `null` keeps everything", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn show_retention(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let days = state.store.retention_days(&user.license).await?;
    Ok(HttpResponse::Ok().json(json!({ "days": days })))
}

/// The retention period to set.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RetentionBody {
    /// Days to keep messages and idle conversations (1–3650); `null` keeps everything.
    #[serde(default, deserialize_with = "super::json_object::nullable_whole_number")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    days: Option<Option<i64>>,
}

/// Sets or clears the period; the node's retention job starts a sweep at once.
#[utoipa::path(
    put,
    path = "/api/security/data-retention",
    tag = "security",
    request_body = RetentionBody,
    responses((status = 200, description = "the stored period", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn set_retention(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: JsonObject<RetentionBody>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let days = body.0.days.flatten();
    if days.is_some_and(|d| !(1..=MAX_RETENTION_DAYS).contains(&d)) {
        return Err(ApiError::bad_request("invalid_value", format!("days must be 1 to {MAX_RETENTION_DAYS}, or null")));
    }
    let before = state.store.retention_days(&user.license).await?;
    state.store.set_retention_days(&user.license, days).await?;
    let event = user_event(&req, &state, &user, AuditAction::DataRetentionUpdated)
        .target("data_retention")
        .metadata(json!({ "days": days, "previous_days": before }));
    state.audit.record(event).await;
    state.retention.wake();
    Ok(HttpResponse::Ok().json(json!({ "days": days })))
}

/// A contact id in a path: a visitor id (`v_…`), a Messenger PSID or a WhatsApp number.
fn contact_from_path(raw: &str) -> Result<ContactId, ApiError> {
    let ok = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:+.@-".contains(&b));
    if !ok {
        return Err(ApiError::bad_request("invalid_path", "not a contact id"));
    }
    Ok(ContactId::from(raw.to_owned()))
}

/// Everything stored about one contact: their conversations (with metadata and lead) and every message.
#[utoipa::path(
    get,
    path = "/api/contacts/{contact_id}/export",
    tag = "security",
    params(("contact_id" = String, Path, pattern = r"^[A-Za-z0-9_:+.@-]{1,128}$", description = "visitor id, PSID or number")),
    responses((status = 200, description = "`{contact_id, exported_at, conversations: [{…conversation, messages}]}`, as an attachment", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn export_contact(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let contact = contact_from_path(&path)?;
    let conversations = state.store.contact_conversations(&user.license, &contact).await?;
    if conversations.is_empty() {
        return Err(ApiError::NotFound("contact"));
    }
    let mut exported = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let mut messages = Vec::new();
        loop {
            let after = messages.last().map_or(0, |m: &crate::domain::Message| m.seq);
            let page = state.store.messages_after(&user.license, &conversation.id, after, EXPORT_PAGE).await?;
            let done = (page.len() as i64) < EXPORT_PAGE;
            messages.extend(page);
            if done {
                break;
            }
        }
        let mut entry = serde_json::to_value(&conversation).map_err(anyhow::Error::from)?;
        entry["messages"] = serde_json::to_value(&messages).map_err(anyhow::Error::from)?;
        exported.push(entry);
    }
    let event = user_event(&req, &state, &user, AuditAction::ContactExported)
        .target(contact.as_str())
        .metadata(json!({ "conversations": exported.len() }));
    state.audit.record(event).await;
    let filename = format!("contact-{}.json", contact.as_str().replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{filename}\"")))
        .json(json!({ "contact_id": contact, "exported_at": now_millis(), "conversations": exported })))
}

/// Erases the contact: every conversation with them, on any channel, and everything in those; live
/// conversation actors stop on every node and the visitor's widget sockets close (1008).
#[utoipa::path(
    delete,
    path = "/api/contacts/{contact_id}",
    tag = "security",
    params(("contact_id" = String, Path, pattern = r"^[A-Za-z0-9_:+.@-]{1,128}$", description = "visitor id, PSID or number")),
    responses((status = 200, description = "`{contact_id, conversations: [ids], messages_deleted}`", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn erase_contact(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let contact = contact_from_path(&path)?;
    let erased = state.store.erase_contact(&user.license, &contact).await?.ok_or(ApiError::NotFound("contact"))?;
    let event = user_event(&req, &state, &user, AuditAction::ContactErased)
        .target(contact.as_str())
        .metadata(json!({ "conversations": erased.conversations.len(), "messages_deleted": erased.messages }));
    state.audit.record(event).await;
    state.registry.erased(&user.license, Some(contact.clone()), erased.conversations.clone());
    Ok(HttpResponse::Ok().json(json!({
        "contact_id": contact,
        "conversations": erased.conversations,
        "messages_deleted": erased.messages,
    })))
}
