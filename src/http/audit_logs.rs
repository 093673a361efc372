//! `GET /api/security/audit-logs` (the license's owner: its own events) and `GET /api/admin/audit-logs`
//! (the operator: every license's): filters, cursor pages, and NDJSON or CSV exports. Read-only: no
//! route updates or deletes an event.

use super::{audit_export, AdminAccess, ApiError, DashboardUser};
use crate::domain::{ActorKind, AuditAction, LicenseKey, Permission};
use crate::state::AppState;
use crate::store::{AuditCursor, AuditEntry, AuditFilter};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;
/// Most events one export holds; past it the answer's `X-Next-Cursor` continues.
const MAX_EXPORT: usize = 10_000;

/// Mounts the audit routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/security/audit-logs", web::get().to(tenant_logs)).route("/admin/audit-logs", web::get().to(admin_logs));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Only this action, e.g. `login.failed`.
    #[param(inline, value_type = Option<AuditAction>)]
    action: Option<String>,
    /// Only this actor: a kind (`user`, `api_key`, `admin`, `system`), optionally `:` and its id.
    #[param(pattern = r"^(user|api_key|admin|system)(:[A-Za-z0-9_-]{1,64})?$")]
    actor: Option<String>,
    /// From this time on, epoch milliseconds (inclusive).
    #[param(minimum = 0)]
    since: Option<i64>,
    /// Before this time, epoch milliseconds (exclusive).
    #[param(minimum = 0)]
    until: Option<i64>,
    /// Only this license (the operator's view; on a tenant's, another license matches nothing).
    #[param(pattern = r"^INTL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$")]
    license: Option<String>,
    /// Opaque: the `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,15}\.[0-9a-f]{32}$")]
    cursor: Option<String>,
    /// Events per page (JSON only; exports hold up to 10,000).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `json` (default, pages), `ndjson` or `csv` (exports).
    #[param(pattern = r"^(json|ndjson|csv)$")]
    format: Option<String>,
}

impl AuditQuery {
    /// The filter this query asks for, within `scope` when the caller is a tenant; `None` when it can
    /// match nothing (a tenant asking for another license).
    fn filter(&self, scope: Option<&LicenseKey>) -> Result<Option<AuditFilter>, ApiError> {
        if self.since.is_some_and(|t| t < 0) || self.until.is_some_and(|t| t < 0) {
            return Err(ApiError::bad_request("invalid_query", "since and until are epoch milliseconds (0 or more)"));
        }
        let asked = self.license.as_deref().map(LicenseKey::parse).transpose()?;
        let license = match (scope, asked) {
            (Some(own), Some(asked)) if *own != asked => return Ok(None),
            (Some(own), _) => Some(own.clone()),
            (None, asked) => asked,
        };
        let (actor_kind, actor_id) = match self.actor.as_deref().map(|a| a.split_once(':').unwrap_or((a, ""))) {
            None => (None, None),
            Some((kind, id)) => (Some(kind.parse::<ActorKind>()?), (!id.is_empty()).then(|| id.to_owned())),
        };
        let action = self.action.as_deref().map(str::parse::<AuditAction>).transpose()?;
        Ok(Some(AuditFilter { license, action, actor_kind, actor_id, since: self.since, until: self.until }))
    }
}

/// Cursors are `<created_at>.<id>` of the last event of the previous page.
fn parse_cursor(raw: &str) -> Result<AuditCursor, ApiError> {
    split_cursor(raw).map(|(created_at, id)| AuditCursor { created_at, id })
}

/// A `<created_at>.<32 hex id>` cursor (the last row of the previous page), as its two parts.
pub(super) fn split_cursor(raw: &str) -> Result<(i64, String), ApiError> {
    raw.split_once('.')
        .filter(|(_, id)| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|(time, id)| Some((time.parse().ok()?, id.to_owned())))
        .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned"))
}

fn cursor_after(entry: &AuditEntry) -> String {
    format!("{}.{}", entry.created_at, entry.id)
}

#[utoipa::path(
    get,
    path = "/api/security/audit-logs",
    tag = "security",
    params(AuditQuery),
    responses((status = 200, description = "the license's audit events, newest first: `{audit_logs, next_cursor}`, or an NDJSON / CSV export (`X-Next-Cursor` when it was cut)", content(
        (serde_json::Value = "application/json"), (String = "application/x-ndjson"), (String = "text/csv")
    ))),
    security(("bearer" = []))
)]
async fn tenant_logs(
    state: web::Data<AppState>,
    user: DashboardUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let filter = query.filter(Some(&user.license))?;
    answer(&state, filter, &query).await
}

#[utoipa::path(
    get,
    path = "/api/admin/audit-logs",
    tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "every license's audit events (and deployment-wide ones), newest first, or an export", content(
        (serde_json::Value = "application/json"), (String = "application/x-ndjson"), (String = "text/csv")
    ))),
    security(("admin" = []))
)]
async fn admin_logs(
    _: AdminAccess,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter(None)?;
    answer(&state, filter, &query).await
}

/// What a query asks the events as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Ndjson,
    Csv,
}

fn format(raw: Option<&str>) -> Result<Format, ApiError> {
    match raw.unwrap_or("json") {
        "json" => Ok(Format::Json),
        "ndjson" => Ok(Format::Ndjson),
        "csv" => Ok(Format::Csv),
        other => Err(ApiError::bad_request("invalid_query", format!("unknown format '{other}' (json, ndjson or csv)"))),
    }
}

/// A JSON page, or an export of everything after the cursor (up to [`MAX_EXPORT`]).
async fn answer(state: &AppState, filter: Option<AuditFilter>, query: &AuditQuery) -> Result<HttpResponse, ApiError> {
    let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let format = format(query.format.as_deref())?;
    let page = match query.limit {
        None => DEFAULT_PAGE,
        Some(n) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => return Err(ApiError::bad_request("invalid_query", format!("limit must be 1 to {MAX_PAGE}"))),
    };
    let (entries, next_cursor) = match (&filter, format) {
        (None, _) => (Vec::new(), None),
        (Some(filter), Format::Json) => {
            let entries = state.store.audit_logs(filter, cursor.as_ref(), page).await?;
            let next = (entries.len() as i64 == page).then(|| entries.last().map(cursor_after)).flatten();
            (entries, next)
        }
        (Some(filter), _) => export(state, filter, cursor).await?,
    };
    let (content_type, body) = match format {
        Format::Json => {
            return Ok(HttpResponse::Ok().json(json!({ "audit_logs": entries, "next_cursor": next_cursor })))
        }
        Format::Ndjson => ("application/x-ndjson", audit_export::ndjson(&entries)),
        Format::Csv => ("text/csv; charset=utf-8", audit_export::csv(&entries)),
    };
    let mut response = HttpResponse::Ok();
    if let Some(next) = &next_cursor {
        response.insert_header(("X-Next-Cursor", next.as_str()));
    }
    Ok(response.content_type(content_type).body(body))
}

/// Every event after `cursor` up to [`MAX_EXPORT`], read in pages; the cursor to continue from if cut.
async fn export(
    state: &AppState,
    filter: &AuditFilter,
    mut cursor: Option<AuditCursor>,
) -> Result<(Vec<AuditEntry>, Option<String>), ApiError> {
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut more = true;
    while more && entries.len() < MAX_EXPORT {
        let batch = state.store.audit_logs(filter, cursor.as_ref(), MAX_PAGE).await?;
        more = batch.len() as i64 == MAX_PAGE;
        cursor = batch.last().map(|e| AuditCursor { created_at: e.created_at, id: e.id.clone() });
        entries.extend(batch);
    }
    let next = if more { entries.last().map(cursor_after) } else { None };
    Ok((entries, next))
}
