//! `/api/auth/2fa/*`: a member sets up a TOTP second factor (secret and `otpauth://` URI), confirms it
//! with a first code (answering ten single-use recovery codes and a fresh session opened with the
//! factor), and can turn it off again with a code or a recovery code. The TOTP logic is in
//! [`crate::auth::TwoFactor`].

use super::auth::{check_login_budget, session_response};
use super::{user_event, ApiError, DashboardUser, SetupSession};
use crate::auth::Proof;
use crate::bus::Event;
use crate::domain::AuditAction;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the two-factor routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/2fa/setup", web::post().to(setup))
        .route("/auth/2fa/enable", web::post().to(enable))
        .route("/auth/2fa/disable", web::post().to(disable));
}

/// Starts a setup: a new secret, not active until confirmed; a second setup replaces the first.
/// Allowed on a session limited to setting up the factor its license requires.
#[utoipa::path(
    post,
    path = "/api/auth/2fa/setup",
    tag = "auth",
    responses((status = 200, description = "`{secret (base32), otpauth_uri}`: add it to an authenticator app", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn setup(state: web::Data<AppState>, SetupSession(user): SetupSession) -> Result<HttpResponse, ApiError> {
    let setup = state.two_factor.setup(&user.license, &user.claims.sub, &user.claims.email).await?;
    Ok(HttpResponse::Ok().json(json!({ "secret": setup.secret, "otpauth_uri": setup.otpauth_uri })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EnableTwoFactor {
    /// The current 6-digit code of the app the secret was added to.
    #[schema(max_length = 16)]
    code: String,
}

/// Activates the secret set up last. The answer carries the recovery codes (shown once; keep them) and
/// a new session opened with the second factor, which replaces the caller's (token and cookie).
#[utoipa::path(
    post,
    path = "/api/auth/2fa/enable",
    tag = "auth",
    request_body = EnableTwoFactor,
    responses((status = 200, description = "the login answer plus `recovery_codes`", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    SetupSession(user): SetupSession,
    body: web::Json<EnableTwoFactor>,
) -> Result<HttpResponse, ApiError> {
    // Codes are six digits: guessing gets the login budget, no more.
    check_login_budget(&req, &state, Some(&user.claims.email))?;
    let codes = state.two_factor.enable(&user.license, &user.claims.sub, &body.code).await?;
    let event = user_event(&req, &state, &user, AuditAction::TwoFactorEnabled).target(user.claims.sub.as_str());
    state.audit.record(event).await;
    state.auth.revoke(&user.claims).await?;
    let policy = state.auth.policy(&user.license).await?;
    let old_jti = user.claims.jti.clone();
    let claims = crate::auth::Claims { mfa: true, ..user.claims };
    let response = session_response(&state, claims, &policy, json!({ "recovery_codes": codes })).await?;
    // Told once the new session exists, just before it is answered: the page's socket, closed by this,
    // finds the new session as soon as the answer arrives (and the page waits for that answer).
    state.bus.publish(&user.license, Event::SessionRevoked { jti: Some(old_jti) });
    Ok(response)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DisableTwoFactor {
    /// A current code from the app…
    #[schema(max_length = 16)]
    code: Option<String>,
    /// …or one of the recovery codes.
    #[schema(max_length = 32)]
    recovery_code: Option<String>,
}

/// Turns the caller's second factor off (its secret and recovery codes are deleted), proven with a
/// code or a recovery code. Refused while the license requires two-factor.
#[utoipa::path(
    post,
    path = "/api/auth/2fa/disable",
    tag = "auth",
    request_body = DisableTwoFactor,
    responses((status = 200, description = "`{enabled: false}`", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<DisableTwoFactor>,
) -> Result<HttpResponse, ApiError> {
    check_login_budget(&req, &state, Some(&user.claims.email))?;
    let proof = Proof::sent(body.code.as_deref(), body.recovery_code.as_deref()).ok_or_else(|| {
        ApiError::forbidden("invalid_two_factor", "send code or recovery_code to turn two-factor off")
    })?;
    if state.auth.policy(&user.license).await?.require_two_factor {
        return Err(ApiError::conflict(
            "two_factor_required_by_policy",
            "this license requires two-factor authentication; it cannot be turned off",
        ));
    }
    state.two_factor.disable(&user.license, &user.claims.sub, proof).await?;
    let event = user_event(&req, &state, &user, AuditAction::TwoFactorDisabled).target(user.claims.sub.as_str());
    state.audit.record(event).await;
    Ok(HttpResponse::Ok().json(json!({ "enabled": false })))
}
