//! TOTP second factors (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock skew either way)
//! and single-use recovery codes.
//!
//! Secrets are stored sealed with `SECRETS_KEY` (the [`TokenBox`] that seals page tokens, bound to the
//! user id), so a database dump yields no second factor. Without `SECRETS_KEY` two-factor cannot be set
//! up at all ([`TwoFactorError::StorageDisabled`]) rather than keeping secrets in the clear. Each accepted
//! code claims its time step in the store, so a code works once, on any node. Recovery codes are kept as
//! SHA-256 hashes (they are 60 random bits: a fast hash is enough) and used up atomically.

use crate::channels::token_box::TokenBox;
use crate::domain::{now_millis, LicenseKey, UserId};
use crate::store::{Store, StoreError};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use totp_rs::{Algorithm, Secret, TOTP};

/// Recovery codes issued when two-factor is enabled.
pub const RECOVERY_CODES: usize = 10;
/// Seconds per TOTP step.
const STEP_SECONDS: u64 = 30;
/// The name authenticator apps show for our accounts.
const ISSUER: &str = "Switchboard";

/// Why a second-factor operation failed; each maps to one wire code.
#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    /// No `SECRETS_KEY`: secrets could not be stored sealed.
    #[error("two-factor authentication needs SECRETS_KEY on the server to store secrets sealed")]
    StorageDisabled,
    /// Login without a code for a member who has two-factor.
    #[error("this account uses two-factor authentication: send totp_code or recovery_code")]
    Required,
    /// Login with a wrong, reused or expired code.
    #[error("the two-factor code is wrong, expired or already used")]
    Refused,
    /// Enable or disable with a wrong, reused or expired code.
    #[error("the two-factor code is wrong, expired or already used")]
    WrongCode,
    /// Setup while two-factor is already on.
    #[error("two-factor authentication is already enabled; disable it first")]
    AlreadyEnabled,
    /// Enable without a setup, or disable while off.
    #[error("two-factor authentication is not set up for this account")]
    NotSetUp,
    /// The stored secret does not open with this `SECRETS_KEY` (the key was changed).
    #[error("a stored two-factor secret does not open with this SECRETS_KEY")]
    Unreadable,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a member proves their second factor with.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A 6-digit code from their authenticator app.
    Totp(&'a str),
    /// One of their recovery codes.
    Recovery(&'a str),
}

impl<'a> Proof<'a> {
    /// The proof a request sent: its TOTP code if any, else its recovery code, else none.
    pub fn sent(totp_code: Option<&'a str>, recovery_code: Option<&'a str>) -> Option<Self> {
        totp_code.map(Self::Totp).or(recovery_code.map(Self::Recovery))
    }
}

/// A secret set up and waiting for its first code.
#[derive(Debug)]
pub struct Setup {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…` for a QR code.
    pub otpauth_uri: String,
}

/// Sets up, checks and removes members' second factors.
#[derive(Clone)]
pub struct TwoFactor {
    store: Store,
    sealer: Option<Arc<TokenBox>>,
}

impl TwoFactor {
    /// Second factors in `store`, sealed with `sealer` (`None` without `SECRETS_KEY`).
    pub fn new(store: Store, sealer: Option<Arc<TokenBox>>) -> Self {
        Self { store, sealer }
    }

    /// Whether the member has two-factor enabled.
    pub async fn enabled(&self, license: &LicenseKey, id: &UserId) -> Result<bool, TwoFactorError> {
        Ok(self.store.two_factor(license, id).await?.secret.is_some())
    }

    /// A fresh secret for `account` (their e-mail), pending until [`TwoFactor::enable`] confirms it.
    pub async fn setup(&self, license: &LicenseKey, id: &UserId, account: &str) -> Result<Setup, TwoFactorError> {
        let sealer = self.sealer.as_ref().ok_or(TwoFactorError::StorageDisabled)?;
        if self.enabled(license, id).await? {
            return Err(TwoFactorError::AlreadyEnabled);
        }
        let mut bytes = [0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = Secret::Raw(bytes.to_vec()).to_encoded().to_string();
        let totp = totp(&secret, account)?;
        self.store.set_pending_totp(license, id, &sealer.seal(id.as_str(), &secret)).await?;
        Ok(Setup { secret, otpauth_uri: totp.get_url() })
    }

    /// Confirms the pending secret with a current `code`; answers the recovery codes (shown once).
    pub async fn enable(&self, license: &LicenseKey, id: &UserId, code: &str) -> Result<Vec<String>, TwoFactorError> {
        let sealed = self.store.two_factor(license, id).await?.pending.ok_or(TwoFactorError::NotSetUp)?;
        let step = self.matching_step(id, &sealed, code)?.ok_or(TwoFactorError::WrongCode)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        if !self.store.enable_totp(license, id, &sealed, step, &hashes).await? {
            // Another setup replaced the secret this code was for.
            return Err(TwoFactorError::WrongCode);
        }
        Ok(codes)
    }

    /// Checks a login's second factor: a code claims its step (no replay), a recovery code is used up.
    pub async fn verify(&self, license: &LicenseKey, id: &UserId, proof: Proof<'_>) -> Result<(), TwoFactorError> {
        let sealed = self.store.two_factor(license, id).await?.secret.ok_or(TwoFactorError::NotSetUp)?;
        let accepted = match proof {
            Proof::Totp(code) => match self.matching_step(id, &sealed, code)? {
                Some(step) => self.store.claim_totp_step(license, id, step).await?,
                None => false,
            },
            Proof::Recovery(code) => self.store.use_recovery_code(license, id, &recovery_hash(code)).await?,
        };
        accepted.then_some(()).ok_or(TwoFactorError::Refused)
    }

    /// Turns two-factor off after a valid code or recovery code.
    pub async fn disable(&self, license: &LicenseKey, id: &UserId, proof: Proof<'_>) -> Result<(), TwoFactorError> {
        match self.verify(license, id, proof).await {
            Ok(()) => Ok(self.store.disable_totp(license, id).await?),
            Err(TwoFactorError::Refused) => Err(TwoFactorError::WrongCode),
            Err(other) => Err(other),
        }
    }

    /// The time step (within one step of now) whose code is `code`, if any.
    fn matching_step(&self, id: &UserId, sealed: &str, code: &str) -> Result<Option<i64>, TwoFactorError> {
        let sealer = self.sealer.as_ref().ok_or(TwoFactorError::Unreadable)?;
        let secret = sealer.open(id.as_str(), sealed).map_err(|_| TwoFactorError::Unreadable)?;
        let totp = totp(&secret, "member")?;
        let code = code.trim();
        let now = u64::try_from(now_millis() / 1000).unwrap_or_default() / STEP_SECONDS;
        let matches = |step: u64| {
            crate::channels::constant_time_eq(totp.generate(step * STEP_SECONDS).as_bytes(), code.as_bytes())
        };
        Ok([now.saturating_sub(1), now, now + 1].into_iter().find(|s| matches(*s)).and_then(|s| i64::try_from(s).ok()))
    }
}

/// The RFC 6238 generator for a base32 `secret`.
fn totp(secret: &str, account: &str) -> Result<TOTP, TwoFactorError> {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().map_err(|_| TwoFactorError::Unreadable)?;
    // An address cannot hold ':' (the URI's separator), but the label must never fail setup.
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECONDS, bytes, Some(ISSUER.into()), account.replace(':', "_"))
        .map_err(|_| TwoFactorError::Unreadable)
}

/// A recovery code: 12 characters from an alphabet without look-alikes, grouped `xxxx-xxxx-xxxx`.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..12).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
    chars.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// The stored form of a recovery code; case and surrounding spaces do not matter to the member.
fn recovery_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().to_ascii_lowercase().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_and_hash_alike_whatever_the_case() {
        let code = recovery_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert_ne!(code, recovery_code());
        assert_eq!(recovery_hash(&code), recovery_hash(&format!(" {} ", code.to_uppercase())));
    }
}
