//! Who is calling the tenant API: a dashboard user (token or cookie) or the tenant's own backend (an API
//! key in `X-API-Key`). Either way the license comes from the credential, never from the request.
//!
//! Keys are checked against the store on every call (by the SHA-256 of the secret, one indexed read),
//! so a revoked key is refused by every node at once; there is no cache to go stale.

use super::{client_ip, ApiError, DashboardUser};
use crate::actors::Teammate;
use crate::audit::{Actor, AuditEvent, Origin};
use crate::auth::{Access, AuthError};
use crate::domain::{
    now_millis, ApiKeyId, ApiKeySecret, AuditAction, LicenseKey, LicenseStatus, Permission, Scope, Scopes, Tier,
};
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// The header a tenant's backend sends its API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// A key's `last_used_at` is written at most this often (a write per call would cost more than the call).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A tenant's backend, proven by a live API key.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    /// The key's id (not its secret), for the audit trail.
    pub id: ApiKeyId,
    /// The tenant it opens.
    pub license: LicenseKey,
    /// What it may do.
    pub scopes: Scopes,
    /// The license's tier, read with the key.
    pub tier: Tier,
}

/// Whoever calls the tenant API.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A dashboard user.
    User(DashboardUser),
    /// A tenant's backend.
    Key(KeyHolder),
}

impl Caller {
    /// The tenant every query is scoped to.
    pub fn license(&self) -> &LicenseKey {
        match self {
            Self::User(user) => &user.license,
            Self::Key(key) => &key.license,
        }
    }

    /// The license's tier when the credential already told it.
    pub fn known_tier(&self) -> Option<Tier> {
        match self {
            Self::User(_) => None,
            Self::Key(key) => Some(key.tier),
        }
    }

    /// Dashboard users need `permission` (the role table), API keys need `scope`.
    pub fn require(&self, permission: Permission, scope: Scope) -> Result<(), ApiError> {
        match self {
            Self::User(user) => user.require(permission),
            Self::Key(key) => key_allows(key, scope),
        }
    }

    /// Who acts on conversations: the dashboard user, or the tenant's backend (checked by scope first).
    pub fn teammate(&self) -> Teammate {
        match self {
            Self::User(user) => user.teammate(),
            Self::Key(key) => Teammate::backend(&key.license),
        }
    }
}

fn key_allows(key: &KeyHolder, scope: Scope) -> Result<(), ApiError> {
    if key.scopes.allows(scope) {
        Ok(())
    } else {
        Err(ApiError::forbidden("insufficient_scope", format!("this API key lacks the {} scope", scope.as_str())))
    }
}

/// Where a request came from, for the audit trail.
pub fn origin(req: &HttpRequest, state: &AppState) -> Origin {
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    Origin::new(client_ip(req, state.trust_x_forwarded_for), user_agent)
}

/// An audit event by the dashboard `user`, from this request; the operation adds its target and details.
pub fn user_event(req: &HttpRequest, state: &AppState, user: &DashboardUser, action: AuditAction) -> AuditEvent {
    AuditEvent::new(action, Actor::user(&user.claims.sub)).license(&user.license).from(origin(req, state))
}

/// An audit event by whoever calls (a dashboard user or an API key), from this request.
pub fn caller_event(req: &HttpRequest, state: &AppState, caller: &Caller, action: AuditAction) -> AuditEvent {
    match caller {
        Caller::User(user) => user_event(req, state, user, action),
        Caller::Key(key) => {
            AuditEvent::new(action, Actor::api_key(&key.id)).license(&key.license).from(origin(req, state))
        }
    }
}

/// Resolves the caller: an `X-API-Key` when one is sent, else the dashboard token.
pub(super) async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    match req.headers().get(API_KEY_HEADER) {
        Some(raw) => Ok(Caller::Key(key_holder(state, raw.to_str().unwrap_or_default()).await?)),
        None => {
            let token = super::bearer_token(req).ok_or(AuthError::Missing)?;
            let claims = state.auth.validate(&token).await?;
            // The license's policy (allowed addresses, required second factor) applies to every call.
            state.auth.admit(&claims, client_ip(req, state.trust_x_forwarded_for), Access::Full).await?;
            let license = claims.license_key.clone();
            Ok(Caller::User(DashboardUser { claims, license }))
        }
    }
}

async fn key_holder(state: &AppState, raw: &str) -> Result<KeyHolder, ApiError> {
    let refused = || ApiError::Unauthorized("the API key is invalid or has been revoked".into());
    let secret = ApiKeySecret::parse(raw.trim()).map_err(|_| refused())?;
    let resolved = state.store.api_key_by_hash(&secret.hash()).await?.ok_or_else(refused)?;
    if resolved.license_status != LicenseStatus::Active {
        return Err(ApiError::forbidden("license_suspended", "this license is suspended"));
    }
    let key = resolved.key;
    if key.last_used_at.is_none_or(|at| now_millis() - at >= TOUCH_EVERY_MS) {
        if let Err(err) = state.store.touch_api_key(&key.id, TOUCH_EVERY_MS).await {
            tracing::warn!(error = %err, "could not record an API key's use");
        }
    }
    Ok(KeyHolder { id: key.id, license: key.license_key, scopes: key.scopes, tier: resolved.tier })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The usage middleware resolved it already for every metered route; resolve here otherwise.
        let known = req.extensions().get::<Caller>().cloned();
        let req = req.clone();
        Box::pin(async move {
            if let Some(caller) = known {
                return Ok(caller);
            }
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState is not registered")))?;
            let caller = authenticate(&req, &state).await?;
            super::record_license(caller.license());
            Ok(caller)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Claims;
    use crate::domain::{Role, UserId};

    fn user(role: Role) -> DashboardUser {
        let license = LicenseKey::generate();
        let claims = Claims {
            sub: UserId::generate(),
            email: "a@example.com".into(),
            license_key: license.clone(),
            role,
            products: vec![],
            iat: 0,
            exp: 0,
            jti: "j".into(),
            mfa: false,
        };
        DashboardUser { claims, license }
    }

    #[test]
    fn users_need_their_role_and_keys_their_scope() {
        let member = Caller::User(user(Role::Member));
        assert!(member.require(Permission::Answer, Scope::ConversationsWrite).is_ok());
        let refused = member.require(Permission::ManageSettings, Scope::UsageRead).err().map(|e| e.code());
        assert_eq!(refused, Some("insufficient_role"));
        assert!(Caller::User(user(Role::Admin)).require(Permission::ManageSettings, Scope::UsageRead).is_ok());
        let scopes = Scopes::new(vec![Scope::UsageRead]).ok().map(|scopes| KeyHolder {
            id: ApiKeyId::parse(&crate::domain::new_id()).unwrap_or_else(|_| unreachable!("new ids parse")),
            license: LicenseKey::generate(),
            scopes,
            tier: Tier::Free,
        });
        let key = Caller::Key(scopes.unwrap_or_else(|| unreachable!("one scope is a valid set")));
        assert!(key.require(Permission::ManageSettings, Scope::UsageRead).is_ok());
        let refused = key.require(Permission::Read, Scope::ConversationsRead).err().map(|e| e.code());
        assert_eq!(refused, Some("insufficient_scope"));
        assert_eq!(key.teammate().id, UserId::nobody(), "a key acts as nobody in the team");
    }
}
