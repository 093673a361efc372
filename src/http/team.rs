//! `/api/team/*`: the license's members — list, change (role, name, capacity, availability), deactivate.
//! Invitations live in [`super::invitations`].

use super::{user_event, ApiError, DashboardUser, JsonObject};
use crate::actors::{MemberChanged, TeamView};
use crate::bus::Event;
use crate::domain::{now_millis, start_of_utc_day, AuditAction, Availability, LicenseKey, Permission, Role, UserId};
use crate::state::AppState;
use crate::store::{Member, MemberChange, TeamSettings};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Longest display name.
const MAX_NAME_CHARS: usize = 80;

/// Mounts the member routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/team/members", web::get().to(list))
        .route("/team/members/{id}", web::patch().to(change))
        .route("/team/members/{id}", web::delete().to(deactivate))
        .route("/team/me", web::patch().to(change_me))
        .route("/team/metrics", web::get().to(metrics))
        .route("/team/settings", web::get().to(settings))
        .route("/team/settings", web::put().to(save_settings));
}

#[utoipa::path(
    get,
    path = "/api/team/members",
    tag = "team",
    responses((status = 200, description = "every member of the license, deactivated ones included", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn list(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    let members = state.store.members(&user.license).await?;
    let license = state.store.license(&user.license).await?.ok_or(ApiError::NotFound("license"))?;
    let shown = state.registry.tenant(&user.license).send(TeamView).await.map_err(|_| ApiError::Unavailable)?;
    let members: Vec<_> = members
        .into_iter()
        .map(|member| {
            let presence = shown.get(&member.id).copied().unwrap_or(Availability::Offline);
            let mut shown = json!(member);
            shown["presence"] = json!(presence);
            shown
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "members": members, "member_limit": license.tier.member_limit() })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeMember {
    #[schema(pattern = r"^(admin|manager|member|viewer)$")]
    role: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    /// Most open conversations auto-assignment gives them; `null` removes the cap.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::json_object::nullable_whole_number")]
    max_open: Option<Option<i64>>,
}

/// An admin (or the owner) changes a member of a lower role. A role change ends the member's sessions
/// on every node, so the new role applies from their next login and no socket keeps the old one.
#[utoipa::path(
    patch,
    path = "/api/team/members/{id}",
    tag = "team",
    params(("id" = String, Path, description = "member id")),
    request_body = ChangeMember,
    responses((status = 200, description = "the changed member", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
    JsonObject(body): JsonObject<ChangeMember>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageTeam)?;
    let target = managed_member(&state, &user, &path).await?;
    let role = body.role.as_deref().map(str::parse::<Role>).transpose()?;
    if let Some(role) = role.filter(|r| !user.claims.role.manages(*r)) {
        return Err(ApiError::forbidden("insufficient_role", format!("you cannot grant the {role} role")));
    }
    if let Some(Some(n)) = body.max_open.filter(|m| m.is_some_and(|n| !(1..=1000).contains(&n))) {
        return Err(ApiError::bad_request("invalid_value", format!("max_open must be 1 to 1000, not {n}")));
    }
    let change = MemberChange {
        role,
        name: body.name.as_deref().map(display_name).transpose()?,
        availability: None,
        max_open: body.max_open,
    };
    let changed =
        state.store.change_member(&user.license, &target.id, &change).await?.ok_or(ApiError::NotFound("member"))?;
    if let Some(role) = role.filter(|r| *r != target.role) {
        let revoked = state.store.revoke_member_sessions(&user.license, &target.id).await?;
        end_sessions(&state, &user.license, revoked).await;
        let event = user_event(&req, &state, &user, AuditAction::MemberRoleChanged)
            .target(target.id.as_str())
            .metadata(json!({ "from": target.role, "to": role }));
        state.audit.record(event).await;
    }
    Ok(HttpResponse::Ok().json(changed))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeMe {
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    #[schema(pattern = r"^(online|busy|offline)$")]
    availability: Option<String>,
}

/// Any member changes their own name or chosen availability.
#[utoipa::path(
    patch,
    path = "/api/team/me",
    tag = "team",
    request_body = ChangeMe,
    responses((status = 200, description = "the caller as a member", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn change_me(
    state: web::Data<AppState>,
    user: DashboardUser,
    JsonObject(body): JsonObject<ChangeMe>,
) -> Result<HttpResponse, ApiError> {
    let availability = body.availability.as_deref().map(str::parse::<Availability>).transpose()?;
    let change = MemberChange {
        name: body.name.as_deref().map(display_name).transpose()?,
        availability,
        ..MemberChange::default()
    };
    let me = state
        .store
        .change_member(&user.license, &user.claims.sub, &change)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    if availability.is_some() {
        state.registry.tenant(&user.license).do_send(MemberChanged(me.id.clone()));
    }
    Ok(HttpResponse::Ok().json(me))
}

/// Deactivates a member of a lower role: they cannot log in, their sessions and sockets end on every
/// node, and their conversations return to the unassigned queue. Their messages stay.
#[utoipa::path(
    delete,
    path = "/api/team/members/{id}",
    tag = "team",
    params(("id" = String, Path, description = "member id")),
    responses((status = 204, description = "deactivated")),
    security(("bearer" = []))
)]
async fn deactivate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageTeam)?;
    let target = managed_member(&state, &user, &path).await?;
    let (revoked, unassigned) =
        state.store.deactivate_member(&user.license, &target.id).await?.ok_or(ApiError::NotFound("member"))?;
    end_sessions(&state, &user.license, revoked).await;
    let event = user_event(&req, &state, &user, AuditAction::MemberDeactivated)
        .target(target.id.as_str())
        .metadata(json!({ "email": target.email, "unassigned": unassigned.len() }));
    state.audit.record(event).await;
    state.registry.unassigned(&user.license, unassigned);
    state.registry.tenant(&user.license).do_send(MemberChanged(target.id));
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MetricsQuery {
    /// `wall_clock` (default): first responses count every millisecond; `business_hours`: only those
    /// while the team was open by its business hours.
    #[param(pattern = r"^(wall_clock|business_hours)$")]
    first_response: Option<String>,
}

/// Each active member's numbers today (UTC): open conversations assigned to them, replies written,
/// conversations they answered first and their median first-response time; and the team's median.
#[utoipa::path(
    get,
    path = "/api/team/metrics",
    tag = "team",
    params(MetricsQuery),
    responses((status = 200, description = "per-member numbers since midnight UTC", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn metrics(
    state: web::Data<AppState>,
    user: DashboardUser,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    let clock = query.first_response.as_deref().unwrap_or("wall_clock");
    let hours = match clock {
        "wall_clock" => None,
        "business_hours" => Some(state.store.business_hours(&user.license).await?),
        other => {
            let message = format!("first_response is wall_clock or business_hours, not '{other}'");
            return Err(ApiError::bad_request("invalid_value", message));
        }
    };
    let since = start_of_utc_day(now_millis());
    let team = state.store.member_metrics(&user.license, since, hours.as_ref()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "since": since,
        "first_response": clock,
        "median_first_response_ms": team.median_first_response_ms,
        "members": team.members,
    })))
}

#[utoipa::path(
    get,
    path = "/api/team/settings",
    tag = "team",
    responses((status = 200, description = "how the team takes new conversations", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn settings(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    Ok(HttpResponse::Ok().json(state.store.team_settings(&user.license).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[schema(pattern = r"^(off|round_robin|least_open)$")]
    auto_assignment: String,
    /// An assignee offline this long marks their open conversations `waiting` (0: as soon as they are).
    #[schema(minimum = 0, maximum = 1440)]
    #[serde(deserialize_with = "super::json_object::whole_number")]
    waiting_after_minutes: i64,
}

/// Auto-assignment: `off`, `round_robin` or `least_open` among members showing `online` and under their
/// `max_open`.
#[utoipa::path(
    put,
    path = "/api/team/settings",
    tag = "team",
    request_body = Settings,
    responses((status = 200, description = "the saved settings", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn save_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<Settings>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageTeam)?;
    if !(0..=1440).contains(&body.waiting_after_minutes) {
        return Err(ApiError::bad_request("invalid_value", "waiting_after_minutes must be 0 to 1440"));
    }
    let settings = TeamSettings {
        auto_assignment: body.auto_assignment.parse()?,
        waiting_after_minutes: body.waiting_after_minutes,
    };
    state.store.save_team_settings(&user.license, &settings).await?;
    let event =
        user_event(&req, &state, &user, AuditAction::SettingsUpdated).target("team_settings").metadata(json!(settings));
    state.audit.record(event).await;
    Ok(HttpResponse::Ok().json(settings))
}

/// The active member `raw` names, if the caller's role is above theirs (never oneself, never the owner).
async fn managed_member(state: &AppState, user: &DashboardUser, raw: &str) -> Result<Member, ApiError> {
    let id = UserId::parse(raw).map_err(|_| ApiError::NotFound("member"))?;
    let member = state.store.member(&user.license, &id).await?.ok_or(ApiError::NotFound("member"))?;
    if member.status != "active" {
        return Err(ApiError::NotFound("member"));
    }
    if member.id == user.claims.sub {
        return Err(ApiError::forbidden("own_account", "you cannot change your own role or deactivate yourself"));
    }
    if !user.claims.role.manages(member.role) {
        return Err(ApiError::forbidden(
            "insufficient_role",
            format!("you cannot manage a member with the {} role", member.role),
        ));
    }
    Ok(member)
}

/// Closes the revoked sessions everywhere: the cache first (so no node accepts them), then the bus
/// (so every node closes their sockets).
pub(super) async fn end_sessions(state: &AppState, license: &LicenseKey, revoked: Vec<(String, i64)>) {
    for (jti, expires_at) in revoked {
        state.auth.forget(license, &jti, expires_at).await;
        state.bus.publish(license, Event::SessionRevoked { jti: Some(jti) });
    }
}

/// A trimmed, non-blank display name of at most [`MAX_NAME_CHARS`] characters.
pub(super) fn display_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_value",
            format!("the name must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}
