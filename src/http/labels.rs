//! `/api/labels` and `/api/canned-answers`: the team's labels and saved replies. Everyone reads them;
//! managers and above change them.

use super::{ApiError, DashboardUser, JsonObject};
use crate::domain::{parse_message_text, Permission};
use crate::state::AppState;
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the label and canned-answer routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/labels", web::get().to(list_labels))
        .route("/labels", web::post().to(create_label))
        .route("/labels/{name}", web::delete().to(delete_label))
        .route("/canned-answers", web::get().to(list_canned))
        .route("/canned-answers", web::post().to(create_canned))
        .route("/canned-answers/{id}", web::patch().to(update_canned))
        .route("/canned-answers/{id}", web::delete().to(delete_canned));
}

/// Label names: 1–40 of lowercase letters, digits, `-` and `_` (they appear in URLs and filters).
pub(super) fn label_name(raw: &str) -> Result<String, ApiError> {
    let ok = (1..=40).contains(&raw.len())
        && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::bad_request("invalid_label", "a label is 1 to 40 of a-z, 0-9, - and _"))
    }
}

#[utoipa::path(get, path = "/api/labels", tag = "labels",
    responses((status = 200, description = "the license's labels by name", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn list_labels(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    Ok(HttpResponse::Ok().json(json!({ "labels": state.store.labels(&user.license).await? })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLabel {
    #[schema(pattern = r"^[a-z0-9_-]{1,40}$")]
    name: String,
    /// `#rrggbb`; a neutral grey when absent.
    #[schema(pattern = r"^#[0-9a-fA-F]{6}$")]
    color: Option<String>,
}

#[utoipa::path(post, path = "/api/labels", tag = "labels", request_body = NewLabel,
    responses((status = 201, description = "the new label", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn create_label(
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<NewLabel>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageContent)?;
    let name = label_name(&body.name)?;
    let color = body.color.clone().unwrap_or_else(|| "#6b7280".to_owned());
    let valid = color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !valid {
        return Err(ApiError::bad_request("invalid_value", "color must be #rrggbb"));
    }
    let label = state.store.create_label(&user.license, &name, &color.to_lowercase()).await.map_err(|e| match e {
        StoreError::Duplicate => ApiError::conflict("label_exists", format!("there is already a label '{name}'")),
        other => other.into(),
    })?;
    Ok(HttpResponse::Created().json(label))
}

#[utoipa::path(delete, path = "/api/labels/{name}", tag = "labels",
    params(("name" = String, Path, description = "label name")),
    responses((status = 204, description = "deleted and taken off every conversation")),
    security(("bearer" = [])))]
async fn delete_label(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageContent)?;
    if !state.store.delete_label(&user.license, &path).await? {
        return Err(ApiError::NotFound("label"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CannedQuery {
    /// Short-code prefix, as typed after `/` in a composer.
    #[param(max_length = 32)]
    q: Option<String>,
}

#[utoipa::path(get, path = "/api/canned-answers", tag = "labels", params(CannedQuery),
    responses((status = 200, description = "canned answers whose short code starts with q (up to 50)", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn list_canned(
    state: web::Data<AppState>,
    user: DashboardUser,
    query: web::Query<CannedQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    let prefix = query.q.as_deref().unwrap_or_default().to_lowercase();
    if prefix.chars().count() > 32 {
        return Err(ApiError::bad_request("invalid_query", "q is at most 32 characters"));
    }
    let answers = state.store.canned_answers(&user.license, &prefix, 50).await?;
    Ok(HttpResponse::Ok().json(json!({ "canned_answers": answers })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCanned {
    #[schema(pattern = r"^[a-z0-9_-]{1,32}$")]
    short_code: String,
    #[schema(max_length = 4000, pattern = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    content: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CannedBody {
    #[schema(pattern = r"^[a-z0-9_-]{1,32}$")]
    short_code: Option<String>,
    #[schema(max_length = 4000, pattern = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    content: Option<String>,
}

/// A short code: like a label name, at most 32 characters.
fn short_code(raw: &str) -> Result<String, ApiError> {
    match label_name(raw) {
        Ok(code) if code.len() <= 32 => Ok(code),
        _ => Err(ApiError::bad_request("invalid_short_code", "a short code is 1 to 32 of a-z, 0-9, - and _")),
    }
}

fn taken(code: &str) -> impl FnOnce(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::Duplicate => ApiError::conflict("short_code_exists", format!("the short code '{code}' is taken")),
        other => other.into(),
    }
}

#[utoipa::path(post, path = "/api/canned-answers", tag = "labels", request_body = NewCanned,
    responses((status = 201, description = "the new canned answer", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn create_canned(
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<NewCanned>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageContent)?;
    let code = short_code(&body.short_code)?;
    let content = parse_message_text(&body.content)?;
    let answer = state.store.create_canned(&user.license, &code, &content).await.map_err(taken(&code))?;
    Ok(HttpResponse::Created().json(answer))
}

#[utoipa::path(patch, path = "/api/canned-answers/{id}", tag = "labels", request_body = CannedBody,
    params(("id" = String, Path, description = "canned answer id")),
    responses((status = 200, description = "the changed canned answer", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn update_canned(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
    JsonObject(body): JsonObject<CannedBody>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageContent)?;
    let code = body.short_code.as_deref().map(short_code).transpose()?;
    let content = body.content.as_deref().map(parse_message_text).transpose()?;
    let shown = code.clone().unwrap_or_default();
    let answer = state
        .store
        .update_canned(&user.license, &path, code.as_deref(), content.as_deref())
        .await
        .map_err(taken(&shown))?
        .ok_or(ApiError::NotFound("canned answer"))?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(delete, path = "/api/canned-answers/{id}", tag = "labels",
    params(("id" = String, Path, description = "canned answer id")),
    responses((status = 204, description = "deleted")),
    security(("bearer" = [])))]
async fn delete_canned(
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageContent)?;
    if !state.store.delete_canned(&user.license, &path).await? {
        return Err(ApiError::NotFound("canned answer"));
    }
    Ok(HttpResponse::NoContent().finish())
}
