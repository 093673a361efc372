//! `/api/auth/*`: register with a license key, log in for a token (body and cookie), who am I, log out.

use super::password::check_password;
use super::{client_ip, origin, user_event, ApiError, SetupSession, SESSION_COOKIE};
use crate::audit::{Actor, AuditEvent};
use crate::auth::{hash_password, verify_password, AuthError, Claims, Proof, TwoFactorError};
use crate::bus::Event;
use crate::domain::{now_millis, AuditAction, Email, LicenseKey, Role, SecurityPolicy};
use crate::domain::{LicenseStatus, ParseError};
use crate::limits::LoginRefused;
use crate::state::AppState;
use crate::store::{License, NewUser, StoreError, User};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

/// Mounts the auth routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/register", web::post().to(register))
        .route("/auth/login", web::post().to(login))
        .route("/auth/me", web::get().to(me))
        .route("/auth/logout", web::post().to(logout));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    #[schema(format = Email, min_length = 3, max_length = 254, pattern = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]
    email: String,
    #[schema(min_length = 8, max_length = 256, pattern = r"^[^\x00]*$")]
    password: String,
    #[schema(pattern = r"^INTL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$")]
    license_key: String,
}

#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses((status = 201, description = "the owner account", body = serde_json::Value))
)]
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    check_login_budget(&req, &state, None)?;
    let body = body.into_inner();
    let email = Email::parse(&body.email)?;
    let license_key = LicenseKey::parse(&body.license_key)?;
    let license = state.store.license(&license_key).await?.ok_or(ApiError::NotFound("license"))?;
    check_password(&state, &license_key, &body.password).await?;
    if license.status != LicenseStatus::Active {
        return Err(ApiError::forbidden("license_suspended", "this license is suspended"));
    }
    if state.store.license_has_owner(&license_key).await? {
        return Err(ApiError::conflict("license_taken", "this license is already registered to another user"));
    }
    let new_user = NewUser {
        email,
        password_hash: hash_password(body.password).await?,
        license_key,
        role: Role::Owner,
        name: None,
    };
    let user = state.store.create_user(&new_user).await.map_err(|e| match e {
        StoreError::Duplicate => {
            ApiError::conflict("already_registered", "this e-mail address or license is already registered")
        }
        other => other.into(),
    })?;
    let event = AuditEvent::new(AuditAction::Register, Actor::user(&user.id))
        .license(&user.license_key)
        .target(user.id.as_str())
        .from(origin(&req, &state))
        .metadata(json!({ "email": user.email }));
    state.audit.record(event).await;
    Ok(HttpResponse::Created().json(json!({
        "user": {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "license_key": user.license_key,
            "products": license.products,
        }
    })))
}

/// Refuses a login or register attempt over the per-address or per-e-mail budget, before any password
/// is hashed: guessing is slowed to the budget, and argon2's cost cannot be turned into a DoS.
pub(super) fn check_login_budget(req: &HttpRequest, state: &AppState, email: Option<&str>) -> Result<(), ApiError> {
    let source = client_ip(req, state.trust_x_forwarded_for);
    state.limits.allow_login(source, email).map_err(|refused| {
        let whom = match refused {
            LoginRefused::Source => "from this address",
            LoginRefused::Email => "for this e-mail address",
        };
        tracing::warn!(%source, ?refused, "login attempt refused by its rate limit");
        ApiError::TooManyRequests {
            code: "rate_limited",
            message: format!("too many attempts {whom}; wait a minute and try again"),
            retry_after: 60,
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[schema(format = Email, min_length = 3, max_length = 254, pattern = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]
    email: String,
    #[schema(max_length = 256)]
    password: String,
    /// The current code of the member's authenticator app, when they have two-factor enabled.
    #[schema(max_length = 16)]
    totp_code: Option<String>,
    /// One of their recovery codes instead (each works once).
    #[schema(max_length = 32)]
    recovery_code: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "a token (also set as the sb_token cookie)", body = serde_json::Value))
)]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    check_login_budget(&req, &state, Some(&body.email))?;
    let body = body.into_inner();
    let (user, license) = match check_credentials(&state, &body).await? {
        Ok(found) => found,
        Err((user, reason, refusal)) => {
            return Err(login_failed(&req, &state, &body.email, user.as_ref(), reason, refusal).await)
        }
    };
    let source = client_ip(&req, state.trust_x_forwarded_for);
    // The address is checked before the second factor, so a refused address cannot use up recovery codes.
    let policy = state.auth.policy(&license.license_key).await?;
    if !policy.ip_allowlist.allows(source) {
        let refusal = AuthError::IpNotAllowed.into();
        return Err(login_failed(&req, &state, &body.email, Some(&user), "ip_not_allowed", refusal).await);
    }
    let mfa = if state.two_factor.enabled(&user.license_key, &user.id).await? {
        let proof = Proof::sent(body.totp_code.as_deref(), body.recovery_code.as_deref());
        let checked = match proof {
            Some(proof) => state.two_factor.verify(&user.license_key, &user.id, proof).await,
            None => Err(TwoFactorError::Required),
        };
        if let Err(err) = checked {
            let reason =
                if matches!(err, TwoFactorError::Required) { "two_factor_required" } else { "invalid_two_factor" };
            return Err(login_failed(&req, &state, &body.email, Some(&user), reason, err.into()).await);
        }
        true
    } else {
        false
    };
    let (id, license_key) = (user.id.clone(), user.license_key.clone());
    let session = open_session(&state, source, user, license, mfa).await?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::user(&id))
        .license(&license_key)
        .target(id.as_str())
        .from(origin(&req, &state))
        .metadata(json!({ "two_factor": mfa }));
    state.audit.record(event).await;
    Ok(session)
}

/// Records a refused login in the audit trail (`reason` says why) and answers `refusal`.
async fn login_failed(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    user: Option<&User>,
    reason: &'static str,
    refusal: ApiError,
) -> ApiError {
    let actor = user.map_or_else(Actor::anonymous_user, |u| Actor::user(&u.id));
    let mut event = AuditEvent::new(AuditAction::LoginFailed, actor)
        .from(origin(req, state))
        .metadata(json!({ "email": email.chars().take(254).collect::<String>(), "reason": reason }));
    if let Some(user) = user {
        event = event.license(&user.license_key).target(user.id.as_str());
    }
    state.audit.record(event).await;
    refusal
}

/// Issues a session for `user` of `license`, logging in from `source`: the token in the body and as the
/// HttpOnly cookie. It lives as long as the license's policy allows (`expires_in` says how long); `mfa`
/// says it was opened with a second factor. Without one where the policy requires it, the session can
/// only set one up (`two_factor_setup_required` says so on the login answer and on other endpoints).
pub(super) async fn open_session(
    state: &AppState,
    source: IpAddr,
    user: User,
    license: License,
    mfa: bool,
) -> Result<HttpResponse, ApiError> {
    if license.status != LicenseStatus::Active {
        return Err(ApiError::forbidden("license_suspended", "this license is suspended"));
    }
    let policy = state.auth.policy(&license.license_key).await?;
    if !policy.ip_allowlist.allows(source) {
        return Err(AuthError::IpNotAllowed.into());
    }
    let claims = Claims {
        sub: user.id,
        email: user.email,
        license_key: license.license_key,
        role: user.role,
        products: license.products,
        iat: 0,
        exp: 0,
        jti: String::new(),
        mfa,
    };
    session_response(state, claims, &policy, json!({})).await
}

/// Records and signs a session for `claims` (its `iat`, `exp` and `jti` are set here, the lifetime from
/// `policy`) and answers it: the token in the body, with the fields of `extra`, and as the cookie.
pub(super) async fn session_response(
    state: &AppState,
    mut claims: Claims,
    policy: &SecurityPolicy,
    extra: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let ttl = state.auth.session_seconds(policy);
    claims.iat = now_millis() / 1000;
    claims.exp = claims.iat + ttl;
    claims.jti = uuid::Uuid::new_v4().to_string();
    let token = state.auth.issue(&claims).await?;
    state.store.touch_member(&claims.license_key, &claims.sub).await?;
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .http_only(true)
        .secure(state.cookie_secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(CookieDuration::seconds(ttl))
        .finish();
    let mut body = json!({
        "token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "two_factor_setup_required": policy.require_two_factor && !claims.mfa,
        "user": user_json(&claims),
    });
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    Ok(HttpResponse::Ok().cookie(cookie).json(body))
}

/// A refused login: the user when the address is one, why (for the audit trail), and the answer.
type LoginRefusal = (Option<User>, &'static str, ApiError);

/// The user and license a login's credentials open, or why they open nothing. Every refusal but a
/// suspended license answers the same `401`, so the answer never tells which part was wrong.
async fn check_credentials(
    state: &AppState,
    body: &LoginRequest,
) -> Result<Result<(User, License), LoginRefusal>, ApiError> {
    let wrong = || ApiError::Unauthorized("wrong e-mail or password".into());
    let user = match Email::parse(&body.email) {
        Ok(email) => state.store.user_by_email(&email).await?,
        Err(ParseError(_)) => None,
    };
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let verified = verify_password(body.password.clone(), phc).await?;
    let Some(user) = user else { return Ok(Err((None, "unknown_user", wrong()))) };
    if !verified {
        return Ok(Err((Some(user), "wrong_password", wrong())));
    }
    if user.deactivated_at.is_some() {
        let deactivated = ApiError::forbidden("member_deactivated", "this account was deactivated by the team's admin");
        return Ok(Err((Some(user), "member_deactivated", deactivated)));
    }
    let Some(license) = state.store.license(&user.license_key).await? else {
        return Ok(Err((Some(user), "unknown_license", wrong())));
    };
    if license.status != LicenseStatus::Active {
        let suspended = ApiError::forbidden("license_suspended", "this license is suspended");
        return Ok(Err((Some(user), "license_suspended", suspended)));
    }
    Ok(Ok((user, license)))
}

fn user_json(claims: &Claims) -> serde_json::Value {
    json!({
        "id": claims.sub,
        "email": claims.email,
        "role": claims.role,
        "license_key": claims.license_key,
        "products": claims.products,
    })
}

/// Answers from the verified claims: validating the session is the whole cost.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    responses((status = 200, description = "the caller and their session", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn me(SetupSession(user): SetupSession) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user": user_json(&user.claims),
        "session": { "expires_at": user.claims.exp.saturating_mul(1000), "two_factor": user.claims.mfa },
    }))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    responses((status = 200, description = "the session is revoked on every node", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    SetupSession(user): SetupSession,
) -> Result<HttpResponse, ApiError> {
    state.auth.revoke(&user.claims).await?;
    let event = user_event(&req, &state, &user, AuditAction::Logout)
        .target(user.claims.sub.as_str())
        .metadata(json!({ "session": user.claims.jti }));
    state.audit.record(event).await;
    // Sockets opened with this token close too, on every node.
    state.bus.publish(&user.license, Event::SessionRevoked { jti: Some(user.claims.jti.clone()) });
    let mut expired = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).finish();
    expired.make_removal();
    Ok(HttpResponse::Ok().cookie(expired).json(json!({ "logged_out": true })))
}
