//! Signing secrets at rest. With `SECRETS_KEY` set, an endpoint's secret is stored sealed (ChaCha20-Poly1305,
//! the same box as pages' tokens, bound to the license), so a database dump alone cannot forge the
//! tenant's webhooks; without it, and for secrets stored before it was set, the column holds `whsec_…`.

use crate::channels::token_box::TokenBox;
use crate::domain::{LicenseKey, WebhookSecret};

/// What a sealed secret starts with in `webhook_endpoints.secret` / `previous_secret`.
const SEALED_PREFIX: &str = "sealed:";

/// The form `secret` is stored in for `license`: sealed when there is a key.
pub fn seal_for_storage(tokens: Option<&TokenBox>, license: &LicenseKey, secret: &WebhookSecret) -> String {
    match tokens {
        Some(tokens) => format!("{SEALED_PREFIX}{}", tokens.seal(license.as_str(), secret.expose())),
        None => secret.expose().to_owned(),
    }
}

/// The secret behind a stored value of `license`; an error says why it cannot be used on this node.
pub fn open_stored(tokens: Option<&TokenBox>, license: &LicenseKey, stored: &str) -> Result<WebhookSecret, String> {
    let plain = match (stored.strip_prefix(SEALED_PREFIX), tokens) {
        (None, _) => stored.to_owned(),
        (Some(sealed), Some(tokens)) => tokens.open(license.as_str(), sealed).map_err(|e| e.to_string())?,
        (Some(_), None) => {
            return Err("the endpoint's secret is sealed, but SECRETS_KEY is not set on this node".into())
        }
    };
    WebhookSecret::parse(&plain).map_err(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn sealed_secrets_open_for_their_license_only() -> Result<(), String> {
        let tokens = TokenBox::new(KEY).map_err(|e| e.to_string())?;
        let license = LicenseKey::parse("INTL-AAAA-BBBB-CCCC").map_err(|e| e.0)?;
        let other = LicenseKey::parse("INTL-DDDD-EEEE-FFFF").map_err(|e| e.0)?;
        let secret = WebhookSecret::generate();
        let stored = seal_for_storage(Some(&tokens), &license, &secret);
        assert!(stored.starts_with(SEALED_PREFIX) && !stored.contains(secret.expose()));
        assert_eq!(open_stored(Some(&tokens), &license, &stored)?, secret);
        assert!(open_stored(Some(&tokens), &other, &stored).is_err(), "bound to its license");
        assert!(open_stored(None, &license, &stored).is_err(), "needs the key");
        let plain = seal_for_storage(None, &license, &secret);
        assert_eq!(open_stored(Some(&tokens), &license, &plain)?, secret, "secrets stored before the key still work");
        Ok(())
    }
}
