//! The license's security policy: who may read and change it, what it refuses, and each rule where it
//! bites — session lifetime, password rule, IP allow-list (HTTP, plain WebSocket, Socket.IO) — over real
//! HTTP and sockets from real source addresses, on both engines.

use crate::hardening::spawn_tuned;
use crate::helpers::*;
use crate::on_both_stores;
use crate::raw_ws::connect_from;
use crate::team::{add_member, put_as};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// A client whose connections come from `from` (any 127.0.0.0/8 address works on Linux loopback).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip(from)).build().expect("client builds")
}

/// The claims of a JWT, read without checking it (the test only wants `iat` and `exp`).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

async fn policy_endpoints_are_for_admins(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let policy = expect_status(app.get_as("/api/security/policy", &owner.token).await, StatusCode::OK).await;
    assert_eq!(
        policy,
        json!({ "require_two_factor": false, "session_timeout_minutes": null, "password_min_length": 8,
                "password_require_mixed": false, "ip_allowlist": [], "session_seconds": 3600 })
    );
    let admin = add_member(&app, &owner.token, "admin").await;
    let changed = put_as(&app, "/api/security/policy", &admin.token, &json!({ "password_min_length": 10 })).await;
    assert_eq!(expect_status(changed, StatusCode::OK).await["password_min_length"], 10);
    for role in ["manager", "member", "viewer"] {
        let member = add_member(&app, &owner.token, role).await;
        let read = app.get_as("/api/security/policy", &member.token).await;
        expect_error(read, StatusCode::FORBIDDEN, "insufficient_role").await;
        let write = put_as(&app, "/api/security/policy", &member.token, &json!({})).await;
        expect_error(write, StatusCode::FORBIDDEN, "insufficient_role").await;
    }
    let read = expect_status(app.get_as("/api/security/policy", &owner.token).await, StatusCode::OK).await;
    assert_eq!(read["password_min_length"], 10, "the refused writes changed nothing");
}

async fn malformed_policies_get_clear_codes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let cases = [
        (json!({ "password_min_length": 7 }), "invalid_policy"),
        (json!({ "password_min_length": 129 }), "invalid_policy"),
        (json!({ "session_timeout_minutes": 0 }), "invalid_policy"),
        (json!({ "session_timeout_minutes": 43_201 }), "invalid_policy"),
        (json!({ "ip_allowlist": ["10.0.0.0/33"] }), "invalid_ip_allowlist"),
        (json!({ "ip_allowlist": ["intranet"] }), "invalid_ip_allowlist"),
        (json!({ "ip_allowlist": "127.0.0.1" }), "invalid_json"),
        (json!({ "require_two_factor": "yes" }), "invalid_json"),
        (json!({ "password_expiry_days": 90 }), "invalid_json"),
    ];
    for (body, code) in cases {
        let response = put_as(&app, "/api/security/policy", &owner.token, &body).await;
        expect_error(response, StatusCode::BAD_REQUEST, code).await;
    }
}

async fn sessions_live_as_long_as_the_policy_says(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    assert_eq!(
        claims_of(&owner.token)["exp"].as_i64().unwrap() - claims_of(&owner.token)["iat"].as_i64().unwrap(),
        3600
    );
    let body = json!({ "session_timeout_minutes": 1 });
    let policy = expect_status(put_as(&app, "/api/security/policy", &owner.token, &body).await, StatusCode::OK).await;
    assert_eq!(policy["session_seconds"], 60);
    let login = expect_status(app.login(&owner.email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(login["expires_in"], 60);
    let token = login["token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60, "the JWT's own exp");
    let me = expect_status(app.get_as("/api/auth/me", token).await, StatusCode::OK).await;
    assert_eq!(me["session"]["expires_at"].as_i64().unwrap(), claims["exp"].as_i64().unwrap() * 1000);
    // Longer than the server's TTL: the TTL wins (a policy can shorten sessions, never lengthen them).
    let body = json!({ "session_timeout_minutes": 43_200 });
    let policy = expect_status(put_as(&app, "/api/security/policy", token, &body).await, StatusCode::OK).await;
    assert_eq!(policy["session_seconds"], 3600);
    let login = expect_status(app.login(&owner.email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(login["expires_in"], 3600);
}

async fn the_password_rule_applies_wherever_a_password_is_set(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let body = json!({ "password_min_length": 14, "password_require_mixed": true });
    expect_status(put_as(&app, "/api/security/policy", &owner.token, &body).await, StatusCode::OK).await;

    // Accepting an invitation.
    let invited = app
        .post_as("/api/team/invitations", &owner.token, &json!({ "email": "ana@example.com", "role": "member" }))
        .await;
    let invitation = expect_status(invited, StatusCode::CREATED).await["token"].as_str().unwrap().to_owned();
    for weak in ["short1", "onlylettersherealone", "12345678901234567"] {
        let accept =
            app.post_json("/api/team/invitations/accept", &json!({ "token": invitation, "password": weak })).await;
        expect_error(accept, StatusCode::BAD_REQUEST, "weak_password").await;
    }
    let accept = json!({ "token": invitation, "password": "letters and 42 digits" });
    expect_status(app.post_json("/api/team/invitations/accept", &accept).await, StatusCode::OK).await;

    // Changing one's password: the current one first, then the rule; other sessions end, this one stays.
    let other = expect_status(app.login(&owner.email, PASSWORD).await, StatusCode::OK).await;
    let other = other["token"].as_str().unwrap();
    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let wrong = app.post_as("/api/auth/password", &owner.token, &change("not-it", "a new pass phrase 7")).await;
    expect_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let weak = app.post_as("/api/auth/password", &owner.token, &change(PASSWORD, "too short 1")).await;
    expect_error(weak, StatusCode::BAD_REQUEST, "weak_password").await;
    let done = app.post_as("/api/auth/password", &owner.token, &change(PASSWORD, "a new pass phrase 7")).await;
    assert_eq!(expect_status(done, StatusCode::OK).await["sessions_ended"], 1);
    expect_error(app.get_as("/api/auth/me", other).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_status(app.get_as("/api/auth/me", &owner.token).await, StatusCode::OK).await;
    expect_error(app.login(&owner.email, PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_status(app.login(&owner.email, "a new pass phrase 7").await, StatusCode::OK).await;

    // Registering a new license: its own (default) rule.
    let email = format!("owner-{}@example.com", uuid::Uuid::new_v4().simple());
    let license = app.create_license(&email, &["chatbot"]).await;
    let body = json!({ "email": email, "password": "1234567", "license_key": license });
    expect_error(app.post_json("/api/auth/register", &body).await, StatusCode::BAD_REQUEST, "weak_password").await;
}

type RawClient = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame, within 5 s.
async fn next_text(ws: &mut RawClient) -> String {
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a frame within 5 s");
        match frame {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => return text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// The Engine.IO/Socket.IO handshake over a WebSocket from `from`: `Ok(sid)` or `Err(connect_error message)`.
async fn socketio_connect_from(app: &TestApp, from: &str, token: &str) -> Result<String, String> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let sio = host(&app.socketio_url);
    let stream = connect_from(ip(from), sio).await.expect("connects");
    let url = format!("ws://{sio}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .expect("Engine.IO upgrade");
    assert!(next_text(&mut ws).await.starts_with('0'), "Engine.IO open packet first");
    ws.send(Message::text(format!("40{}", json!({ "token": token })))).await.expect("connect sent");
    loop {
        let answer = next_text(&mut ws).await;
        let data = |at: usize| serde_json::from_str::<Value>(answer.get(at..).unwrap_or_default());
        if let Some(connected) = answer.strip_prefix("40").filter(|d| !d.is_empty()) {
            let data: Value = serde_json::from_str(connected).expect("JSON data");
            return Ok(data["sid"].as_str().expect("sid").to_owned());
        }
        if answer.starts_with("44") {
            return Err(data(2).expect("JSON data")["message"].as_str().expect("message").to_owned());
        }
        // Engine.IO pings and anything else before the answer are not it.
        eprintln!("skipping packet {answer}");
    }
}

async fn the_allowlist_keeps_other_addresses_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    // A list without the caller's own address would lock them out: refused.
    let outside = json!({ "ip_allowlist": ["10.0.0.0/8", "2001:db8::/32"] });
    let refused = put_as(&app, "/api/security/policy", &owner.token, &outside).await;
    expect_error(refused, StatusCode::CONFLICT, "allowlist_excludes_caller").await;
    let inside = json!({ "ip_allowlist": ["127.0.0.1/32", "2001:db8::/32"] });
    let policy = expect_status(put_as(&app, "/api/security/policy", &owner.token, &inside).await, StatusCode::OK).await;
    assert_eq!(policy["ip_allowlist"], json!(["127.0.0.1/32", "2001:db8::/32"]));

    // Logins: from 127.0.0.1 yes, from 127.0.0.2 no (with the right password).
    let login = json!({ "email": owner.email, "password": PASSWORD });
    let from_inside = client_from("127.0.0.1").post(app.url("/api/auth/login")).json(&login).send().await.unwrap();
    let token = expect_status(from_inside, StatusCode::OK).await["token"].as_str().unwrap().to_owned();
    let outsider = client_from("127.0.0.2");
    let from_outside = outsider.post(app.url("/api/auth/login")).json(&login).send().await.unwrap();
    expect_error(from_outside, StatusCode::FORBIDDEN, "ip_not_allowed").await;
    // Nor can an invitation be accepted from outside: the member is not even created.
    let invite = json!({ "email": "out@example.com", "role": "member" });
    let invited =
        expect_status(app.post_as("/api/team/invitations", &owner.token, &invite).await, StatusCode::CREATED).await;
    let accept = json!({ "token": invited["token"], "password": PASSWORD });
    let refused = outsider.post(app.url("/api/team/invitations/accept")).json(&accept).send().await.unwrap();
    expect_error(refused, StatusCode::FORBIDDEN, "ip_not_allowed").await;
    // A token taken elsewhere does not work from outside either.
    let me = outsider.get(app.url("/api/auth/me")).bearer_auth(&token).send().await.unwrap();
    expect_error(me, StatusCode::FORBIDDEN, "ip_not_allowed").await;

    // The plain dashboard socket: refused before the upgrade from outside, opened from inside.
    let url = app.ws_url(&format!("/ws/dashboard?token={token}"));
    let stream = connect_from(ip("127.0.0.2"), host(&app.address)).await.unwrap();
    let upgrade = tokio_tungstenite::client_async(url.clone(), tokio_tungstenite::MaybeTlsStream::Plain(stream)).await;
    match upgrade {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"]["code"], "ip_not_allowed");
        }
        other => panic!("the upgrade from 127.0.0.2 should be refused, got {:?}", other.map(|(_, r)| r.status())),
    }
    let mut dashboard = app.dashboard_ws(&token).await;
    dashboard.drain_dashboard().await;

    // Socket.IO: connect_error with the code from outside, connected from inside.
    let refused = socketio_connect_from(&app, "127.0.0.2", &token).await.expect_err("refused from 127.0.0.2");
    assert!(refused.starts_with("ip_not_allowed"), "{refused}");
    socketio_connect_from(&app, "127.0.0.1", &token).await.expect("connects from 127.0.0.1");

    // An empty list allows everyone again.
    expect_status(put_as(&app, "/api/security/policy", &token, &json!({})).await, StatusCode::OK).await;
    let again = outsider.post(app.url("/api/auth/login")).json(&login).send().await.unwrap();
    expect_status(again, StatusCode::OK).await;
    let joined = outsider.post(app.url("/api/team/invitations/accept")).json(&accept).send().await.unwrap();
    expect_status(joined, StatusCode::OK).await;
}

/// Behind a trusted proxy, the allow-list keys on the proxy's `X-Forwarded-For` hop.
async fn behind_a_proxy_the_forwarded_address_counts(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| c.trust_x_forwarded_for = true).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let forwarded = |addr: &str| {
        let client = app.client.clone();
        let (url, token, addr) = (app.url("/api/security/policy"), owner.token.clone(), addr.to_owned());
        move |body: Value| {
            client.put(url.clone()).bearer_auth(&token).header("x-forwarded-for", addr.clone()).json(&body).send()
        }
    };
    let put = forwarded("203.0.113.9");
    let refused = put(json!({ "ip_allowlist": ["127.0.0.1"] })).await.unwrap();
    expect_error(refused, StatusCode::CONFLICT, "allowlist_excludes_caller").await;
    expect_status(put(json!({ "ip_allowlist": ["203.0.113.0/24"] })).await.unwrap(), StatusCode::OK).await;
    let me = app.get_as("/api/auth/me", &owner.token).await;
    expect_error(me, StatusCode::FORBIDDEN, "ip_not_allowed").await;
}

on_both_stores!(
    policy_endpoints_are_for_admins,
    malformed_policies_get_clear_codes,
    sessions_live_as_long_as_the_policy_says,
    the_password_rule_applies_wherever_a_password_is_set,
    the_allowlist_keeps_other_addresses_out,
    behind_a_proxy_the_forwarded_address_counts,
);
