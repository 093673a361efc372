//! Dashboards watch their license live over Socket.IO (official clients) and the plain WebSocket.

use crate::helpers::*;
use crate::probe::{clients_available, Client, SioProbe};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use switchboard::auth::{Claims, TokenKeys};
use switchboard::domain::{LicenseKey, Product, Role};

/// A visitor of `key` says `text`; returns the conversation id.
async fn visitor_says(app: &TestApp, key: &str, text: &str) -> (Socket, String) {
    let mut visitor = app.widget(key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": "c1" })).await;
    let ack = visitor.recv_type("ack").await;
    (visitor, ack["conversation_id"].as_str().expect("conversation id").to_owned())
}

async fn official_clients_receive_live_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    if !clients_available() {
        return;
    }
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut probes = Vec::new();
    for (client, transport) in [
        (Client::Node, "websocket"),
        (Client::Node, "polling"),
        (Client::Python, "websocket"),
        (Client::Python, "polling"),
    ] {
        let probe = SioProbe::connect(client, &app.socketio_url, Some(&tenant.token), transport).await;
        probes.push((client, transport, probe.connected().await));
    }
    // Every new dashboard gets the numbers within a second.
    for (_, _, probe) in &mut probes {
        probe.event("metrics:updated").await;
    }
    let (_visitor, conversation_id) = visitor_says(&app, &key, "is anyone there?").await;
    for (client, transport, probe) in &mut probes {
        let opened = probe.event_where("activity:new", |d| d["type"] == "conversation_opened").await;
        assert_eq!(opened["conversation_id"], conversation_id.as_str(), "{client:?}/{transport}");
        let message = probe.event("message:new").await;
        assert_eq!(message["message"]["text"], "is anyone there?", "{client:?}/{transport}");
        assert_eq!(message["message"]["conversation_id"], conversation_id.as_str());
        assert_eq!(message["channel"], "widget");
        let notification = probe.event("notification:new").await;
        assert_eq!(notification["kind"], "new_conversation");
        let metrics = probe.event_where("metrics:updated", |d| d["messages_today"] == 1).await;
        assert_eq!(metrics["open_conversations"], 1);
        assert_eq!(metrics["visitors_online"], 1);
    }
}

async fn bad_tokens_get_connect_error(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    if !clients_available() {
        return;
    }
    let tenant = app.new_tenant(&["chatbot"]).await;
    let claims = |exp: i64| Claims {
        sub: switchboard::domain::UserId::generate(),
        email: tenant.email.clone(),
        license_key: LicenseKey::parse(&tenant.license_key).expect("the tenant's key"),
        role: Role::Owner,
        products: vec![Product::Chatbot],
        iat: 0,
        exp,
        jti: "forged".into(),
        mfa: false,
    };
    let expired = TokenKeys::new(b"test-secret-of-at-least-32-bytes!").sign(&claims(1_000)).expect("signed");
    let wrongly_signed = TokenKeys::new(b"another-secret").sign(&claims(i64::from(u32::MAX))).expect("signed");
    let revoked = app.new_tenant(&["chatbot"]).await.token;
    expect_status(app.post_as("/api/auth/logout", &revoked, &json!({})).await, StatusCode::OK).await;
    let cases = [
        (None, "authentication required"),
        (Some("garbage".to_owned()), "invalid"),
        (Some(expired), "expired"),
        (Some(wrongly_signed), "invalid"),
        (Some(revoked), "revoked"),
    ];
    for client in [Client::Node, Client::Python] {
        for (token, expected) in &cases {
            let mut probe = SioProbe::connect(client, &app.socketio_url, token.as_deref(), "websocket").await;
            let message = probe.refused().await;
            assert!(message.contains(expected), "{client:?}: '{message}' should mention '{expected}'");
        }
    }
}

async fn agents_reply_over_socketio(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    if !clients_available() {
        return;
    }
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let (mut visitor, conversation_id) = visitor_says(&app, &key, "help").await;
    let mut agent =
        SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "websocket").await.connected().await;

    let send = json!({ "conversation_id": conversation_id, "text": "On it!", "client_msg_id": "a1" });
    let ack = agent.emit_with_ack("message:send", send.clone()).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["message"]["seq"], 2);
    let id = ack["message"]["id"].clone();
    let delivered = visitor.recv_type("message").await;
    assert_eq!((delivered["from"].as_str(), delivered["text"].as_str()), (Some("agent"), Some("On it!")));
    assert_eq!(delivered["id"], id);
    // Resending the same client id answers with the same stored message.
    let again = agent.emit_with_ack("message:send", send).await;
    assert_eq!((again["duplicate"].as_bool(), &again["message"]["id"]), (Some(true), &id));

    let typing = agent.emit_with_ack("typing", json!({ "conversation_id": conversation_id, "is_typing": true })).await;
    assert_eq!(typing["ok"], true);
    assert_eq!(visitor.recv_type("typing").await["from"], "agent");

    let bad = agent.emit_with_ack("message:send", json!({ "text": "no conversation" })).await;
    assert_eq!(bad["error"]["code"], "invalid_payload", "{bad}");
    let foreign = agent.emit_with_ack("message:send", json!({ "conversation_id": "0".repeat(32), "text": "x" })).await;
    assert_eq!(foreign["error"]["code"], "not_found", "{foreign}");

    // Over long polling too (served by socketioxide rather than natively), and an unknown event is answered.
    let mut polling =
        SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "polling").await.connected().await;
    let unknown = polling.emit_with_ack("conversation:archive", json!({ "conversation_id": conversation_id })).await;
    assert_eq!(unknown["error"]["code"], "unknown_event", "{unknown}");
    let typing =
        polling.emit_with_ack("typing", json!({ "conversation_id": conversation_id, "is_typing": false })).await;
    assert_eq!(typing["ok"], true, "{typing}");

    let closed = agent.emit_with_ack("conversation:close", json!({ "conversation_id": conversation_id })).await;
    assert_eq!(closed["conversation"]["status"], "closed", "{closed}");
    assert_eq!(visitor.recv_type("status").await["status"], "closed");
    agent.event_where("activity:new", |d| d["type"] == "conversation_closed").await;
}

async fn tenants_never_see_each_others_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let sio = clients_available();
    let mut tenants = Vec::new();
    for _ in 0..6 {
        let tenant = app.new_tenant(&["chatbot"]).await;
        let key = app.chat_key(&tenant).await;
        let mut sockets = Vec::new();
        for _ in 0..3 {
            sockets.push(app.dashboard_ws(&tenant.token).await);
        }
        let probe = if sio && tenants.len() < 2 {
            Some(
                SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "websocket")
                    .await
                    .connected()
                    .await,
            )
        } else {
            None
        };
        tenants.push((tenant, key, sockets, probe));
    }
    let mut visitors = Vec::new();
    for (tenant, key, _, _) in &tenants {
        visitors.push(visitor_says(&app, key, &format!("secret of {}", tenant.license_key)).await);
    }
    // Everything that identifies a tenant: its license key and its conversation id.
    let marks: Vec<[String; 2]> = tenants
        .iter()
        .zip(&visitors)
        .map(|((t, ..), (_, conversation))| [t.license_key.clone(), conversation.clone()])
        .collect();
    for (index, (tenant, _, sockets, probe)) in tenants.iter_mut().enumerate() {
        let own = format!("secret of {}", tenant.license_key);
        let foreign: Vec<&String> =
            marks.iter().enumerate().filter(|(i, _)| *i != index).flat_map(|(_, m)| m).collect();
        for socket in sockets.iter_mut() {
            let mut frames = Vec::new();
            loop {
                let frame = socket.recv_json().await;
                let done = frame["event"] == "message:new";
                frames.push(frame.to_string());
                if done {
                    break;
                }
            }
            frames.extend(socket.drain_dashboard().await);
            assert_only_own(&frames, &foreign);
        }
        if let Some(probe) = probe {
            let message = probe.event("message:new").await;
            assert_eq!(message["message"]["text"], own.as_str());
            let seen: Vec<String> = probe.seen.iter().map(|v| v.to_string()).collect();
            assert_only_own(&seen, &foreign);
        }
    }
    drop(visitors);
}

/// No frame mentions another tenant's license key or conversation.
fn assert_only_own(frames: &[String], foreign: &[&String]) {
    assert!(!frames.is_empty());
    for frame in frames {
        for mark in foreign {
            assert!(!frame.contains(mark.as_str()), "a foreign event leaked ({mark}): {frame}");
        }
    }
}

async fn dashboard_websocket_authenticates_before_upgrade(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let refused = app.client.get(app.url("/ws/dashboard?token=garbage")).send().await.expect("sent");
    expect_error(refused, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let anonymous = reqwest::Client::new().get(app.url("/ws/dashboard")).send().await.expect("sent");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let mut by_query = app.dashboard_ws(&tenant.token).await;
    let mut by_header = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = app.ws_url("/ws/dashboard").into_client_request().expect("request");
        request.headers_mut().insert("authorization", format!("Bearer {}", tenant.token).parse().expect("header"));
        Socket { ws: tokio_tungstenite::connect_async(request).await.expect("upgrade").0 }
    };
    let (_visitor, conversation_id) = visitor_says(&app, &key, "hello dashboards").await;
    for socket in [&mut by_query, &mut by_header] {
        loop {
            let frame = socket.recv_json().await;
            if frame["event"] == "message:new" {
                assert_eq!(frame["data"]["message"]["conversation_id"], conversation_id.as_str());
                assert_eq!(frame["data"]["message"]["text"], "hello dashboards");
                break;
            }
        }
    }
}

async fn metrics_are_coalesced_to_one_a_second(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let (_visitor, conversation_id) = visitor_says(&app, &key, "burst").await;
    let started = std::time::Instant::now();
    for i in 0..30 {
        let path = format!("/api/conversations/{conversation_id}/messages");
        expect_status(
            app.post_as(&path, &tenant.token, &json!({ "text": format!("m{i}") })).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let mut metrics = 0;
    let mut last = json!(null);
    while started.elapsed() < std::time::Duration::from_millis(3500) {
        if let Some(SocketEvent::Json(frame)) = dashboard.next_event_within(std::time::Duration::from_millis(200)).await
        {
            if frame["event"] == "metrics:updated" {
                metrics += 1;
                last = frame["data"].clone();
            }
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(metrics >= 1 && metrics <= elapsed_s + 1, "{metrics} metrics frames in {elapsed_s} s");
    assert_eq!(last["messages_today"], 31, "the last push carries the final count");
}

/// The ids in the `visitor_presence` activity frames among `frames`, as (online, offline, events).
fn presence_in(frames: &[Value]) -> (BTreeSet<String>, BTreeSet<String>, usize) {
    let (mut online, mut offline, mut events) = (BTreeSet::new(), BTreeSet::new(), 0);
    for data in frames.iter().filter(|f| f["event"] == "activity:new").map(|f| &f["data"]) {
        if data["type"] == "visitor_presence" {
            events += 1;
            let ids = |key: &str| {
                data[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .map(String::from)
                    .collect::<Vec<_>>()
            };
            online.extend(ids("online"));
            offline.extend(ids("offline"));
        }
    }
    (online, offline, events)
}

/// Frames from the dashboard until `done` holds for them, or none arrives for 3 s.
async fn frames_until(dashboard: &mut Socket, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    while !done(&frames) {
        match dashboard.next_event_within(std::time::Duration::from_secs(3)).await {
            Some(SocketEvent::Json(frame)) => frames.push(frame),
            Some(_) => {}
            None => break,
        }
    }
    frames
}

async fn visitor_presence_is_announced_once_per_burst(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let mut first = app.widget(&key, None).await;
    let first_id = first.recv_type("welcome").await["visitor_id"].as_str().expect("visitor id").to_owned();
    let frames = frames_until(&mut dashboard, |f| presence_in(f).2 == 1).await;
    assert_eq!(presence_in(&frames).0, BTreeSet::from([first_id.clone()]), "a lone visitor is announced at once");

    // Eight more arrive together: they are announced in one event (at most two, should the burst straddle
    // an announcement), not eight.
    let mut burst = Vec::new();
    let mut ids = BTreeSet::new();
    for _ in 0..8 {
        let mut visitor = app.widget(&key, None).await;
        ids.insert(visitor.recv_type("welcome").await["visitor_id"].as_str().expect("visitor id").to_owned());
        burst.push(visitor);
    }
    let frames = frames_until(&mut dashboard, |f| presence_in(f).0 == ids).await;
    let (online, offline, events) = presence_in(&frames);
    assert_eq!((&online, offline.len()), (&ids, 0), "{frames:?}");
    assert!(events <= 2, "{events} presence events for one burst");

    drop((burst, first));
    ids.insert(first_id);
    let frames = frames_until(&mut dashboard, |f| presence_in(f).1 == ids).await;
    let (online, offline, events) = presence_in(&frames);
    assert_eq!((online.len(), &offline), (0, &ids), "everyone who left is announced offline");
    assert!(events <= 2, "{events} presence events for one burst");
}

crate::on_both_stores!(
    official_clients_receive_live_events,
    bad_tokens_get_connect_error,
    agents_reply_over_socketio,
    tenants_never_see_each_others_events,
    dashboard_websocket_authenticates_before_upgrade,
    metrics_are_coalesced_to_one_a_second,
    visitor_presence_is_announced_once_per_burst,
);

async fn logout_closes_the_sessions_live_sockets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    // A second session of the same user stays open.
    let other = app.login(&tenant.email, PASSWORD).await;
    let other = expect_status(other, StatusCode::OK).await["token"].as_str().expect("token").to_owned();
    let mut plain = app.dashboard_ws(&tenant.token).await;
    let mut survivor = app.dashboard_ws(&other).await;
    let mut sio = if clients_available() {
        Some(
            SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "websocket")
                .await
                .connected()
                .await,
        )
    } else {
        None
    };
    expect_status(app.post_as("/api/auth/logout", &tenant.token, &json!({})).await, StatusCode::OK).await;
    let (code, reason) = plain.recv_close().await;
    assert_eq!((code, reason.as_str()), (4003, "session revoked"));
    if let Some(probe) = &mut sio {
        loop {
            let line = probe.next().await;
            if line.get("disconnect").is_some() {
                break;
            }
        }
    }
    assert!(
        survivor.drain_dashboard().await.iter().all(|f| !f.contains("session:revoked")),
        "internal event not shown"
    );
}

crate::on_both_stores!(logout_closes_the_sessions_live_sockets);
