//! Dashboard authentication: password hashing, signed tokens, and sessions that logout can revoke.

mod password;
mod session_cache;
mod tokens;

pub use password::{hash_password, verify_password};
pub use session_cache::SessionCache;
pub use tokens::{Claims, TokenKeys};

use crate::domain::now_millis;
use crate::store::{Session, Store, StoreError};

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
    /// The session could not be checked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues tokens and checks them against the session store and its cache.
#[derive(Clone)]
pub struct Authenticator {
    keys: TokenKeys,
    cache: SessionCache,
    store: Store,
    ttl_seconds: i64,
}

impl Authenticator {
    /// Wires keys, cache and store together; tokens live `ttl_seconds`.
    pub fn new(keys: TokenKeys, cache: SessionCache, store: Store, ttl_seconds: i64) -> Self {
        Self { keys, cache, store, ttl_seconds }
    }

    /// How long issued tokens live, in seconds.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
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
