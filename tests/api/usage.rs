//! Daily API allowances: every authenticated call counts against its license's UTC day (across nodes),
//! answers carry the X-RateLimit headers, and a tier's allowance ends in 429 until midnight UTC.

use crate::cluster::Cluster;
use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::json;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn header(response: &Response, name: &str) -> Option<i64> {
    response.headers().get(name).map(|v| v.to_str().expect("ascii").parse().expect("a number"))
}

/// (limit, remaining, reset) of an answer.
fn rate_headers(response: &Response) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        header(response, "x-ratelimit-limit"),
        header(response, "x-ratelimit-remaining"),
        header(response, "x-ratelimit-reset"),
    )
}

fn next_midnight_seconds() -> i64 {
    (switchboard::domain::now_millis() / DAY_MS + 1) * DAY_MS / 1000
}

/// A server whose free tier allows `free` calls a day.
async fn app_with_free_limit(backend: Backend, free: u64) -> Option<TestApp> {
    let database_url = fresh_database(backend).await?;
    let mut config = test_config(database_url, backend);
    config.usage.usage_limit_free = free;
    Some(spawn_with(config).await)
}

async fn answers_carry_the_allowance_and_it_decreases(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = app.get_as("/api/auth/me", &tenant.token).await;
        let (limit, left, reset) = rate_headers(&response);
        assert_eq!(limit, Some(100_000), "pro tier");
        assert_eq!(reset, Some(next_midnight_seconds()));
        remaining.push(left.expect("remaining"));
    }
    assert_eq!(remaining, vec![99_999, 99_998, 99_997], "login and register are not counted");
    // Errors of authenticated calls carry them too; anonymous answers do not.
    let missing = app.get_as("/api/conversations/00000000000000000000000000000000", &tenant.token).await;
    assert_eq!((missing.status(), rate_headers(&missing).1), (StatusCode::NOT_FOUND, Some(99_996)));
    let anonymous = reqwest::get(app.url("/api/auth/me")).await.expect("sent");
    assert_eq!(rate_headers(&anonymous), (None, None, None));
    // Reading one's usage is not counted, and says the same.
    let usage = app.get_as("/api/usage", &tenant.token).await;
    assert_eq!(rate_headers(&usage).1, Some(99_996));
    let usage = expect_status(usage, StatusCode::OK).await;
    assert_eq!(
        (&usage["calls"], &usage["limit"], &usage["remaining"], &usage["tier"]),
        (&json!(4), &json!(100_000), &json!(99_996), &json!("pro"))
    );
    assert_eq!(usage["reset_at"], next_midnight_seconds() * 1000);

    let limits = expect_status(app.get_as("/api/usage/limits", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(limits["tier"], "pro");
    assert_eq!(
        limits["tiers"],
        json!([
            { "tier": "free", "daily_calls": 1000 }, { "tier": "basic", "daily_calls": 10000 },
            { "tier": "pro", "daily_calls": 100000 }, { "tier": "enterprise", "daily_calls": null },
        ])
    );
    let history = expect_status(app.get_as("/api/usage/history?days=7", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(history["days"], json!([{ "date": usage["date"], "calls": 4 }]));
    expect_error(
        app.get_as("/api/usage/history?days=0", &tenant.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    // Unlimited tiers count but carry no allowance.
    let enterprise = app.new_tenant_on_tier(&["chatbot"], "enterprise").await;
    let response = app.get_as("/api/auth/me", &enterprise.token).await;
    assert_eq!(rate_headers(&response), (None, None, None));
    let usage = expect_status(app.get_as("/api/usage", &enterprise.token).await, StatusCode::OK).await;
    assert_eq!((&usage["calls"], &usage["limit"], &usage["remaining"]), (&json!(1), &json!(null), &json!(null)));
}

async fn a_free_license_is_refused_past_its_allowance(backend: Backend) {
    let Some(app) = app_with_free_limit(backend, 5).await else { return };
    let free = app.new_tenant_on_tier(&["chatbot"], "free").await;
    let other = app.new_tenant(&["chatbot"]).await;
    let key =
        app.api_key(&free, &["conversations:read", "usage:read"]).await["secret"].as_str().expect("secret").to_owned();
    for call in 2..=5 {
        // The key's creation was the first call; the key and the token share the license's allowance.
        let response = if call % 2 == 0 {
            app.get_with_key("/api/products/chatbot/conversations", &key).await
        } else {
            app.get_as("/api/auth/me", &free.token).await
        };
        assert_eq!(response.status(), StatusCode::OK, "call {call}");
        assert_eq!(rate_headers(&response).1, Some(5 - call));
    }
    for refused in [
        app.get_as("/api/auth/me", &free.token).await,
        app.get_with_key("/api/products/chatbot/conversations", &key).await,
    ] {
        let retry_after = header(&refused, "retry-after").expect("Retry-After");
        assert!((1..=86_400).contains(&retry_after), "{retry_after}");
        assert_eq!(rate_headers(&refused), (Some(5), Some(0), Some(next_midnight_seconds())));
        expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "daily_limit_exceeded").await;
    }
    // The owner can still see why, and the alerts say so.
    let usage = expect_status(app.get_as("/api/usage", &free.token).await, StatusCode::OK).await;
    assert_eq!((&usage["calls"], &usage["remaining"]), (&json!(7), &json!(0)));
    let alerts = expect_status(app.get_with_key("/api/usage/alerts", &key).await, StatusCode::OK).await;
    assert_eq!(
        alerts["thresholds"],
        json!([{ "percent": 80, "calls": 4, "reached": true }, { "percent": 100, "calls": 5, "reached": true }])
    );
    // Other licenses are untouched.
    expect_status(app.get_as("/api/auth/me", &other.token).await, StatusCode::OK).await;
    let alerts = expect_status(app.get_as("/api/usage/alerts", &other.token).await, StatusCode::OK).await;
    assert_eq!(alerts["reached"], 0);
}

async fn counts_reach_the_history_and_survive_a_restart(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let mut config = test_config(database_url, backend);
    config.usage.usage_flush_seconds = 1;
    let first = spawn_with(config.clone()).await;
    let tenant = first.new_tenant(&["chatbot"]).await;
    for _ in 0..3 {
        expect_status(first.get_as("/api/auth/me", &tenant.token).await, StatusCode::OK).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    // A second server on the same store (and, on PostgreSQL, a fresh Redis prefix: an emptied Redis)
    // resumes from the flushed count instead of handing out a fresh allowance.
    config.redis_key_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    config.node_id = Some("second".into());
    let second = spawn_with(config).await;
    let response = second.get_as("/api/auth/me", &tenant.token).await;
    assert_eq!(rate_headers(&response).1, Some(100_000 - 4));
    let history = expect_status(second.get_as("/api/usage/history", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(history["days"][0]["calls"], 4);
}

/// Reaching each alert threshold (80 % and 100 % by default) tells the team once (`notification:new`
/// `usage_warning`) and sends one `usage_alert` webhook event.
async fn alert_thresholds_notify_the_team_and_the_webhooks_once(backend: Backend) {
    let Some(app) = app_with_free_limit(backend, 10).await else { return };
    let free = app.new_tenant_on_tier(&["chatbot"], "free").await;
    let receiver = crate::receiver::Receiver::start(crate::receiver::Answer::Status(200)).await;
    app.webhook_endpoint(&free, &receiver.url, &["usage_alert"]).await; // call 1
    let mut dashboard = app.dashboard_ws(&free.token).await;
    while app.get_as("/api/auth/me", &free.token).await.status() == StatusCode::OK {}
    app.get_as("/api/auth/me", &free.token).await; // refused calls count, but reach no new threshold
    let received = receiver.wait_for(std::time::Duration::from_secs(15), |r| r.len() >= 2).await;
    // Two license-wide events, each sent on its own (no conversation orders them): compared as a set.
    let mut alerts: Vec<(i64, i64)> = received
        .iter()
        .map(|r| (r.json["data"]["percent"].as_i64().unwrap_or(-1), r.json["data"]["calls"].as_i64().unwrap_or(-1)))
        .collect();
    alerts.sort_unstable();
    assert_eq!(alerts, [(80, 8), (100, 10)]);
    assert_eq!(received[0].json["event"], "usage_alert");
    assert_eq!(received[0].json["data"]["limit"], 10);
    let mut percents = Vec::new();
    while percents.len() < 2 {
        let frame = dashboard.recv_json().await;
        if frame["event"] == "notification:new" && frame["data"]["kind"] == "usage_warning" {
            percents.push(frame["data"]["body"].as_str().unwrap_or("").to_owned());
        }
    }
    percents.sort_by_key(|body| body.contains("100 %"));
    assert!(percents[0].contains("80 %") && percents[1].contains("100 %"), "{percents:?}");
    assert_eq!(receiver.received().len(), 2, "each threshold once");
}

crate::on_both_stores!(
    alert_thresholds_notify_the_team_and_the_webhooks_once,
    answers_carry_the_allowance_and_it_decreases,
    a_free_license_is_refused_past_its_allowance,
    counts_reach_the_history_and_survive_a_restart,
);

/// Two nodes count one allowance: calls on either spend it, and the refusal comes on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowance_spans_nodes() {
    let Some(cluster) = Cluster::new().await else { return };
    let limits = [("USAGE_LIMIT_FREE", "6")];
    let (a, b) = (cluster.node("a", &limits).await, cluster.node("b", &limits).await);
    let tenant = a.app.new_tenant_on_tier(&["chatbot"], "free").await;
    let mut remaining = Vec::new();
    for node in [&a, &b, &a, &b, &a, &b] {
        let response = node.app.get_as("/api/auth/me", &tenant.token).await;
        assert_eq!(response.status(), StatusCode::OK);
        remaining.push(rate_headers(&response).1.expect("remaining"));
    }
    assert_eq!(remaining, vec![5, 4, 3, 2, 1, 0]);
    for node in [&a, &b] {
        let refused = node.app.get_as("/api/auth/me", &tenant.token).await;
        expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "daily_limit_exceeded").await;
    }
}
