//! Burst limits: per license on the authenticated HTTP API and on inbound provider messages (in
//! channels.rs), per member on Socket.IO emits. Budgets of 1 per second (bursts of 2) make a quick run
//! of requests cross them whatever the machine's speed.

use crate::helpers::*;
use crate::probe::{clients_available, Client, SioProbe};
use reqwest::StatusCode;
use serde_json::json;

async fn app_with(backend: Backend, tweak: impl FnOnce(&mut switchboard::config::BurstConfig)) -> Option<TestApp> {
    let database_url = fresh_database(backend).await?;
    let mut config = test_config(database_url, backend);
    tweak(&mut config.burst);
    Some(spawn_with(config).await)
}

async fn a_license_bursting_on_the_api_is_slowed_alone(backend: Backend) {
    let Some(app) = app_with(backend, |b| b.api_rate_per_second = 1).await else { return };
    let busy = app.new_tenant(&["chatbot"]).await;
    let quiet = app.new_tenant(&["chatbot"]).await;
    let mut refused = None;
    for _ in 0..20 {
        let response = app.get_as("/api/auth/me", &busy.token).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = refused.expect("20 calls at once cross a budget of 1 per second (bursts of 2)");
    assert_eq!(refused.headers()["retry-after"], "1");
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another license has its own budget.
    expect_status(app.get_as("/api/auth/me", &quiet.token).await, StatusCode::OK).await;
}

async fn socketio_emits_over_the_budget_are_refused(backend: Backend) {
    if !clients_available() {
        return;
    }
    let Some(app) = app_with(backend, |b| b.socketio_emit_rate_per_second = 1).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": "c1" })).await;
    let conversation_id = visitor.recv_type("ack").await["conversation_id"].clone();
    let mut agent =
        SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "websocket").await.connected().await;
    let typing = json!({ "conversation_id": conversation_id, "is_typing": true });
    let first = agent.emit_with_ack("typing", typing.clone()).await;
    assert_eq!(first["ok"], true, "{first}");
    let mut codes = Vec::new();
    for _ in 0..10 {
        let ack = agent.emit_with_ack("typing", typing.clone()).await;
        codes.push(ack["error"]["code"].as_str().unwrap_or("ok").to_owned());
    }
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    assert!(codes.iter().all(|c| c == "rate_limited" || c == "ok"), "{codes:?}");
}

crate::on_both_stores!(a_license_bursting_on_the_api_is_slowed_alone, socketio_emits_over_the_budget_are_refused);
