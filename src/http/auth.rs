//! `/api/auth/*`: register with a license key, log in for a token (body and cookie), who am I, log out.

use super::{client_ip, origin, user_event, ApiError, DashboardUser, SESSION_COOKIE};
use crate::audit::{Actor, AuditEvent};
use crate::auth::{hash_password, verify_password, Claims};
use crate::bus::Event;
use crate::domain::{now_millis, AuditAction, Email, LicenseKey, Role};
use crate::domain::{LicenseStatus, ParseError};
use crate::limits::LoginRefused;
use crate::state::AppState;
use crate::store::{License, NewUser, StoreError, User};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 256;

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
    check_password(&body.password)?;
    let license = state.store.license(&license_key).await?.ok_or(ApiError::NotFound("license"))?;
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

/// Refuses a new password outside the length policy (400 `weak_password`).
pub(super) fn check_password(password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(ApiError::bad_request(
            "weak_password",
            format!("the password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
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
            let actor = user.as_ref().map_or_else(Actor::anonymous_user, |u| Actor::user(&u.id));
            let mut event = AuditEvent::new(AuditAction::LoginFailed, actor)
                .from(origin(&req, &state))
                .metadata(json!({ "email": body.email.chars().take(254).collect::<String>(), "reason": reason }));
            if let Some(user) = &user {
                event = event.license(&user.license_key).target(user.id.as_str());
            }
            state.audit.record(event).await;
            return Err(refusal);
        }
    };
    open_session(&req, &state, user, license).await
}

/// Issues a session for `user` of `license` (whose credentials were checked): the token in the body
/// and as the HttpOnly cookie; the login is audited.
pub(super) async fn open_session(
    req: &HttpRequest,
    state: &AppState,
    user: User,
    license: License,
) -> Result<HttpResponse, ApiError> {
    if license.status != LicenseStatus::Active {
        return Err(ApiError::forbidden("license_suspended", "this license is suspended"));
    }
    let ttl = state.auth.ttl_seconds();
    let now = now_millis() / 1000;
    let claims = Claims {
        sub: user.id,
        email: user.email,
        license_key: license.license_key.clone(),
        role: user.role,
        products: license.products,
        iat: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let token = state.auth.issue(&claims).await?;
    state.store.touch_member(&claims.license_key, &claims.sub).await?;
    let event = AuditEvent::new(AuditAction::LoginSucceeded, Actor::user(&claims.sub))
        .license(&claims.license_key)
        .target(claims.sub.as_str())
        .from(origin(req, state))
        .metadata(json!({ "session": claims.jti }));
    state.audit.record(event).await;
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .http_only(true)
        .secure(state.cookie_secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(CookieDuration::seconds(ttl))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "user": user_json(&claims),
    })))
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
async fn me(user: DashboardUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user": user_json(&user.claims),
        "session": { "expires_at": user.claims.exp.saturating_mul(1000) },
    }))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    responses((status = 200, description = "the session is revoked on every node", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn logout(req: HttpRequest, state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
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
