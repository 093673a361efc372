//! Passwords: the license's rule, applied wherever a password is set (register, accepting an
//! invitation, `POST /api/auth/password`), and the change endpoint itself.

use super::auth::check_login_budget;
use super::team::end_sessions;
use super::{user_event, ApiError, DashboardUser};
use crate::auth::{hash_password, verify_password};
use crate::domain::AuditAction;
use crate::domain::LicenseKey;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the password route under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/password", web::post().to(change));
}

/// Refuses a new password that breaks the license's rule (400 `weak_password`, saying what is missing).
pub(super) async fn check_password(state: &AppState, license: &LicenseKey, password: &str) -> Result<(), ApiError> {
    let policy = state.auth.policy(license).await?;
    policy.password.check(password).map_err(|e| ApiError::bad_request("weak_password", e.0))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    #[schema(max_length = 256)]
    current_password: String,
    /// Must follow the license's password rule (see `GET /api/security/policy`).
    #[schema(min_length = 8, max_length = 256, pattern = r"^[^\x00]*$")]
    new_password: String,
}

/// Changes the caller's password after checking the current one; every other session of theirs ends
/// on every node (their sockets close), this one stays.
#[utoipa::path(
    post,
    path = "/api/auth/password",
    tag = "auth",
    request_body = ChangePassword,
    responses((status = 200, description = "changed; other sessions ended", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    // The current password is guessable like a login's: the same budget applies.
    check_login_budget(&req, &state, Some(&user.claims.email))?;
    let body = body.into_inner();
    let email = crate::domain::Email::parse(&user.claims.email)?;
    let stored = state.store.user_by_email(&email).await?.filter(|u| u.id == user.claims.sub);
    let stored = stored.ok_or(ApiError::NotFound("member"))?;
    if !verify_password(body.current_password, Some(stored.password_hash)).await? {
        return Err(ApiError::forbidden("wrong_password", "the current password is wrong"));
    }
    check_password(&state, &user.license, &body.new_password).await?;
    let password_hash = hash_password(body.new_password).await?;
    let ended = state.store.change_password(&user.license, &user.claims.sub, password_hash, &user.claims.jti).await?;
    let count = ended.len();
    end_sessions(&state, &user.license, ended).await;
    let event = user_event(&req, &state, &user, AuditAction::PasswordChanged)
        .target(user.claims.sub.as_str())
        .metadata(json!({ "sessions_ended": count }));
    state.audit.record(event).await;
    Ok(HttpResponse::Ok().json(json!({ "password_changed": true, "sessions_ended": count })))
}
