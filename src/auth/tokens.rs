//! HS256 tokens carrying the tenant (`license_key`) and the user's role and products.

use super::AuthError;
use crate::domain::UserId;
use crate::domain::{LicenseKey, Product, Role};
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The claims of a dashboard token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// User id.
    pub sub: UserId,
    /// User's address.
    pub email: String,
    /// The tenant, validated when the token is read: a token with a malformed key is invalid.
    pub license_key: LicenseKey,
    /// What the user may do.
    pub role: Role,
    /// Products the license owns.
    pub products: Vec<Product>,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expiry, epoch seconds.
    pub exp: i64,
    /// Session id: the row logout revokes.
    pub jti: String,
    /// Opened with a second factor (TOTP or a recovery code). Older tokens lack it: `false`.
    #[serde(default)]
    pub mfa: bool,
}

/// Signing and verifying keys derived from one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl TokenKeys {
    /// Keys for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "jti"]);
        Self {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            validation: Arc::new(validation),
        }
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Checks signature, algorithm and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: UserId::parse("7990497e-c385-4e95-bdf1-7ab8cef00fda").expect("a UUID"),
            email: "a@b.co".into(),
            license_key: LicenseKey::parse("INTL-AAAA-BBBB-CCCC").expect("a well-formed key"),
            role: Role::Owner,
            products: vec![Product::Chatbot],
            iat: 0,
            exp,
            jti: "j1".into(),
            mfa: false,
        }
    }

    #[test]
    fn round_trips_and_refuses_other_secrets() -> Result<(), Box<dyn std::error::Error>> {
        let keys = TokenKeys::new(b"secret-one");
        let token = keys.sign(&claims(i64::from(u32::MAX)))?;
        assert_eq!(keys.verify(&token)?, claims(i64::from(u32::MAX)));
        assert!(matches!(TokenKeys::new(b"secret-two").verify(&token), Err(AuthError::Invalid)));
        Ok(())
    }

    #[test]
    fn expired_tokens_are_refused_as_expired() -> Result<(), Box<dyn std::error::Error>> {
        let keys = TokenKeys::new(b"secret");
        let token = keys.sign(&claims(1_000))?;
        assert!(matches!(keys.verify(&token), Err(AuthError::Expired)));
        Ok(())
    }
}
