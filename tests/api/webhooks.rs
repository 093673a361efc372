//! Outgoing tenant webhooks, end to end: endpoints managed over the API, events signed and delivered to a
//! real receiver on 127.0.0.1, in order per conversation, retried on 5xx and not on 4xx, logged, redelivered,
//! rotated with an overlap, disabled after repeated failures; strict URLs refuse http and loopback.

use crate::helpers::*;
use crate::receiver::{verifies, Answer, Receiver};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const ALL_EVENTS: [&str; 5] =
    ["chat_opened", "chat_closed", "message_created", "conversation_assigned", "delivery_updated"];

impl TestApp {
    /// Creates an endpoint for `url` subscribed to `events`; returns it with its secret.
    pub async fn webhook_endpoint(&self, tenant: &Tenant, url: &str, events: &[&str]) -> Value {
        let body = json!({ "url": url, "events": events, "description": "test receiver" });
        expect_status(self.post_as("/api/webhook-endpoints", &tenant.token, &body).await, StatusCode::CREATED).await
    }

    pub async fn patch_as(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client.patch(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// A visitor opens a chat and writes `text`; returns the socket and the conversation id.
async fn visitor_writes(app: &TestApp, key: &str, text: &str) -> (Socket, String) {
    let mut visitor = app.widget(key, None).await;
    visitor.recv_type("welcome").await;
    let context =
        json!({ "type": "context", "metadata": { "utm_source": "facebook", "page_url": "https://shop.example/x" } });
    visitor.send_json(&context).await;
    visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": "c1" })).await;
    let ack = visitor.recv_type("ack").await;
    (visitor, ack["conversation_id"].as_str().expect("conversation id").to_owned())
}

async fn signed_events_arrive_in_order_and_notes_never_leave(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let endpoint = app.webhook_endpoint(&tenant, &receiver.url, &ALL_EVENTS).await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));

    let (_visitor, conversation) = visitor_writes(&app, &key, "hello").await;
    let path = format!("/api/conversations/{conversation}/messages");
    expect_status(
        app.post_as(&path, &tenant.token, &json!({ "text": "secret note", "private": true })).await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "how can I help?" })).await, StatusCode::CREATED)
        .await;
    let assign =
        app.client.put(app.url(&format!("/api/conversations/{conversation}/assignee"))).bearer_auth(&tenant.token);
    assert!(assign.json(&json!({ "assignee_id": "me" })).send().await.expect("sent").status().is_success());
    expect_status(
        app.post_as(&format!("/api/conversations/{conversation}/close"), &tenant.token, &json!({})).await,
        StatusCode::OK,
    )
    .await;

    let received = receiver.wait_for(WAIT, |r| r.iter().any(|r| r.event == "chat_closed")).await;
    let events: Vec<&str> = received.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["chat_opened", "message_created", "message_created", "conversation_assigned", "chat_closed"]);
    assert!(received.iter().all(|r| !r.body.contains("secret note")), "private notes never leave");
    for request in &received {
        assert!(verifies(&request.signature, &secret, &request.body), "signature: {}", request.signature);
        assert!(!verifies(&request.signature, "whsec_wrong", &request.body));
        assert_eq!(request.json["event"], request.event);
        assert!(request.json["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
        assert_eq!(request.json["sessionId"], conversation);
        assert_eq!(request.json["siteId"], key);
    }
    let first = &received[0].json;
    assert_eq!(first["utm"], json!({ "source": "facebook" }));
    assert_eq!(first["page"]["url"], "https://shop.example/x");
    assert!(first["visitor"]["id"].as_str().is_some_and(|v| v.starts_with("v_")));
    assert!(first["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(received[1].json["data"]["message"]["sender"], "visitor");
    assert_eq!(received[2].json["data"]["message"]["text"], "how can I help?");
}

async fn failures_are_retried_but_client_errors_are_not(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let flaky = Receiver::start(Answer::FailFirst(2)).await;
    let refusing = Receiver::start(Answer::Status(400)).await;
    let retried = app.webhook_endpoint(&tenant, &flaky.url, &["message_created"]).await;
    let refused = app.webhook_endpoint(&tenant, &refusing.url, &["message_created"]).await;
    for endpoint in [&retried, &refused] {
        let path = format!("/api/webhook-endpoints/{}/test", id(endpoint));
        expect_status(app.post_as(&path, &tenant.token, &json!({})).await, StatusCode::ACCEPTED).await;
    }
    let got = flaky.wait_for(WAIT, |r| r.iter().any(|r| r.answered == 200)).await;
    assert_eq!(got.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 200]);
    assert!(
        got.windows(2).all(|w| w[0].delivery == w[1].delivery && w[0].json["id"] == w[1].json["id"]),
        "same delivery, same event id"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(refusing.received().len(), 1, "a 400 is not retried");

    let log_of = |endpoint: &Value| format!("/api/webhook-endpoints/{}/deliveries", id(endpoint));
    let log = expect_status(app.get_as(&log_of(&retried), &tenant.token).await, StatusCode::OK).await;
    let delivery = &log["deliveries"][0];
    assert_eq!(
        (&delivery["status"], &delivery["attempts"], &delivery["event"]),
        (&json!("succeeded"), &json!(3), &json!("test"))
    );
    let attempts = delivery["attempt_log"].as_array().expect("attempts");
    assert_eq!(
        attempts.iter().map(|a| a["status_code"].clone()).collect::<Vec<_>>(),
        [json!(500), json!(500), json!(200)]
    );
    assert_eq!(attempts[0]["response_excerpt"], "answered 500");
    assert!(attempts.iter().all(|a| a["latency_ms"].as_i64().is_some()));
    let log = expect_status(app.get_as(&log_of(&refused), &tenant.token).await, StatusCode::OK).await;
    assert_eq!(
        (&log["deliveries"][0]["status"], &log["deliveries"][0]["last_status_code"]),
        (&json!("failed"), &json!(400))
    );

    // Redelivery: the same delivery and event id again, now answered 200.
    refusing.answer(Answer::Status(200));
    let delivery_id = log["deliveries"][0]["id"].as_str().expect("delivery id");
    let path = format!("{}/{delivery_id}/redeliver", log_of(&refused));
    expect_status(app.post_as(&path, &tenant.token, &json!({})).await, StatusCode::ACCEPTED).await;
    let again = refusing.wait_for(WAIT, |r| r.len() == 2).await;
    assert_eq!((&again[0].delivery, &again[0].json["id"]), (&again[1].delivery, &again[1].json["id"]));
    let missing = format!("{}/{}/redeliver", log_of(&refused), "0".repeat(32));
    expect_error(app.post_as(&missing, &tenant.token, &json!({})).await, StatusCode::NOT_FOUND, "not_found").await;

    // Paging: one per page, the cursor leads to the next.
    let page =
        expect_status(app.get_as(&format!("{}?limit=1", log_of(&retried)), &tenant.token).await, StatusCode::OK).await;
    let cursor = page["next_cursor"].as_str().expect("a full page has a cursor");
    let next = app.get_as(&format!("{}?limit=1&cursor={cursor}", log_of(&retried)), &tenant.token).await;
    assert_eq!(expect_status(next, StatusCode::OK).await["deliveries"], json!([]));
}

/// Creates an endpoint, rotates its secret and sends a test event: the event is signed with both the
/// new and the old secret. Returns the endpoint's path and the new secret.
async fn rotate_and_send_a_test_event(app: &TestApp, tenant: &Tenant) -> (String, String) {
    let receiver = Receiver::start(Answer::Status(204)).await;
    let endpoint = app.webhook_endpoint(tenant, &receiver.url, &["chat_opened"]).await;
    let old = endpoint["secret"].as_str().expect("secret").to_owned();
    let path = format!("/api/webhook-endpoints/{}", id(&endpoint));
    let rotated =
        expect_status(app.post_as(&format!("{path}/rotate-secret"), &tenant.token, &json!({})).await, StatusCode::OK)
            .await;
    let new = rotated["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(old, new);
    assert!(rotated["previous_secret_expires_at"].as_i64().is_some());
    expect_status(app.post_as(&format!("{path}/test"), &tenant.token, &json!({})).await, StatusCode::ACCEPTED).await;
    let got = receiver.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(got[0].signature.matches("v1=").count(), 2, "{}", got[0].signature);
    assert!(verifies(&got[0].signature, &new, &got[0].body) && verifies(&got[0].signature, &old, &got[0].body));
    (path, new)
}

async fn rotation_signs_with_both_secrets_during_the_overlap(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let (path, new) = rotate_and_send_a_test_event(&app, &tenant).await;
    let shown = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    assert!(shown.get("secret").is_none() && !shown.to_string().contains(&new), "never shown again");
}

async fn endpoints_are_managed_by_admins_and_keys_and_audited(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let other = app.new_tenant(&["chatbot"]).await;
    let endpoint = app.webhook_endpoint(&tenant, "http://127.0.0.1:9/hook", &["chat_opened"]).await;
    let path = format!("/api/webhook-endpoints/{}", id(&endpoint));
    expect_error(app.get_as(&path, &other.token).await, StatusCode::NOT_FOUND, "not_found").await;
    let changed = app
        .patch_as(&path, &tenant.token, &json!({ "events": ["chat_closed", "message_created"], "enabled": false }))
        .await;
    let changed = expect_status(changed, StatusCode::OK).await;
    assert_eq!((&changed["events"], &changed["enabled"]), (&json!(["chat_closed", "message_created"]), &json!(false)));
    for bad in [
        json!({ "url": "ftp://x", "events": ["chat_opened"] }),
        json!({ "url": "http://x", "events": [] }),
        json!({ "url": "http://x", "events": ["test"] }),
        json!({ "url": "http://x", "events": ["nope"] }),
    ] {
        let status = app.post_as("/api/webhook-endpoints", &tenant.token, &bad).await.status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let reader = app.api_key(&tenant, &["usage:read"]).await;
    let reader = reader["secret"].as_str().expect("secret");
    expect_error(app.get_with_key("/api/webhook-endpoints", reader).await, StatusCode::FORBIDDEN, "insufficient_scope")
        .await;
    let manager = app.api_key(&tenant, &["webhooks:manage"]).await;
    let manager = manager["secret"].as_str().expect("secret");
    let listed = expect_status(app.get_with_key("/api/webhook-endpoints", manager).await, StatusCode::OK).await;
    assert_eq!(listed["webhook_endpoints"].as_array().map(Vec::len), Some(1));
    let by_key = app
        .post_with_key(
            "/api/webhook-endpoints",
            manager,
            &json!({ "url": "http://127.0.0.1:9/b", "events": ["chat_opened"] }),
        )
        .await;
    let by_key = expect_status(by_key, StatusCode::CREATED).await;
    let rotate = format!("/api/webhook-endpoints/{}/rotate-secret", id(&by_key));
    expect_status(app.post_with_key(&rotate, manager, &json!({})).await, StatusCode::OK).await;
    assert_eq!(app.delete_as(&path, &tenant.token).await.status(), StatusCode::NO_CONTENT);
    expect_error(app.get_as(&path, &tenant.token).await, StatusCode::NOT_FOUND, "not_found").await;

    let logs =
        expect_status(app.get_as("/api/security/audit-logs?limit=50", &tenant.token).await, StatusCode::OK).await;
    let actions: Vec<(String, String)> = logs["audit_logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["actor_kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .filter(|(action, _)| action.starts_with("webhook_endpoint."))
        .collect();
    for expected in [
        ("webhook_endpoint.created", "user"),
        ("webhook_endpoint.updated", "user"),
        ("webhook_endpoint.created", "api_key"),
        ("webhook_endpoint.secret_rotated", "api_key"),
        ("webhook_endpoint.deleted", "user"),
    ] {
        assert!(actions.iter().any(|(a, k)| a == expected.0 && k == expected.1), "{expected:?} in {actions:?}");
    }
}

async fn a_failing_endpoint_is_disabled_and_its_admins_told(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let mut config = test_config(database_url, backend);
    config.webhooks.webhook_disable_after_failures = 3;
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let receiver = Receiver::start(Answer::Status(503)).await;
    let endpoint = app.webhook_endpoint(&tenant, &receiver.url, &["chat_opened"]).await;
    let path = format!("/api/webhook-endpoints/{}", id(&endpoint));
    expect_status(app.post_as(&format!("{path}/test"), &tenant.token, &json!({})).await, StatusCode::ACCEPTED).await;
    let note =
        crate::team::dashboard_event(&mut dashboard, "notification:new", |d| d["kind"] == "webhook_disabled").await;
    assert!(note["body"].as_str().is_some_and(|b| b.contains(&receiver.url)), "{note}");
    let shown = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    assert_eq!(shown["enabled"], false);
    assert!(shown["disabled_reason"].as_str().is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "nothing more goes to a disabled endpoint");
    let logs = expect_status(
        app.get_as("/api/security/audit-logs?action=webhook_endpoint.disabled", &tenant.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(logs["audit_logs"][0]["actor_kind"], "system");
    // Turning it back on forgets the streak.
    let on = expect_status(app.patch_as(&path, &tenant.token, &json!({ "enabled": true })).await, StatusCode::OK).await;
    assert_eq!((&on["enabled"], &on["failure_streak"]), (&json!(true), &json!(0)));
}

async fn strict_urls_refuse_http_and_inner_addresses(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let mut config = test_config(database_url, backend);
    config.webhooks.webhook_strict_urls = Some(true);
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://[::1]/hook",
        "https://10.0.0.8/hook",
    ] {
        let body = json!({ "url": url, "events": ["chat_opened"] });
        let message = expect_error(
            app.post_as("/api/webhook-endpoints", &tenant.token, &body).await,
            StatusCode::BAD_REQUEST,
            "invalid_value",
        )
        .await;
        assert!(message.contains("url"), "{url}: {message}");
    }
}

async fn a_visitor_reopening_and_a_deactivation_are_announced(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let events = ["chat_opened", "chat_closed", "message_created", "conversation_assigned"];
    app.webhook_endpoint(&tenant, &receiver.url, &events).await;
    let member = crate::team::add_member(&app, &tenant.token, "member").await;
    let (mut visitor, conversation) = visitor_writes(&app, &key, "hello").await;
    let assignee = format!("/api/conversations/{conversation}/assignee");
    let assign = app.client.put(app.url(&assignee)).bearer_auth(&member.token).json(&json!({ "assignee_id": "me" }));
    assert!(assign.send().await.expect("sent").status().is_success());
    let close = format!("/api/conversations/{conversation}/close");
    expect_status(app.post_as(&close, &tenant.token, &json!({})).await, StatusCode::OK).await;
    visitor.recv_type("status").await;
    visitor.send_json(&json!({ "type": "message", "text": "one more thing", "client_msg_id": "c2" })).await;
    visitor.recv_type("ack").await;
    let path = format!("/api/team/members/{}", member.id);
    expect_status(app.delete_as(&path, &tenant.token).await, StatusCode::NO_CONTENT).await;

    let received = receiver.wait_for(WAIT, |r| r.len() == 7).await;
    let seen: Vec<&str> = received.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        seen,
        [
            "chat_opened",
            "message_created",
            "conversation_assigned",
            "chat_closed",
            "chat_opened",
            "message_created",
            "conversation_assigned"
        ]
    );
    assert_eq!(received[4].json["data"], json!({ "reopened": true, "by": "visitor" }));
    assert_eq!(received[6].json["data"], json!({ "assignee_id": null, "reason": "member_deactivated" }));
    assert_eq!(received[2].json["data"]["assignee_id"], member.id.as_str());
}

/// With SECRETS_KEY, signing secrets are stored sealed (a dump of the table cannot sign), and events are
/// still signed with them, the rotated-out one included.
async fn secrets_are_sealed_at_rest_with_a_key(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let mut config = test_config(database_url.clone(), backend);
    config.secrets_key = Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into());
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    rotate_and_send_a_test_event(&app, &tenant).await;

    use sqlx::Connection;
    let sql = "SELECT secret, previous_secret FROM webhook_endpoints";
    let stored: Vec<(String, Option<String>)> = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&database_url).await.expect("sqlite");
            sqlx::query_as(sql).fetch_all(&mut conn).await.expect("rows")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database_url).await.expect("postgres");
            sqlx::query_as(sql).fetch_all(&mut conn).await.expect("rows")
        }
    };
    let (secret, previous) = stored.first().cloned().expect("one endpoint");
    let previous = previous.expect("the rotated-out secret");
    for value in [&secret, &previous] {
        assert!(value.starts_with("sealed:") && !value.contains("whsec_"), "stored in the clear: {value}");
    }
}

/// Strict mode is checked again at send time: an http endpoint saved while it was off (here by another
/// node of the same store, whose worker is idle) is refused when strict mode sends it, and nothing
/// reaches the receiver.
async fn strict_mode_refuses_at_send_time_what_was_saved_before(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let mut lax = test_config(database_url.clone(), backend);
    lax.webhooks.webhook_poll_ms = 3_600_000;
    let lax = spawn_with(lax).await;
    let tenant = lax.new_tenant(&["chatbot"]).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let body = json!({ "url": receiver.url, "events": ["chat_opened"], "enabled": false });
    let endpoint =
        expect_status(lax.post_as("/api/webhook-endpoints", &tenant.token, &body).await, StatusCode::CREATED).await;

    let mut strict = test_config(database_url, backend);
    strict.webhooks.webhook_strict_urls = Some(true);
    let strict = spawn_with(strict).await;
    let path = format!("/api/webhook-endpoints/{}", id(&endpoint));
    expect_status(strict.patch_as(&path, &tenant.token, &json!({ "enabled": true })).await, StatusCode::OK).await;
    expect_status(strict.post_as(&format!("{path}/test"), &tenant.token, &json!({})).await, StatusCode::ACCEPTED).await;
    let delivery = eventually(WAIT, async || {
        let log =
            expect_status(strict.get_as(&format!("{path}/deliveries"), &tenant.token).await, StatusCode::OK).await;
        match log["deliveries"][0]["status"] == "failed" {
            true => Ok(log["deliveries"][0].clone()),
            false => Err(format!("still not refused: {log}")),
        }
    })
    .await;
    assert!(delivery["last_error"].as_str().is_some_and(|e| e.contains("WEBHOOK_STRICT_URLS")), "{delivery}");
    assert!(receiver.received().is_empty(), "nothing was sent to the inner address");
}

/// Several endpoints, several conversations, license-wide events between them, and a receiver that fails
/// its first requests: each endpoint gets every event, each conversation's in order (a failing first
/// event holds its conversation back, not the others nor the other endpoint).
async fn every_endpoint_gets_each_conversation_in_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let receivers = [Receiver::start(Answer::Status(200)).await, Receiver::start(Answer::FailFirst(3)).await];
    let mut endpoints = Vec::new();
    for receiver in &receivers {
        endpoints.push(app.webhook_endpoint(&tenant, &receiver.url, &["chat_opened", "message_created"]).await);
    }
    let mut visitors = Vec::new();
    for n in 0..3 {
        let (visitor, conversation) = visitor_writes(&app, &key, &format!("hello {n}")).await;
        visitors.push(visitor);
        for endpoint in &endpoints {
            let path = format!("/api/webhook-endpoints/{}/test", id(endpoint));
            expect_status(app.post_as(&path, &tenant.token, &json!({})).await, StatusCode::ACCEPTED).await;
        }
        let path = format!("/api/conversations/{conversation}/messages");
        for reply in 0..4 {
            let body = json!({ "text": format!("reply {reply}") });
            expect_status(app.post_as(&path, &tenant.token, &body).await, StatusCode::CREATED).await;
        }
    }
    // Per conversation: chat_opened, the visitor's message, 4 replies; and 3 test events.
    let expected = 3 * 6 + 3;
    for receiver in &receivers {
        let received = receiver.wait_for(WAIT, |r| r.iter().filter(|r| r.answered == 200).count() >= expected).await;
        let accepted: Vec<&Value> = received.iter().filter(|r| r.answered == 200).map(|r| &r.json).collect();
        assert_eq!(accepted.len(), expected, "each event once");
        assert_eq!(accepted.iter().filter(|e| e["event"] == "test").count(), 3);
        let mut last_seq: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for event in accepted.iter().filter(|e| e["event"] != "test") {
            let conversation = event["sessionId"].as_str().expect("session").to_owned();
            let seq = event["data"]["message"]["seq"].as_i64().unwrap_or(0);
            let previous = last_seq.insert(conversation.clone(), seq);
            assert!(previous.is_none_or(|p| p < seq), "conversation {conversation}: {seq} after {previous:?}");
        }
        assert_eq!(last_seq.len(), 3);
    }
}

crate::on_both_stores!(
    signed_events_arrive_in_order_and_notes_never_leave,
    every_endpoint_gets_each_conversation_in_order,
    failures_are_retried_but_client_errors_are_not,
    rotation_signs_with_both_secrets_during_the_overlap,
    endpoints_are_managed_by_admins_and_keys_and_audited,
    a_failing_endpoint_is_disabled_and_its_admins_told,
    strict_urls_refuse_http_and_inner_addresses,
    a_visitor_reopening_and_a_deactivation_are_announced,
    secrets_are_sealed_at_rest_with_a_key,
    strict_mode_refuses_at_send_time_what_was_saved_before,
);
