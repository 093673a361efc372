//! What operators rely on: structured logs that carry request ids and never a secret.

use crate::cluster::{Cluster, CLUSTER_SECRET};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// A full scenario on a real node with JSON logs at debug level for our own code: login, API calls,
/// dashboard socket with `?token=`, widget resume with its visitor token, admin and webhook calls;
/// then no secret appears anywhere in the log, and every request line carries its request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_never_a_secret() {
    let Some(cluster) = Cluster::new().await else { return };
    let node = cluster
        .node(
            "a",
            &[
                ("LOG_FORMAT", "json"),
                ("RUST_LOG", "info,switchboard=debug"),
                ("MESSENGER_APP_SECRET", MESSENGER_SECRET),
                ("MESSENGER_VERIFY_TOKEN", "verify-me"),
            ],
        )
        .await;
    let app = &node.app;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;

    let echoed = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(&tenant.token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("me");
    assert_eq!(echoed.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-me-42"));
    let generated = app.get_as("/api/auth/me", &tenant.token).await;
    assert!(generated.headers().contains_key("x-request-id"), "a request id is generated when none is sent");

    let mut dashboard = app.dashboard_ws(&tenant.token).await; // ?token=<jwt> in the URL
    let mut visitor = app.widget(&key, None).await;
    let token = visitor.recv_type("welcome").await["visitor_token"].as_str().expect("token").to_owned();
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "v1" })).await;
    let ack = visitor.recv_type("ack").await;
    drop(visitor);
    let mut resumed = app.widget(&key, Some((&token, 0))).await;
    resumed.recv_type("welcome").await;
    let path = format!("/api/conversations/{}/messages", ack["conversation_id"].as_str().expect("id"));
    expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "agent here" })).await, StatusCode::CREATED).await;
    dashboard.drain_dashboard().await;
    let wrong = app.login(&tenant.email, "not-the-password-9").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let admin = app.client.get(app.url("/api/admin/licenses")).bearer_auth(ADMIN_TOKEN).send().await.expect("admin");
    assert_eq!(admin.status(), StatusCode::OK);
    let forged = app
        .client
        .post(app.url("/api/webhooks/messenger"))
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", "sha256=00")
        .body(r#"{"object":"page","entry":[]}"#)
        .send()
        .await
        .expect("webhook");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = node.log.lock().expect("log").clone();
    let secrets = [
        ("a dashboard token", tenant.token.as_str()),
        ("a visitor token", token.as_str()),
        ("a password", PASSWORD),
        ("a wrong password", "not-the-password-9"),
        ("the admin token", ADMIN_TOKEN),
        ("the JWT secret", CLUSTER_SECRET),
        ("the Messenger app secret", MESSENGER_SECRET),
    ];
    for line in &log {
        for (what, secret) in secrets {
            assert!(!line.contains(secret), "{what} was logged: {line}");
        }
    }
    let requests: Vec<Value> = log
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["target"] == "switchboard::http")
        .collect();
    assert!(requests.len() >= 10, "{} request lines", requests.len());
    assert!(requests.iter().all(|r| r["span"]["request_id"].is_string()), "every request line has an id");
    let traced = requests.iter().find(|r| r["span"]["request_id"] == "trace-me-42").expect("the client's id is kept");
    assert_eq!(traced["span"]["license"], tenant.license_key.as_str(), "the tenant is on the span");
    assert_eq!(traced["fields"]["status"], 200);
    let socket_line = requests.iter().find(|r| r["span"]["path"] == "/ws/dashboard").expect("the upgrade is logged");
    assert!(!socket_line.to_string().contains("token="), "query strings are not logged: {socket_line}");
}

/// `/metrics` speaks Prometheus text and counts what happened; with `METRICS_TOKEN` it wants the token.
async fn metrics_count_what_happened(backend: Backend) {
    let Some(app) = crate::hardening::spawn_tuned(backend, |c| c.metrics_token = Some("scrape-me".into())).await else {
        return;
    };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "m1" })).await;
    visitor.recv_type("ack").await;
    dashboard.drain_dashboard().await;

    let anonymous = app.client.get(app.url("/metrics")).send().await.expect("scrape");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let scrape = app.client.get(app.url("/metrics")).bearer_auth("scrape-me").send().await.expect("scrape");
    assert_eq!(scrape.status(), StatusCode::OK);
    let text = scrape.text().await.expect("text");
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(value("switchboard_http_requests_total{status=\"2xx\"}") >= 4.0);
    assert!(value("switchboard_http_requests_total{status=\"4xx\"}") >= 1.0);
    assert_eq!(value("switchboard_sockets_open{transport=\"widget\"}"), 1.0);
    assert_eq!(value("switchboard_sockets_open{transport=\"dashboard_ws\"}"), 1.0);
    assert_eq!(value("switchboard_messages_stored_total{channel=\"widget\",sender=\"visitor\"}"), 1.0);
    assert!(value("switchboard_commit_seconds_count") >= 1.0);
    assert!(value("switchboard_deliveries_total{transport=\"dashboard_ws\"}") >= 1.0);
    assert!(!text.contains(&tenant.license_key), "tenant ids are never label values");
}

crate::on_both_stores!(metrics_count_what_happened);
