//! Tenants' provider tokens (a Messenger page access token per page) are stored sealed: encrypted and
//! authenticated with ChaCha20-Poly1305 under `SECRETS_KEY`, bound to the account they belong to (the
//! page id is the associated data, so a sealed token moved to another page's row does not open).
//! A database dump alone yields no token.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Bytes of a ChaCha20-Poly1305 nonce, stored before the ciphertext.
const NONCE_BYTES: usize = 12;

/// Seals and opens tokens with the deployment's key.
pub struct TokenBox {
    cipher: ChaCha20Poly1305,
}

/// Why a key or a sealed token is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// `SECRETS_KEY` is not 32 bytes of standard base64.
    #[error("SECRETS_KEY must be 32 bytes, base64-encoded (e.g. `head -c 32 /dev/urandom | base64`)")]
    BadKey,
    /// The stored value does not open with this key for this account (wrong key, or tampered).
    #[error("a stored token does not open with this SECRETS_KEY")]
    CannotOpen,
}

impl TokenBox {
    /// A box for the base64 key `key`.
    pub fn new(key: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        Ok(Self { cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)) })
    }

    /// `token` sealed for `account`, as base64 text for a TEXT column.
    pub fn seal(&self, account: &str, token: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload { msg: token.as_bytes(), aad: account.as_bytes() };
        // Encryption only fails for messages beyond ChaCha20's 256 GiB limit, not for a token.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// The token sealed for `account`.
    pub fn open(&self, account: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::CannotOpen)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(SealError::CannotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let payload = Payload { msg: ciphertext, aad: account.as_bytes() };
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), payload).map_err(|_| SealError::CannotOpen)?;
        String::from_utf8(plain).map_err(|_| SealError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef0123456789abcdef"

    #[test]
    fn a_sealed_token_opens_only_for_its_account_and_key() {
        let tokens = TokenBox::new(KEY).expect("a 32-byte key");
        let sealed = tokens.seal("1029384756", "EAAB-page-token");
        assert!(!sealed.contains("EAAB"));
        assert_ne!(sealed, tokens.seal("1029384756", "EAAB-page-token"), "a fresh nonce each time");
        assert_eq!(tokens.open("1029384756", &sealed).expect("opens"), "EAAB-page-token");
        assert!(tokens.open("5555555555", &sealed).is_err(), "bound to its page");
        let other = TokenBox::new("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").expect("another key");
        assert!(other.open("1029384756", &sealed).is_err(), "bound to its key");
        assert!(TokenBox::new("c2hvcnQ=").is_err(), "short keys are refused");
    }
}
