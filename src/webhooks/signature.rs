//! The signature on every webhook request, Stripe-style:
//! `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, with one
//! more `v1=` per secret while a rotation's overlap lasts (the newest first). A receiver accepts the
//! request when any `v1` matches one of its secrets and `t` is within its replay window (5 minutes).

use crate::domain::WebhookSecret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";
/// The header naming the event (`message_created`, …).
pub const EVENT_HEADER: &str = "x-switchboard-event";
/// The header carrying the delivery id (one per event and endpoint; retries repeat it).
pub const DELIVERY_HEADER: &str = "x-switchboard-delivery";
/// The header carrying the event's stable id (the body's `id`): what receivers deduplicate on.
pub const EVENT_ID_HEADER: &str = "x-switchboard-event-id";

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail; no panic on the delivery path either way
    // (an empty signature fails every receiver's check).
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Switchboard-Signature` value for `body` sent at `timestamp` (unix seconds), signed with each secret.
pub fn signature_header(secrets: &[WebhookSecret], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret.expose(), timestamp, body));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published test vectors (README, "Verifying webhook signatures"): receivers check their code
    /// against them.
    const SECRET: &str = "whsec_test_0123456789abcdefghijklmnop";
    const TIMESTAMP: i64 = 1_725_408_000;
    const BODY: &str = r#"{"id":"evt_1","event":"test"}"#;
    const SIGNATURE: &str = "31c3b04ae6a1d11c06cb5ab9489c65c86ab07fbe957b679470e849fecad47b87";

    #[test]
    fn signatures_match_the_published_vector() {
        let computed = sign(SECRET, TIMESTAMP, BODY.as_bytes());
        assert_eq!(computed.len(), 64);
        assert_eq!(computed, SIGNATURE, "update the README's vector together with this one");
    }

    #[test]
    fn rotation_signs_with_both_secrets_newest_first() -> Result<(), crate::domain::ParseError> {
        let (new, old) = (WebhookSecret::parse("whsec_new")?, WebhookSecret::parse("whsec_old")?);
        let header = signature_header(&[new, old], 7, b"{}");
        let expected = format!("t=7,v1={},v1={}", sign("whsec_new", 7, b"{}"), sign("whsec_old", 7, b"{}"));
        assert_eq!(header, expected);
        Ok(())
    }
}
