//! `/api/usage*`: where the license stands against its daily API allowance, its history per day, the
//! tier table, and the alert thresholds reached. For the owner's dashboard, or an API key with
//! `usage:read`. Reading usage is not itself counted (see `metering.rs`).

use super::{ApiError, Caller};
use crate::domain::{now_millis, Permission, Scope, Tier};
use crate::state::AppState;
use crate::store::DailyUsage;
use crate::usage::utc_date;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

const DAY_MS: i64 = 24 * 3600 * 1000;
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 90;

/// Mounts the usage routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/usage", web::get().to(today))
        .route("/usage/history", web::get().to(history))
        .route("/usage/limits", web::get().to(limits))
        .route("/usage/alerts", web::get().to(alerts));
}

#[utoipa::path(
    get,
    path = "/api/usage",
    tag = "usage",
    responses((status = 200, description = "today's calls (UTC), the tier's limit, what remains and when it resets", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn today(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageSettings, Scope::UsageRead)?;
    Ok(HttpResponse::Ok().json(state.usage.quota(caller.license(), caller.known_tier()).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// How many days back, today included.
    #[param(minimum = 1, maximum = 90)]
    days: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/usage/history",
    tag = "usage",
    params(HistoryQuery),
    responses((status = 200, description = "calls per UTC day, newest first (days without calls are left out)", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageSettings, Scope::UsageRead)?;
    let days = match query.days {
        None => DEFAULT_DAYS,
        Some(n) if (1..=MAX_DAYS).contains(&n) => n,
        Some(_) => return Err(ApiError::bad_request("invalid_query", format!("days must be 1 to {MAX_DAYS}"))),
    };
    let now = now_millis();
    let from = utc_date(now - (days - 1) * DAY_MS);
    let mut stored = state.store.usage_history(caller.license(), &from, &utc_date(now)).await?;
    // Today's live count is ahead of the last flush.
    let live = state.usage.quota(caller.license(), caller.known_tier()).await?;
    match stored.first_mut() {
        Some(day) if day.date == live.date => day.calls = day.calls.max(live.calls),
        _ if live.calls > 0 => stored.insert(0, DailyUsage { date: live.date, calls: live.calls }),
        _ => {}
    }
    Ok(HttpResponse::Ok().json(json!({ "days": stored })))
}

#[utoipa::path(
    get,
    path = "/api/usage/limits",
    tag = "usage",
    responses((status = 200, description = "the daily call allowance of every tier (null: unlimited), and this license's tier", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn limits(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageSettings, Scope::UsageRead)?;
    let policy = state.usage.policy();
    let tier = state.usage.tier(caller.license(), caller.known_tier()).await?;
    let tiers: Vec<_> = Tier::ALL.iter().map(|t| json!({ "tier": t, "daily_calls": policy.daily_limit(*t) })).collect();
    Ok(HttpResponse::Ok().json(json!({ "tier": tier, "daily_calls": policy.daily_limit(tier), "tiers": tiers })))
}

#[utoipa::path(
    get,
    path = "/api/usage/alerts",
    tag = "usage",
    responses((status = 200, description = "today's alert thresholds (percent of the allowance) and whether each is reached", body = serde_json::Value)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn alerts(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageSettings, Scope::UsageRead)?;
    let quota = state.usage.quota(caller.license(), caller.known_tier()).await?;
    let thresholds: Vec<_> = state
        .usage
        .policy()
        .alert_percents
        .iter()
        .map(|percent| {
            // The call count at which this threshold is reached; unlimited tiers have none.
            let at = quota.threshold(*percent);
            json!({ "percent": percent, "calls": at, "reached": at.is_some_and(|at| quota.calls >= at) })
        })
        .collect();
    let reached = thresholds.iter().filter(|t| t["reached"] == true).count();
    Ok(HttpResponse::Ok().json(json!({
        "date": quota.date,
        "calls": quota.calls,
        "limit": quota.limit,
        "thresholds": thresholds,
        "reached": reached,
    })))
}
