//! The one place daily allowances are enforced: a middleware on `/api` that resolves the caller once
//! (dashboard token or API key), refuses a burst beyond the license's per-second rate (`429 rate_limited`,
//! `Retry-After: 1`), counts the call against the license's UTC day, refuses it past the
//! tier's allowance (`429 daily_limit_exceeded`, `Retry-After`) and puts `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds) on every authenticated answer.
//!
//! Not counted: the anonymous entry points (login, register), the operator's admin API, provider
//! webhooks, and reading one's own usage (`/api/usage*`, which still carries the headers: checking the
//! allowance must not spend it, nor be refused once it is spent). A request whose credentials do not
//! verify passes through uncounted, so its handler answers `401` as usual. Unlimited tiers get no headers.

use super::caller::{authenticate, Caller};
use super::ApiError;
use crate::bus::{Event, Notification};
use crate::domain::{LicenseKey, NotificationKind, WebhookEvent};
use crate::state::AppState;
use crate::usage::Quota;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use serde_json::json;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Paths no tenant credential authenticates: nothing to count them against.
fn is_metered(path: &str) -> bool {
    !matches!(path, "/api/auth/login" | "/api/auth/register" | "/api/team/invitations/accept")
        && !path.starts_with("/api/admin/")
        && !path.starts_with("/api/webhooks/")
}

/// Reading one's usage is answered with the headers but neither counted nor refused.
fn is_usage_read(path: &str) -> bool {
    path == "/api/usage" || path.starts_with("/api/usage/")
}

/// Middleware: counts and limits authenticated API calls (see the module docs).
pub async fn meter_usage(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(state), true) = (state, is_metered(&path)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Ok(caller) = authenticate(req.request(), &state).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    super::record_license(caller.license());
    if !state.limits.allow_api_call(caller.license()) {
        let refusal = ApiError::TooManyRequests {
            code: "rate_limited",
            message: "too many API calls per second for this license (API_RATE_PER_SECOND); slow down".into(),
            retry_after: 1,
        };
        return Ok(req.into_response(refusal.error_response()).map_into_boxed_body());
    }
    let quota = if is_usage_read(&path) {
        state.usage.quota(caller.license(), caller.known_tier()).await
    } else {
        state.usage.count(caller.license(), caller.known_tier()).await
    };
    let caller_license = caller.license().clone();
    req.extensions_mut().insert::<Caller>(caller);
    let quota = match quota {
        Ok(quota) => quota,
        Err(err) => {
            // The allowance cannot be read: serve the call (the handler meets the same store) uncounted.
            tracing::warn!(error = %err, "usage meter unavailable; call not counted");
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
    };
    if quota.exceeded() && !is_usage_read(&path) {
        let refusal = ApiError::TooManyRequests {
            code: "daily_limit_exceeded",
            message: format!(
                "this license has used its {} API calls for {} (UTC); the allowance resets at midnight UTC",
                quota.limit.unwrap_or_default(),
                quota.date
            ),
            retry_after: seconds_until_reset(&quota),
        };
        metrics::counter!(crate::telemetry::RATE_LIMITED, "limit" => "daily").increment(1);
        let mut response = refusal.error_response();
        put_headers(response.headers_mut(), &quota);
        return Ok(req.into_response(response).map_into_boxed_body());
    }
    if !is_usage_read(&path) {
        announce_alerts(&state, caller_license, &quota);
    }
    let mut response = next.call(req).await?;
    put_headers(response.headers_mut(), &quota);
    Ok(response.map_into_boxed_body())
}

/// Tells the team (`notification:new` `usage_warning`) and the license's webhooks (`usage_alert`) that
/// this call reached an alert threshold (`USAGE_ALERT_PERCENTS`), in the background.
fn announce_alerts(state: &web::Data<AppState>, license: LicenseKey, quota: &Quota) {
    let crossed = quota.crossed(&state.usage.policy().alert_percents);
    if crossed.is_empty() {
        return;
    }
    let (state, quota) = (state.clone(), quota.clone());
    actix_web::rt::spawn(async move {
        for percent in crossed {
            let limit = quota.limit.unwrap_or_default();
            let data = json!({ "percent": percent, "calls": quota.calls, "limit": limit, "date": quota.date });
            if let Err(err) = state.store.announce_license_event(&license, WebhookEvent::UsageAlert, data).await {
                tracing::warn!(%err, "could not write a usage_alert webhook event");
            }
            let notification = Notification {
                kind: NotificationKind::UsageWarning,
                title: "API usage alert".into(),
                body: format!("{} of {limit} API calls used today ({percent} % of your plan)", quota.calls),
                conversation_id: None,
                recipient: None,
                at: crate::domain::now_millis(),
            };
            state.bus.publish(&license, Event::Notification(notification));
        }
    });
}

fn seconds_until_reset(quota: &Quota) -> u64 {
    let ms = quota.reset_at - crate::domain::now_millis();
    u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000).max(1)
}

fn put_headers(headers: &mut HeaderMap, quota: &Quota) {
    let (Some(limit), Some(remaining)) = (quota.limit, quota.remaining) else { return };
    for (name, value) in [(LIMIT, limit), (REMAINING, remaining), (RESET, quota.reset_at / 1000)] {
        headers.insert(name, HeaderValue::from(value));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_tenant_credentials_are_metered() {
        for free in ["/api/auth/login", "/api/auth/register", "/api/admin/licenses", "/api/webhooks/messenger"] {
            assert!(!super::is_metered(free), "{free}");
        }
        for metered in ["/api/auth/me", "/api/conversations/x", "/api/usage", "/api/security/api-keys"] {
            assert!(super::is_metered(metered), "{metered}");
        }
        assert!(super::is_usage_read("/api/usage/history") && !super::is_usage_read("/api/usage-x"));
    }
}
