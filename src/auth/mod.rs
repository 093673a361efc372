//! Dashboard authentication: password hashing, signed tokens, and sessions that logout can revoke.

mod password;
mod policies;
mod session_cache;
mod tokens;
mod two_factor;

pub use password::{hash_password, verify_password};
pub use policies::PolicyCache;
pub use session_cache::SessionCache;
pub use tokens::{Claims, TokenKeys};
pub use two_factor::{Proof, Setup, TwoFactor, TwoFactorError, RECOVERY_CODES};

use crate::domain::{now_millis, LicenseKey, SecurityPolicy};
use crate::store::{Session, Store, StoreError};
use std::net::IpAddr;
use std::sync::Arc;

/// Why a token was refused; each message is safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token in the `Authorization` header, the cookie or the query.
    #[error("authentication required: send a Bearer token or the session cookie")]
    Missing,
    /// The token's `exp` has passed.
    #[error("the token has expired; log in again")]
    Expired,
    /// Bad signature, algorithm or shape.
    #[error("the token is invalid")]
    Invalid,
    /// Logged out, or the license was suspended.
    #[error("the session has been revoked; log in again")]
    Revoked,
    /// The license's IP allow-list does not hold the caller's address.
    #[error("this license does not allow logins or connections from your address")]
    IpNotAllowed,
    /// The license requires a second factor and this session was opened without one: it may only set
    /// one up (then log in again with a code).
    #[error("this license requires two-factor authentication: set it up (POST /api/auth/2fa/setup, then enable) and log in again")]
    TwoFactorSetupRequired,
    /// The session could not be checked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a session is being used for: everything, or only setting up the second factor its license
/// requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any endpoint or socket.
    Full,
    /// Who am I, log out, and the two-factor setup endpoints.
    TwoFactorSetup,
}

/// Issues tokens and checks them against the session store and its cache.
#[derive(Clone)]
pub struct Authenticator {
    keys: TokenKeys,
    cache: SessionCache,
    store: Store,
    ttl_seconds: i64,
    policies: PolicyCache,
}

impl Authenticator {
    /// Wires keys, cache and store together; tokens live `ttl_seconds`.
    pub fn new(keys: TokenKeys, cache: SessionCache, store: Store, ttl_seconds: i64) -> Self {
        let policies = PolicyCache::new(store.clone());
        Self { keys, cache, store, ttl_seconds, policies }
    }

    /// How long issued tokens live, in seconds.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// How long a session issued now for `policy` lives: the policy's timeout when shorter than the TTL.
    pub fn session_seconds(&self, policy: &SecurityPolicy) -> i64 {
        policy.session_timeout.map_or(self.ttl_seconds, |t| t.seconds().min(self.ttl_seconds))
    }

    /// The license's security policy (cached for a few seconds on each node).
    pub async fn policy(&self, license: &LicenseKey) -> Result<Arc<SecurityPolicy>, StoreError> {
        self.policies.get(license).await
    }

    /// Forgets this node's copy of a policy just changed; other nodes follow within seconds.
    pub fn policy_changed(&self, license: &LicenseKey) {
        self.policies.forget(license);
    }

    /// Applies the license's policy to a validated session used from `source`: the address must be
    /// allowed, and the session opened with a second factor when the license requires one (else it is
    /// good for `Access::TwoFactorSetup` only). The session timeout needs no check here: it is the
    /// token's `exp` (and the session row's), fixed when the session was issued.
    pub async fn admit(&self, claims: &Claims, source: IpAddr, access: Access) -> Result<(), AuthError> {
        let policy = self.policy(&claims.license_key).await?;
        if !policy.ip_allowlist.allows(source) {
            return Err(AuthError::IpNotAllowed);
        }
        if policy.require_two_factor && !claims.mfa && access == Access::Full {
            return Err(AuthError::TwoFactorSetupRequired);
        }
        Ok(())
    }

    /// Records a session for `claims` (whose `jti` and `exp` are set) and returns its signed token.
    pub async fn issue(&self, claims: &Claims) -> Result<String, AuthError> {
        let license = &claims.license_key;
        let session = Session {
            jti: claims.jti.clone(),
            user_id: claims.sub.clone(),
            license_key: license.clone(),
            expires_at: claims.exp.saturating_mul(1000),
            revoked_at: None,
        };
        self.store.create_session(&session).await?;
        self.cache.remember(&session).await;
        self.keys.sign(claims).map_err(|_| AuthError::Invalid)
    }

    /// Verifies the signature and expiry, then that the session is still live (cache first, store on a miss).
    pub async fn validate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.keys.verify(token)?;
        let license = &claims.license_key;
        let live = match self.cache.lookup(license, &claims.jti).await {
            Some(live) => live,
            None => {
                let session = self.store.session(license, &claims.jti).await?;
                match session {
                    Some(session) => {
                        self.cache.remember(&session).await;
                        session.is_live(now_millis())
                    }
                    None => false,
                }
            }
        };
        if live {
            Ok(claims)
        } else {
            Err(AuthError::Revoked)
        }
    }

    /// Marks an already revoked session revoked in the cache, so no node accepts it any more.
    pub async fn forget(&self, license: &crate::domain::LicenseKey, jti: &str, expires_at: i64) {
        self.cache.forget(license, jti, expires_at).await;
    }

    /// Revokes the session behind `claims` everywhere at once.
    pub async fn revoke(&self, claims: &Claims) -> Result<(), AuthError> {
        let license = &claims.license_key;
        self.store.revoke_session(license, &claims.jti).await?;
        self.cache.forget(license, &claims.jti, claims.exp.saturating_mul(1000)).await;
        Ok(())
    }
}
