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

/// How far a signed request's timestamp may be from the server's clock, either way (seconds).
pub const REPLAY_WINDOW_SECONDS: i64 = 300;

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is missing or not `t=<seconds>,v1=<hex>[,v1=…]`.
    Malformed,
    /// `t` is outside the replay window.
    Stale,
    /// No `v1` matches any of the secrets.
    Mismatch,
}

/// A parsed `X-Switchboard-Signature`: the timestamp and every `v1` signature.
pub struct SignatureHeader<'a> {
    /// `t`, unix seconds.
    pub timestamp: i64,
    /// The `v1` values, hex.
    pub signatures: Vec<&'a str>,
}

/// Reads `t=<seconds>,v1=<hex>[,v1=…]`.
pub fn parse_header(header: &str) -> Result<SignatureHeader<'_>, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !signatures.is_empty() => Ok(SignatureHeader { timestamp, signatures }),
        _ => Err(SignatureError::Malformed),
    }
}

/// Checks an `X-Switchboard-Signature` header on `body` against `secrets` at `now` (unix seconds);
/// answers the matching signature (what a replay guard remembers).
pub fn verify(header: &str, secrets: &[WebhookSecret], body: &[u8], now: i64) -> Result<String, SignatureError> {
    let SignatureHeader { timestamp, signatures } = parse_header(header)?;
    if (now - timestamp).abs() > REPLAY_WINDOW_SECONDS {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        let expected = sign(secret.expose(), timestamp, body);
        // Constant-time comparison: the position of the first differing byte must not leak.
        if let Some(found) = signatures.iter().find(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
            return Ok((*found).to_owned());
        }
    }
    Err(SignatureError::Mismatch)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signatures accepted within the replay window, so the same signed request is taken once (per node:
/// across nodes the window bounds a replay to [`REPLAY_WINDOW_SECONDS`]).
#[derive(Default)]
pub struct SeenSignatures {
    seen: dashmap::DashMap<String, i64>,
}

impl SeenSignatures {
    /// Records `signature` at `now` (unix seconds); false when it was seen within the window.
    pub fn first_time(&self, signature: &str, now: i64) -> bool {
        // Forget what has left the window (twice its width: a timestamp may be ahead of us too).
        self.seen.retain(|_, at| now - *at <= 2 * REPLAY_WINDOW_SECONDS);
        self.seen.insert(signature.to_owned(), now).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_takes_a_fresh_matching_signature_only() -> Result<(), crate::domain::ParseError> {
        let secrets = [WebhookSecret::parse(SECRET)?];
        let header = format!("t={TIMESTAMP},v1={SIGNATURE}");
        assert_eq!(verify(&header, &secrets, BODY.as_bytes(), TIMESTAMP + 10), Ok(SIGNATURE.to_owned()));
        assert_eq!(verify(&header, &secrets, b"{}", TIMESTAMP), Err(SignatureError::Mismatch));
        assert_eq!(verify(&header, &secrets, BODY.as_bytes(), TIMESTAMP + 301), Err(SignatureError::Stale));
        assert_eq!(verify("v1=00", &secrets, BODY.as_bytes(), TIMESTAMP), Err(SignatureError::Malformed));
        let seen = SeenSignatures::default();
        assert!(seen.first_time(SIGNATURE, TIMESTAMP) && !seen.first_time(SIGNATURE, TIMESTAMP + 1));
        Ok(())
    }

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
