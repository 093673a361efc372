//! Commands to live widgets: sent by a dashboard user, an API key with `widget:command`, or the signed
//! incoming webhook; delivered to the addressed sockets on every node, counted, never across licenses.

use crate::cluster::Cluster;
use crate::helpers::*;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

const COMMANDS: &str = "/api/widget/commands";
const SIGNED: &str = "/api/webhooks/widget-commands";

/// A greeted widget and its visitor id.
async fn visitor(app: &TestApp, key: &str) -> (Socket, String) {
    let mut socket = app.widget(key, None).await;
    let welcome = socket.recv_type("welcome").await;
    (socket, welcome["visitor_id"].as_str().expect("visitor id").to_owned())
}

async fn command(app: &TestApp, token: &str, body: Value) -> Value {
    expect_status(app.post_as(COMMANDS, token, &body).await, StatusCode::OK).await
}

async fn commands_reach_the_addressed_widgets_and_say_how_many(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let (mut ana, ana_id) = visitor(&app, &key).await;
    let (mut carl, _) = visitor(&app, &key).await;
    let (mut bob, bob_id) = visitor(&app, &key).await;
    assert_ne!(ana_id, bob_id);

    let note = json!({ "command": "show_notification", "to": { "visitor_id": ana_id },
                       "data": { "text": "Your order shipped", "priority": "high" } });
    let answer = command(&app, &tenant.token, note).await;
    assert_eq!(answer, json!({ "command": "show_notification", "delivered": 1, "nodes": 1, "nodes_answered": 1 }));
    let frame = ana.recv_type("command").await;
    assert_eq!(
        frame,
        json!({ "type": "command", "command": "show_notification",
                              "data": { "text": "Your order shipped", "priority": "high" } })
    );

    let everyone = json!({ "command": "track_event", "data": { "name": "sale.started", "properties": { "pct": 20 } } });
    assert_eq!(command(&app, &tenant.token, everyone).await["delivered"], 3);
    // Bob's first command is the one for everyone: the note for Ana never reached him.
    let first = bob.recv_type("command").await;
    assert_eq!((&first["command"], &first["data"]["name"]), (&json!("track_event"), &json!("sale.started")));
    assert_eq!(ana.recv_type("command").await["command"], "track_event");
    assert_eq!(carl.recv_type("command").await["command"], "track_event");

    // A conversation's visitor: Bob writes, the agent opens his panel with a line.
    bob.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c1" })).await;
    let conversation = bob.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    let open = json!({ "command": "open_chat", "to": { "conversation_id": conversation },
                       "data": { "message": "Can I help with the checkout?" } });
    assert_eq!(command(&app, &tenant.token, open).await["delivered"], 1);
    let frame = bob.recv_type("command").await;
    assert_eq!(
        (&frame["command"], &frame["data"]["message"]),
        (&json!("open_chat"), &json!("Can I help with the checkout?"))
    );
}

async fn keys_need_their_scope_and_never_reach_another_license(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let alice = app.new_tenant(&["chatbot"]).await;
    let alice_key = app.chat_key(&alice).await;
    let (mut alices_visitor, visitor_id) = visitor(&app, &alice_key).await;
    let commander = app.api_key(&alice, &["widget:command"]).await["secret"].as_str().expect("secret").to_owned();
    let reader = app.api_key(&alice, &["usage:read"]).await["secret"].as_str().expect("secret").to_owned();
    let open = json!({ "command": "open_chat", "to": { "visitor_id": visitor_id }, "siteId": alice_key });
    let answer = expect_status(app.post_with_key(COMMANDS, &commander, &open).await, StatusCode::OK).await;
    assert_eq!(answer["delivered"], 1);
    assert_eq!(alices_visitor.recv_type("command").await["command"], "open_chat");
    expect_error(app.post_with_key(COMMANDS, &reader, &open).await, StatusCode::FORBIDDEN, "insufficient_scope").await;

    // Bob knows Alice's visitor id, conversation and site: none of them is his to command.
    let bob = app.new_tenant(&["chatbot"]).await;
    let bob_key = app.chat_key(&bob).await;
    let bobs = app.api_key(&bob, &["widget:command"]).await["secret"].as_str().expect("secret").to_owned();
    let hijack =
        json!({ "command": "show_notification", "to": { "visitor_id": visitor_id }, "data": { "text": "phish" } });
    assert_eq!(expect_status(app.post_with_key(COMMANDS, &bobs, &hijack).await, StatusCode::OK).await["delivered"], 0);
    let everyone = json!({ "command": "show_notification", "data": { "text": "phish" } });
    assert_eq!(
        expect_status(app.post_with_key(COMMANDS, &bobs, &everyone).await, StatusCode::OK).await["delivered"],
        0
    );
    alices_visitor.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": "c1" })).await;
    let conversation = alices_visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    let by_conversation = json!({ "command": "close_chat", "to": { "conversation_id": conversation } });
    expect_error(app.post_with_key(COMMANDS, &bobs, &by_conversation).await, StatusCode::NOT_FOUND, "not_found").await;
    let by_site = json!({ "command": "close_chat", "siteId": alice_key });
    expect_error(app.post_with_key(COMMANDS, &bobs, &by_site).await, StatusCode::NOT_FOUND, "not_found").await;
    let _ = bob_key;
    // Alice's widget got nothing of it: her next command is her own.
    let mine = json!({ "command": "close_chat", "to": { "visitor_id": visitor_id } });
    expect_status(app.post_with_key(COMMANDS, &commander, &mine).await, StatusCode::OK).await;
    assert_eq!(alices_visitor.recv_type("command").await["command"], "close_chat");
}

async fn bad_commands_are_refused_whole(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let (mut widget, _) = visitor(&app, &key).await;
    let refused = [
        (json!({ "command": "dance" }), StatusCode::BAD_REQUEST, "invalid_json"),
        (json!({ "command": "show_notification", "data": {} }), StatusCode::BAD_REQUEST, "invalid_json"),
        (json!({ "command": "show_notification", "data": { "text": "  " } }), StatusCode::BAD_REQUEST, "invalid_value"),
        (
            json!({ "command": "open_chat", "to": { "visitor_id": "v_1", "conversation_id": "x" } }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({ "command": "update_settings", "data": { "primaryColor": "blue" } }),
            StatusCode::BAD_REQUEST,
            "invalid_value",
        ),
        (
            json!({ "command": "update_settings", "data": { "behavior": { "openDelaySeconds": 9999 } } }),
            StatusCode::BAD_REQUEST,
            "invalid_value",
        ),
        (
            json!({ "command": "track_event", "data": { "name": "x", "properties": { "blob": "a".repeat(9000) } } }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            json!({ "command": "close_chat", "to": { "conversation_id": "0123456789abcdef0123456789abcdef" } }),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (body, status, code) in refused {
        expect_error(app.post_as(COMMANDS, &tenant.token, &body).await, status, code).await;
    }
    // None of them reached the widget: the first command it sees is this one.
    command(&app, &tenant.token, json!({ "command": "close_chat" })).await;
    assert_eq!(widget.recv_type("command").await["command"], "close_chat");
}

async fn settings_reach_live_widgets_and_saving_pushes_the_config(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let (mut widget, _) = visitor(&app, &key).await;
    let live = json!({ "command": "update_settings", "data": { "title": "Flash sale", "theme": "dark" } });
    assert_eq!(command(&app, &tenant.token, live).await["delivered"], 1);
    let frame = widget.recv_type("command").await;
    assert_eq!(frame["data"], json!({ "title": "Flash sale", "theme": "dark" }));
    // Live only: the saved configuration is untouched.
    let saved = app.client.get(app.url(&format!("/api/widget/config?product_key={key}"))).send().await.expect("sent");
    assert_eq!(expect_status(saved, StatusCode::OK).await["config"]["title"], "Chat with us");

    let config = json!({ "config": { "title": "Talk to Ana", "agentName": "Ana", "replyTime": "hours",
                                     "behavior": { "openDelaySeconds": 2, "hideOnUrls": ["/checkout*"] } } });
    expect_status(app.post_as("/api/products/chatbot/configure", &tenant.token, &config).await, StatusCode::OK).await;
    let pushed = widget.recv_type("config").await;
    assert_eq!((&pushed["config"]["title"], &pushed["config"]["agentName"]), (&json!("Talk to Ana"), &json!("Ana")));
    assert_eq!(pushed["config"]["behavior"]["hideOnUrls"], json!(["/checkout*"]));
    assert_eq!(pushed["config"]["theme"], "auto", "defaults filled in");

    let bad = json!({ "config": { "avatarUrl": "http://insecure.test/a.png" } });
    let message = expect_error(
        app.post_as("/api/products/chatbot/configure", &tenant.token, &bad).await,
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
    assert!(message.contains("avatarUrl"), "{message}");
    let bad = json!({ "config": { "behavior": { "showOnUrls": ["pricing"] } } });
    expect_error(
        app.post_as("/api/products/chatbot/configure", &tenant.token, &bad).await,
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
}

fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_signed(app: &TestApp, body: &str, header: &str) -> reqwest::Response {
    let request = reqwest::Client::new().post(app.url(SIGNED)).header("content-type", "application/json");
    request.header("x-switchboard-signature", header).body(body.to_owned()).send().await.expect("sent")
}

async fn signed_webhook_commands_are_verified_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let (mut widget, _) = visitor(&app, &key).await;
    let body =
        json!({ "command": "open_chat", "siteId": key, "data": { "message": "Hello! How can I help?" } }).to_string();
    let now = chrono::Utc::now().timestamp();
    let unsigned = post_signed(&app, &body, &signature("whsec_nothing", now, &body)).await;
    let message = expect_error(unsigned, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(message.contains("webhook endpoint"), "{message}");

    let endpoint = app.webhook_endpoint(&tenant, "http://127.0.0.1:9/hook", &["chat_opened"]).await;
    let secret = endpoint["secret"].as_str().expect("secret");
    let good = signature(secret, now, &body);
    let answer = expect_status(post_signed(&app, &body, &good).await, StatusCode::OK).await;
    assert_eq!((&answer["command"], &answer["delivered"]), (&json!("open_chat"), &json!(1)));
    assert_eq!(widget.recv_type("command").await["data"]["message"], "Hello! How can I help?");

    expect_error(post_signed(&app, &body, &good).await, StatusCode::CONFLICT, "signature_replayed").await;
    let stale = signature(secret, now - 301, &body);
    expect_error(post_signed(&app, &body, &stale).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let tampered = body.replace("Hello!", "Pay here!");
    expect_error(post_signed(&app, &tampered, &good).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(post_signed(&app, &body, "nonsense").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let no_site = json!({ "command": "close_chat" }).to_string();
    let header = signature(secret, now, &no_site);
    expect_error(post_signed(&app, &no_site, &header).await, StatusCode::BAD_REQUEST, "invalid_value").await;
    // A refused command is not remembered: the very same request is refused the same way again.
    let blank = json!({ "command": "show_notification", "siteId": key, "data": { "text": " " } }).to_string();
    let header = signature(secret, now, &blank);
    for _ in 0..2 {
        expect_error(post_signed(&app, &blank, &header).await, StatusCode::BAD_REQUEST, "invalid_value").await;
    }
    let unknown_site = json!({ "command": "close_chat", "siteId": "chat_0000000000000000" }).to_string();
    let header = signature(secret, now, &unknown_site);
    expect_error(post_signed(&app, &unknown_site, &header).await, StatusCode::NOT_FOUND, "not_found").await;
}

crate::on_both_stores!(
    commands_reach_the_addressed_widgets_and_say_how_many,
    keys_need_their_scope_and_never_reach_another_license,
    bad_commands_are_refused_whole,
    settings_reach_live_widgets_and_saving_pushes_the_config,
    signed_webhook_commands_are_verified_once,
);

/// A command sent to node A reaches a widget on node B, and A's answer counts it; a saved config too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_configs_cross_nodes_and_are_counted() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let (mut on_b, visitor_id) = visitor(&b.app, &key).await;
    let (mut on_a, _) = visitor(&a.app, &key).await;
    let note = json!({ "command": "show_notification", "to": { "visitor_id": visitor_id }, "data": { "text": "hi" } });
    let answer = command(&a.app, &tenant.token, note).await;
    assert_eq!(answer, json!({ "command": "show_notification", "delivered": 1, "nodes": 2, "nodes_answered": 2 }));
    assert_eq!(on_b.recv_type("command").await["data"]["text"], "hi");
    assert_eq!(command(&b.app, &tenant.token, json!({ "command": "close_chat" })).await["delivered"], 2);
    assert_eq!(on_a.recv_type("command").await["command"], "close_chat");

    let config = json!({ "config": { "title": "Pushed from A" } });
    expect_status(a.app.post_as("/api/products/chatbot/configure", &tenant.token, &config).await, StatusCode::OK).await;
    assert_eq!(on_b.recv_type("config").await["config"]["title"], "Pushed from A");
    assert_eq!(on_a.recv_type("config").await["config"]["title"], "Pushed from A");

    // Another license on the same cluster sees none of it.
    let other = a.app.new_tenant(&["chatbot"]).await;
    let everyone = json!({ "command": "show_notification", "data": { "text": "not yours" } });
    assert_eq!(command(&b.app, &other.token, everyone).await["delivered"], 0);
}
