use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn admin_issues_lists_and_suspends_licenses(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let key = app.create_license("buyer@example.com", &["chatbot"]).await;
    assert!(key.starts_with("INTL-") && key.len() == 19, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'), "{key}");

    let list = app.get_as("/api/admin/licenses", ADMIN_TOKEN).await;
    let list = expect_status(list, StatusCode::OK).await;
    let found = list["licenses"].as_array().expect("licenses").iter().find(|l| l["license_key"] == key.as_str());
    let found = found.expect("new license listed");
    assert_eq!(found["status"], "active");
    assert_eq!(found["tier"], "pro");

    let suspended = app.post_as(&format!("/api/admin/licenses/{key}/suspend"), ADMIN_TOKEN, &json!({})).await;
    assert_eq!(expect_status(suspended, StatusCode::OK).await["status"], "suspended");
    let unknown = app.post_as("/api/admin/licenses/INTL-ZZZZ-ZZZZ-ZZZZ/suspend", ADMIN_TOKEN, &json!({})).await;
    expect_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

async fn admin_api_needs_the_admin_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let body = json!({ "email": "a@example.com", "products": ["chatbot"] });
    let anonymous = app.post_json("/api/admin/licenses", &body).await;
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = app.post_as("/api/admin/licenses", "not-the-token", &body).await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A tenant's own token is not an admin token.
    let tenant = app.new_tenant(&["chatbot"]).await;
    let tenant_try = app.get_as("/api/admin/licenses", &tenant.token).await;
    expect_error(tenant_try, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn admin_api_is_off_without_a_token(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let mut config = test_config(database_url, backend);
    config.admin_token = None;
    let app = spawn_with(config).await;
    let response = app.get_as("/api/admin/licenses", "anything").await;
    expect_error(response, StatusCode::FORBIDDEN, "admin_disabled").await;
}

async fn license_orders_are_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    for (body, code) in [
        (json!({ "email": "bad", "products": ["chatbot"] }), "invalid_value"),
        (json!({ "email": "a@example.com", "products": [] }), "invalid_value"),
        (json!({ "email": "a@example.com", "products": ["flux-capacitor"] }), "invalid_value"),
        (json!({ "email": "a@example.com", "products": ["chatbot"], "tier": "platinum" }), "invalid_value"),
        (json!({ "email": "a@example.com" }), "invalid_json"),
    ] {
        let response = app.post_as("/api/admin/licenses", ADMIN_TOKEN, &body).await;
        expect_error(response, StatusCode::BAD_REQUEST, code).await;
    }
}

/// Polls `/api/admin/stats` until `done` holds (counts follow sockets asynchronously); the last answer.
async fn stats_until(app: &TestApp, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    stats_within(app, std::time::Duration::from_secs(5), done).await
}

/// Polls `/api/admin/stats` until `done` holds or `wait` has passed; the last answer.
pub async fn stats_within(
    app: &TestApp,
    wait: std::time::Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let stats = expect_status(app.get_as("/api/admin/stats", ADMIN_TOKEN).await, StatusCode::OK).await;
        if done(&stats) || std::time::Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn admin_stats_count_this_nodes_sockets_actors_and_messages(backend: Backend) {
    use crate::probe::{clients_available, Client, SioProbe};
    let Some(app) = spawn_app(backend).await else { return };
    expect_error(app.get_as("/api/admin/stats", "not-the-token").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let idle = stats_until(&app, |_| true).await;
    assert_eq!(idle["sockets"], json!({ "widget": 0, "dashboard_ws": 0, "socketio": 0 }), "{idle}");
    assert_eq!(idle["licenses"], json!([]), "{idle}");

    let tenant = app.new_tenant(&["chatbot"]).await;
    let other = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitors = Vec::new();
    for n in 0..2 {
        let mut visitor = app.widget(&key, None).await;
        visitor.recv_type("welcome").await;
        for m in 0..3 {
            visitor.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": format!("{n}-{m}") })).await;
            visitor.recv_type("ack").await;
        }
        visitors.push(visitor);
    }
    let _dashboard = app.dashboard_ws(&tenant.token).await;
    let _other_dashboard = app.dashboard_ws(&other.token).await;
    let sio = if clients_available() {
        Some(
            SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "websocket")
                .await
                .connected()
                .await,
        )
    } else {
        None
    };
    let socketio = usize::from(sio.is_some());
    // A Socket.IO socket counts for its license once the license's bridge has let it into the room
    // (after its replay), a moment after it counts for the node: wait for both.
    let license_sockets = |s: &Value, license: &str| {
        s["licenses"]
            .as_array()
            .and_then(|rows| rows.iter().find(|l| l["license_key"] == license))
            .map(|l| l["sockets"].clone())
    };
    let stats = stats_until(&app, |s| {
        s["sockets"]["widget"] == 2
            && s["sockets"]["dashboard_ws"] == 2
            && s["sockets"]["socketio"] == socketio
            && license_sockets(s, &tenant.license_key)
                == Some(json!({ "widget": 2, "dashboard_ws": 1, "socketio": socketio }))
    })
    .await;
    assert_eq!(stats["sockets"], json!({ "widget": 2, "dashboard_ws": 2, "socketio": socketio }), "{stats}");
    assert_eq!(stats["visitors"], 2, "{stats}");
    assert_eq!(stats["actors"]["conversations"], 2, "{stats}");
    assert_eq!(stats["actors"]["tenants"], 2, "{stats}");
    assert_eq!(stats["messages_last_minute"], 6, "{stats}");
    assert!((stats["messages_per_second"].as_f64().expect("rate") - 0.1).abs() < 1e-9, "{stats}");
    assert_eq!(stats["shutting_down"], false);
    let row = |license: &str| {
        stats["licenses"].as_array().expect("licenses").iter().find(|l| l["license_key"] == license).cloned()
    };
    let mine = row(&tenant.license_key).expect("the tenant's row");
    assert_eq!(mine["open_conversations"], 2, "{mine}");
    assert_eq!(mine["live_conversations"], 2, "{mine}");
    assert_eq!(mine["sockets"], json!({ "widget": 2, "dashboard_ws": 1, "socketio": socketio }), "{mine}");
    let theirs = row(&other.license_key).expect("the other tenant's row");
    assert_eq!(theirs["open_conversations"], 0, "{theirs}");
    assert_eq!(theirs["sockets"], json!({ "widget": 0, "dashboard_ws": 1, "socketio": 0 }), "{theirs}");

    // Closed sockets leave the counts.
    drop(visitors);
    drop(sio);
    let closed = json!({ "widget": 0, "dashboard_ws": 2, "socketio": 0 });
    let after = stats_until(&app, |s| s["sockets"] == closed).await;
    assert_eq!(after["sockets"], closed, "{after}");
}

crate::on_both_stores!(
    admin_stats_count_this_nodes_sockets_actors_and_messages,
    admin_issues_lists_and_suspends_licenses,
    admin_api_needs_the_admin_token,
    admin_api_is_off_without_a_token,
    license_orders_are_validated,
);
