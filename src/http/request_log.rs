//! One span and one access-log line per request, with a request id taken from `X-Request-Id` (when it
//! is a sane token) or generated, and echoed back in the response. The line carries the method, the
//! path **without its query string** (where `?token=` and `visitor_token=` travel), the status and the
//! time; handlers that know the tenant record `license` on the span.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: runs the request inside its span and logs it once answered.
pub async fn trace_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_id(v))
        .map_or_else(crate::domain::new_id, str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        license = tracing::field::Empty,
    );
    let started = Instant::now();
    let answered = next.call(req).instrument(span.clone()).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match answered {
        Ok(mut response) => {
            let status = response.status().as_u16();
            span.in_scope(|| tracing::info!(target: "switchboard::http", status, elapsed_ms, "answered"));
            let class = crate::telemetry::status_class(status);
            metrics::counter!(crate::telemetry::HTTP_REQUESTS, "status" => class).increment(1);
            metrics::histogram!(crate::telemetry::HTTP_SECONDS, "status" => class).record(elapsed_ms / 1000.0);
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            Ok(response)
        }
        Err(err) => {
            span.in_scope(|| tracing::info!(target: "switchboard::http", error = %err, elapsed_ms, "failed"));
            Err(err)
        }
    }
}

/// Records the tenant on the current request's span.
pub fn record_license(license: &crate::domain::LicenseKey) {
    tracing::Span::current().record("license", tracing::field::display(license));
}

/// Ids from clients are echoed into logs and headers: short, printable, no separators.
fn is_sane_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_ids_are_taken_from_clients() {
        assert!(super::is_sane_id("3f2a-01:x_y.z"));
        assert!(!super::is_sane_id(""));
        assert!(!super::is_sane_id("a b"));
        assert!(!super::is_sane_id("a\nlog-injection"));
        assert!(!super::is_sane_id(&"x".repeat(200)));
    }
}
