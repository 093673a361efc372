//! Who is calling: a dashboard user (JWT in `Authorization: Bearer`, the session cookie, or
//! `?token=` for socket upgrades) or the operator (admin token).

use super::ApiError;
use crate::actors::Teammate;
use crate::auth::{AuthError, Claims};
use crate::channels::constant_time_eq;
use crate::domain::{LicenseKey, Permission};
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
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

/// The client's address: the peer, or with `trust_forwarded` the last `X-Forwarded-For` hop (the one
/// our proxy added; earlier hops are the client's own claims). Per-source limits key on it.
pub fn client_ip(req: &HttpRequest, trust_forwarded: bool) -> IpAddr {
    let forwarded = trust_forwarded
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
        .flatten();
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip())).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
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
        // The usage middleware validated the token already on metered routes.
        if let Some(super::Caller::User(user)) = req.extensions().get::<super::Caller>() {
            return Box::pin(std::future::ready(Ok(user.clone())));
        }
        let token = bearer_token(req);
        let state = state(req);
        Box::pin(async move {
            let token = token.ok_or(AuthError::Missing)?;
            let claims = state?.auth.validate(&token).await?;
            let license = claims.license_key.clone();
            super::record_license(&license);
            Ok(Self { claims, license })
        })
    }
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
