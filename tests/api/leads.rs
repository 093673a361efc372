//! Lead capture: the widget's pre-chat / offline form is checked against the tenant's `leadForm`,
//! refused with a clear code (and nothing stored), or stored on the visitor's conversation, shown to the
//! team and sent as `lead_capture` with the conversation's events.

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use crate::team::dashboard_event;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// A form asking for a name and a required company.
fn lead_form() -> Value {
    json!({
        "requireName": true,
        "askPhone": true,
        "customFields": [{ "key": "company", "label": "Company", "required": true }]
    })
}

async fn configure_form(app: &TestApp, tenant: &Tenant) -> String {
    let body = json!({ "config": { "leadForm": lead_form() } });
    let response = app.post_as("/api/products/chatbot/configure", &tenant.token, &body).await;
    expect_status(response, StatusCode::CREATED).await["product_key"].as_str().expect("key").to_owned()
}

async fn an_offline_visitor_leaves_their_details(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = configure_form(&app, &owner).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    app.webhook_endpoint(&owner, &receiver.url, &["chat_opened", "lead_capture", "message_created"]).await;
    let mut dashboard = app.dashboard_ws(&owner.token).await;
    let mut visitor = app.widget(&key, None).await;
    let welcome = visitor.recv_type("welcome").await;
    let token = welcome["visitor_token"].as_str().expect("token").to_owned();

    let form = |changes: Value| {
        let mut body = json!({
            "product_key": key, "visitor_token": token, "name": " Ada Lovelace ", "email": "Ada@Example.com",
            "phone": "+44 20 7946 0018", "fields": { "company": "Analytical Engines" }
        });
        for (field, value) in changes.as_object().expect("object") {
            body[field] = value.clone();
        }
        body
    };
    for (changes, code) in [
        (json!({ "email": "ada-at-example" }), "invalid_email"),
        (json!({ "email": null }), "missing_field"),
        (json!({ "name": "  " }), "missing_field"),
        (json!({ "phone": "call me" }), "invalid_phone"),
        (json!({ "fields": {} }), "missing_field"),
        (json!({ "fields": { "company": "x", "age": "36" } }), "unknown_field"),
        (json!({ "name": "a".repeat(201) }), "field_too_long"),
        (json!({ "visitor_token": "not-a-token" }), "invalid_visitor_token"),
    ] {
        let refused = app.post_json("/api/widget/leads", &form(changes.clone())).await;
        expect_error(refused, StatusCode::BAD_REQUEST, code).await;
    }
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &owner.token).await, StatusCode::OK).await;
    assert_eq!(list["conversations"].as_array().map(Vec::len), Some(0), "a refused form stores nothing");

    // Offline: the form comes before any message and opens the visitor's conversation.
    let stored = expect_status(app.post_json("/api/widget/leads", &form(json!({}))).await, StatusCode::CREATED).await;
    let conversation = stored["conversation_id"].as_str().expect("conversation").to_owned();
    let expected = json!({
        "name": "Ada Lovelace", "email": "ada@example.com", "phone": "+442079460018",
        "fields": { "company": "Analytical Engines" }
    });
    assert_eq!(stored["lead"], expected);
    let shown = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "lead_captured").await;
    assert_eq!((&shown["conversation_id"], &shown["lead"]), (&json!(conversation), &expected));
    let path = format!("/api/conversations/{conversation}");
    assert_eq!(expect_status(app.get_as(&path, &owner.token).await, StatusCode::OK).await["lead"], expected);

    // The visitor's next message joins that conversation.
    visitor.send_json(&json!({ "type": "message", "text": "call me back please", "client_msg_id": "m1" })).await;
    assert_eq!(visitor.recv_type("ack").await["conversation_id"], conversation.as_str());

    let received = receiver.wait_for(Duration::from_secs(15), |r| r.len() == 3).await;
    let events: Vec<&str> = received.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["chat_opened", "lead_capture", "message_created"]);
    assert_eq!(received[1].json["data"]["lead"], expected);
    assert_eq!((&received[1].json["sessionId"], &received[1].json["siteId"]), (&json!(conversation), &json!(key)));
    assert_eq!(received[1].json["visitor"]["id"], stored["visitor_id"]);
}

async fn lead_forms_are_checked_when_saved(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    for form in [
        json!({ "customFields": [{ "key": "email", "label": "again" }] }),
        json!({ "customFields": [{ "key": "a", "label": "A" }, { "key": "a", "label": "B" }] }),
        json!({ "customFields": [{ "key": "Company", "label": "C" }] }),
        json!({ "preChat": "yes" }),
    ] {
        let body = json!({ "config": { "leadForm": form } });
        let refused = app.post_as("/api/products/chatbot/configure", &owner.token, &body).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{form}");
    }
    let key = configure_form(&app, &owner).await;
    let public = expect_status(
        app.client.get(app.url(&format!("/api/widget/config?product_key={key}"))).send().await.expect("sent"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(public["config"]["leadForm"]["customFields"][0]["key"], "company", "widget.js reads the form");
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/widget/leads"))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("sent");
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

crate::on_both_stores!(an_offline_visitor_leaves_their_details, lead_forms_are_checked_when_saved);
