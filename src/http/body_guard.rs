//! The edge check every request passes before its handler: the body is read up to its limit (64 KiB,
//! or `WEBHOOK_MAX_BODY_BYTES` for provider webhooks) and refused with 413 beyond it, and U+0000 is
//! refused with 400 `invalid_value` wherever text enters: the path and query (`%00`), a raw NUL byte,
//! a JSON `\u0000` escape, or a form's `%00`. PostgreSQL cannot store NUL in text, and one NUL must
//! never reach the store, where it would fail a whole group commit.

use super::{ApiError, MAX_BODY_BYTES};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, BytesMut};
use actix_web::HttpMessage;
use futures_util::StreamExt;

/// Middleware: reads and checks the body, then hands it on unchanged.
pub async fn check_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if has_percent_nul(req.uri().to_string().as_bytes()) {
        return Err(nul_refused().into());
    }
    // A WebSocket upgrade's "body" is the socket itself: the frame guard watches that.
    if req.headers().contains_key(actix_web::http::header::UPGRADE) || !has_body(&req) {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let limit = body_limit(&req);
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit).into());
        }
        body.extend_from_slice(&chunk);
    }
    let is_form = req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded");
    if contains_nul(&body, is_form) {
        return Err(nul_refused().into());
    }
    req.set_payload(actix_web::dev::Payload::from(body.freeze()));
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || headers
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Provider webhooks batch events and may be larger than API bodies.
fn body_limit(req: &ServiceRequest) -> usize {
    match req.app_data::<web::Data<AppState>>() {
        Some(state) if req.path().starts_with("/api/webhooks/") => state.webhook_max_body_bytes,
        _ => MAX_BODY_BYTES,
    }
}

fn nul_refused() -> ApiError {
    ApiError::bad_request("invalid_value", "text may not contain U+0000 (NUL)")
}

/// A NUL byte, or NUL encoded the way the body's format encodes text: `%00` in a form, an
/// unescaped `\u0000` in JSON (other bodies are JSON or refused by their handler).
fn contains_nul(body: &[u8], is_form: bool) -> bool {
    body.contains(&0) || if is_form { has_percent_nul(body) } else { has_json_nul(body) }
}

fn has_percent_nul(text: &[u8]) -> bool {
    text.windows(3).any(|w| w == b"%00")
}

fn has_json_nul(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' if text.get(i + 1..i + 6) == Some(b"u0000") => return true,
            // An escaped character (e.g. `\\`) cannot start an escape of its own.
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::contains_nul;

    #[test]
    fn nul_is_found_in_every_encoding_and_only_there() {
        assert!(contains_nul(b"{\"text\":\"a\\u0000b\"}", false));
        assert!(contains_nul(b"Body=a%00b", true));
        assert!(contains_nul(b"raw\0byte", false));
        assert!(!contains_nul(b"{\"text\":\"a\\\\u0000b\"}", false), "an escaped backslash then u0000 is text");
        assert!(!contains_nul(b"{\"text\":\"a 100%00 discount \\u00e9\"}", false), "JSON is not percent-encoded");
        assert!(!contains_nul(b"Body=50%25", true));
    }
}
