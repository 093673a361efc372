//! `/api/team/invitations`: invite by e-mail with a role, list and revoke pending invitations, and
//! accept one (public: the token is the credential) to join the team and log in.

use super::auth::{check_login_budget, open_session};
use super::password::check_password;
use super::team::display_name;
use super::{client_ip, origin, public_base, user_event, ApiError, DashboardUser};
use crate::audit::{Actor, AuditEvent};
use crate::auth::hash_password;
use crate::domain::{new_id, now_millis, AuditAction, Email, Permission, Role};
use crate::state::AppState;
use crate::store::{AcceptError, StoreError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How long an invitation link works.
const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Mounts the invitation routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/team/invitations", web::get().to(list))
        .route("/team/invitations", web::post().to(invite))
        .route("/team/invitations/accept", web::post().to(accept))
        .route("/team/invitations/{id}", web::delete().to(revoke));
}

/// The stored form of an invitation token: its SHA-256, so a database leak gives no usable link.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Invite {
    #[schema(format = Email, min_length = 3, max_length = 254, pattern = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]
    email: String,
    #[schema(pattern = r"^(admin|manager|member|viewer)$")]
    role: String,
}

/// Invites someone with a role below the caller's. The answer carries the single-use token and the
/// link to send them (shown once; only its hash is stored); it works for 7 days.
#[utoipa::path(
    post,
    path = "/api/team/invitations",
    tag = "team",
    request_body = Invite,
    responses((status = 201, description = "the invitation, its token and accept link", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<Invite>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageTeam)?;
    let email = Email::parse(&body.email)?;
    let role: Role = body.role.parse()?;
    if !user.claims.role.manages(role) {
        return Err(ApiError::forbidden(
            "insufficient_role",
            format!("you cannot invite a member with the {role} role"),
        ));
    }
    if state.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::conflict("already_member", "this e-mail address already belongs to a member"));
    }
    let license = state.store.license(&user.license).await?.ok_or(ApiError::NotFound("license"))?;
    let limit = license.tier.member_limit();
    if state.store.seats_taken(&user.license).await? >= limit {
        return Err(ApiError::forbidden(
            "member_limit_reached",
            format!("the {} tier allows {limit} members, pending invitations included", license.tier),
        ));
    }
    let token = format!("inv_{}{}", new_id(), new_id());
    let expires_at = now_millis() + INVITATION_TTL_MS;
    let invitation = state
        .store
        .create_invitation(&user.license, email.as_str(), role, &user.claims.sub, &token_hash(&token), expires_at)
        .await?;
    let event = user_event(&req, &state, &user, AuditAction::MemberInvited)
        .target(&invitation.id)
        .metadata(json!({ "email": invitation.email, "role": invitation.role }));
    state.audit.record(event).await;
    let accept_url = format!("{}/app/#/accept?token={token}", public_base(&req, state.public_url.as_deref()));
    Ok(HttpResponse::Created().json(json!({ "invitation": invitation, "token": token, "accept_url": accept_url })))
}

#[utoipa::path(
    get,
    path = "/api/team/invitations",
    tag = "team",
    responses((status = 200, description = "pending invitations, newest first", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn list(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageTeam)?;
    let invitations = state.store.pending_invitations(&user.license).await?;
    Ok(HttpResponse::Ok().json(json!({ "invitations": invitations })))
}

#[utoipa::path(
    delete,
    path = "/api/team/invitations/{id}",
    tag = "team",
    params(("id" = String, Path, description = "invitation id")),
    responses((status = 204, description = "revoked: its link no longer works")),
    security(("bearer" = []))
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageTeam)?;
    let revoked = state.store.revoke_invitation(&user.license, &path).await?.ok_or(ApiError::NotFound("invitation"))?;
    let event = user_event(&req, &state, &user, AuditAction::InvitationRevoked)
        .target(&revoked.id)
        .metadata(json!({ "email": revoked.email }));
    state.audit.record(event).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Accept {
    #[schema(min_length = 1, max_length = 100)]
    token: String,
    #[schema(min_length = 8, max_length = 256, pattern = r"^[^\x00]*$")]
    password: String,
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
}

/// Joins the team the invitation is for, with a password, and logs in (same answer as login).
#[utoipa::path(
    post,
    path = "/api/team/invitations/accept",
    tag = "team",
    request_body = Accept,
    responses((status = 200, description = "the new member's session (also set as the sb_token cookie)", body = serde_json::Value))
)]
async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Accept>,
) -> Result<HttpResponse, ApiError> {
    check_login_budget(&req, &state, None)?;
    let body = body.into_inner();
    let hash = token_hash(&body.token);
    // Unknown, used, revoked and expired look alike: a token's history is not shown to its holder.
    let invited_to = state.store.invitation_license(&hash).await?.ok_or(ApiError::NotFound("invitation"))?;
    check_password(&state, &invited_to, &body.password).await?;
    // Refused before the member exists, not only at the login that follows.
    let source = client_ip(&req, state.trust_x_forwarded_for);
    if !state.auth.policy(&invited_to).await?.ip_allowlist.allows(source) {
        return Err(crate::auth::AuthError::IpNotAllowed.into());
    }
    let name = body.name.as_deref().map(display_name).transpose()?;
    let password_hash = hash_password(body.password).await?;
    let user = state.store.accept_invitation(&hash, password_hash, name).await.map_err(|e| match e {
        AcceptError::Invalid => ApiError::NotFound("invitation"),
        AcceptError::TeamFull => {
            ApiError::forbidden("member_limit_reached", "the team already has as many members as its tier allows")
        }
        AcceptError::Store(StoreError::Duplicate) => {
            ApiError::conflict("already_member", "this e-mail address already belongs to a member")
        }
        AcceptError::Store(other) => other.into(),
    })?;
    let license = state.store.license(&user.license_key).await?.ok_or(ApiError::NotFound("license"))?;
    let event = AuditEvent::new(AuditAction::MemberJoined, Actor::user(&user.id))
        .license(&user.license_key)
        .target(user.id.as_str())
        .from(origin(&req, &state))
        .metadata(json!({ "email": user.email, "role": user.role }));
    state.audit.record(event).await;
    open_session(&state, source, user, license, false).await
}
