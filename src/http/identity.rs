//! Who is calling: a dashboard user (JWT in `Authorization: Bearer`, the session cookie, or
//! `?token=` for socket upgrades) or the operator (admin token).

use super::ApiError;
use crate::actors::Teammate;
use crate::auth::{Access, AuthError, Claims};
use crate::channels::constant_time_eq;
use crate::domain::{client_address, LicenseKey, Permission};
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// Name of the HttpOnly cookie that carries the dashboard token.
pub const SESSION_COOKIE: &str = "sb_token";

/// An authenticated dashboard user, with a live session.
#[derive(Debug, Clone)]
pub struct DashboardUser {
    /// The verified claims.
    pub claims: Claims,
    /// The tenant, parsed.
    pub license: LicenseKey,
}

impl DashboardUser {
    /// Refuses (403 `insufficient_role`) a caller whose role lacks `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.claims.role.can(permission) {
            Ok(())
        } else {
            Err(ApiError::insufficient_role(permission))
        }
    }

    /// The caller as the actors see a member acting on conversations.
    pub fn teammate(&self) -> Teammate {
        Teammate { license: self.license.clone(), id: self.claims.sub.clone(), role: self.claims.role }
    }
}

/// The credentials of an `Authorization: Bearer …` header (the scheme is case-insensitive).
pub(super) fn authorization_bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

/// The raw token from a request, wherever the client put it.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    authorization_bearer(req).map(str::to_owned).or_else(|| req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()))
}

/// The client's address: the peer, or with `trust_forwarded` the last `X-Forwarded-For` hop
/// ([`client_address`] says why). Per-source limits and the license's IP allow-list key on it.
pub fn client_ip(req: &HttpRequest, trust_forwarded: bool) -> IpAddr {
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    client_address(forwarded, req.peer_addr().map(|a| a.ip()), trust_forwarded)
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState is not registered")))
}

impl FromRequest for DashboardUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The usage middleware validated and admitted the token already on metered routes.
        if let Some(super::Caller::User(user)) = req.extensions().get::<super::Caller>() {
            return Box::pin(std::future::ready(Ok(user.clone())));
        }
        authenticate(req, Access::Full)
    }
}

/// A dashboard user whose session may be limited to setting up the second factor their license
/// requires: who am I, log out and the two-factor endpoints take it; everything else takes
/// [`DashboardUser`], which refuses such a session with 403 `two_factor_setup_required`.
#[derive(Debug, Clone)]
pub struct SetupSession(pub DashboardUser);

impl FromRequest for SetupSession {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticate(req, Access::TwoFactorSetup);
        Box::pin(async move { user.await.map(Self) })
    }
}

/// Validates the request's token, then applies the license's policy (address, timeout, second factor).
fn authenticate(req: &HttpRequest, access: Access) -> Pin<Box<dyn Future<Output = Result<DashboardUser, ApiError>>>> {
    let token = bearer_token(req);
    let state = state(req);
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Box::pin(async move {
        let token = token.ok_or(AuthError::Missing)?;
        let state = state?;
        let claims = state.auth.validate(&token).await?;
        let source = client_address(forwarded.as_deref(), peer, state.trust_x_forwarded_for);
        state.auth.admit(&claims, source, access).await?;
        let license = claims.license_key.clone();
        super::record_license(&license);
        Ok(DashboardUser { claims, license })
    })
}

/// The operator, proven by `Authorization: Bearer <ADMIN_TOKEN>`.
pub struct AdminAccess;

impl FromRequest for AdminAccess {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(admin_access(req))
    }
}

fn admin_access(req: &HttpRequest) -> Result<AdminAccess, ApiError> {
    let state = state(req)?;
    let expected = state.admin_token.as_deref().ok_or_else(|| {
        ApiError::forbidden("admin_disabled", "the admin API is disabled: set ADMIN_TOKEN to enable it")
    })?;
    let given = authorization_bearer(req)
        .ok_or_else(|| ApiError::Unauthorized("send the admin token as Authorization: Bearer <ADMIN_TOKEN>".into()))?;
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(AdminAccess)
    } else {
        Err(ApiError::Unauthorized("the admin token is wrong".into()))
    }
}
