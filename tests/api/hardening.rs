//! The adversarial suite: what anonymous (or merely hostile) clients try, and what the server must do.
//! Each case is a regression test for a finding of a hostile black-box run; new endpoints add theirs.

use crate::helpers::*;
use crate::raw_ws::{connect_from, frame, RawSocket, CONTINUATION, TEXT};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use switchboard::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server whose configuration `tune` adjusts; `None` means "skip this engine here".
pub async fn spawn_tuned(backend: Backend, tune: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let database_url = fresh_database(backend).await?;
    let mut config = test_config(database_url, backend);
    tune(&mut config);
    Some(spawn_with(config).await)
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

/// Resident memory of this process (the server runs in it), in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

/// Writes up to `total` bytes, stopping at the first error (the server closed); returns bytes written.
async fn push(stream: &mut TcpStream, total: usize) -> usize {
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0;
    while written < total {
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk)).await {
            Ok(Ok(())) => written += chunk.len(),
            _ => break,
        }
    }
    written
}

async fn frame_lying_about_its_length_is_closed_1009_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let paths = [format!("/ws/widget?product_key={key}"), format!("/ws/dashboard?token={}", tenant.token)];
    for path in paths {
        // A header announcing 2^62 bytes and nothing else: refused on the header alone.
        let mut socket = RawSocket::open(host(&app.address), &path).await;
        socket.send_header(1 << 62).await.expect("header sent");
        assert_eq!(socket.recv_close().await, 1009, "{path}: 2^62 announced");

        // 2^40 announced, then a stream: the server must stop reading instead of buffering it.
        let mut socket = RawSocket::open(host(&app.address), &path).await;
        let before = rss();
        socket.send_header(1 << 40).await.expect("header sent");
        let written = push(&mut socket.stream, 64 << 20).await;
        let grown = rss().saturating_sub(before);
        assert!(grown < 24 << 20, "{path}: RSS grew by {grown} bytes after {written} bytes were pushed");
    }
}

/// A client that sends its first frames in the same write as its handshake, before the 101 (the
/// connection is handed over from the HTTP parser with those bytes already read): nothing is lost, on
/// either socket.
async fn frames_sent_with_the_handshake_are_read(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let message = json!({ "type": "message", "text": "sent before the 101", "client_msg_id": "early-1" });
    let mut early = frame(true, TEXT, message.to_string().as_bytes());
    early.extend(frame(true, TEXT, json!({ "type": "typing", "is_typing": true }).to_string().as_bytes()));
    let path = format!("/ws/widget?product_key={key}");
    let stream = TcpStream::connect(host(&app.address)).await.expect("connects");
    let mut visitor = RawSocket::handshake_with(stream, host(&app.address), &path, &early).await.expect("upgraded");
    visitor.recv_type("welcome").await;
    let ack = visitor.recv_type("ack").await;
    assert_eq!(ack["client_msg_id"], "early-1", "{ack}");
    let path = format!("/api/conversations/{}/messages", ack["conversation_id"].as_str().expect("id"));
    let history = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    assert_eq!(history["messages"][0]["text"], "sent before the 101", "{history}");
    // The plain dashboard socket reads a frame sent with its handshake too: a ping is answered.
    let path = format!("/ws/dashboard?token={}", tenant.token);
    let stream = TcpStream::connect(host(&app.address)).await.expect("connects");
    let ping = frame(true, TEXT, json!({ "type": "ping" }).to_string().as_bytes());
    let mut dashboard = RawSocket::handshake_with(stream, host(&app.address), &path, &ping).await.expect("upgraded");
    loop {
        let frame = dashboard.recv().await.unwrap_or_else(|code| panic!("closed with {code} before the pong"));
        if frame["event"] == "pong" {
            break;
        }
    }
}

async fn fragmented_messages_are_assembled_within_the_limit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let path = format!("/ws/widget?product_key={key}");
    let mut socket = RawSocket::open(host(&app.address), &path).await;
    socket.recv_type("welcome").await;
    let message = json!({ "type": "message", "text": "sent in three pieces", "client_msg_id": "frag-1" }).to_string();
    let (a, rest) = message.as_bytes().split_at(10);
    let (b, c) = rest.split_at(10);
    socket.send_frame(false, TEXT, a).await.expect("first fragment");
    socket.send_frame(false, CONTINUATION, b).await.expect("second fragment");
    socket.send_frame(true, CONTINUATION, c).await.expect("last fragment");
    let ack = socket.recv_type("ack").await;
    assert_eq!(ack["client_msg_id"], "frag-1");

    // Fragments that together pass the 16 KiB limit close the socket with 1009.
    let piece = vec![b' '; 6 * 1024];
    socket.send_frame(false, TEXT, b"{\"type\":\"message\",\"text\":\"").await.expect("start");
    for _ in 0..4 {
        if socket.send_frame(false, CONTINUATION, &piece).await.is_err() {
            break; // the server already closed
        }
    }
    assert_eq!(socket.recv_close().await, 1009);
}

async fn silent_and_slow_connections_cannot_take_the_socketio_port(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| {
        c.max_connections = 40;
        c.max_connections_per_source = 20;
        c.header_timeout_seconds = 1;
    })
    .await
    else {
        return;
    };
    let sio = host(&app.socketio_url).to_owned();
    let handshake = format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {sio}\r\n\r\n");
    // Answers an Engine.IO polling handshake on a connection from `from`, or `None` if refused.
    let polls = |from: &'static str| {
        let (sio, handshake) = (sio.clone(), handshake.clone());
        async move {
            let mut stream = connect_from(ip(from), &sio).await.ok()?;
            stream.write_all(handshake.as_bytes()).await.ok()?;
            let mut answer = vec![0u8; 512];
            let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut answer)).await.ok()?.ok()?;
            String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200").then_some(())
        }
    };
    // 20 silent connections from one address fill its share; the 21st from it is refused, while
    // another address is still served and the HTTP port never notices.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(connect_from(ip("127.0.0.1"), &sio).await.expect("accepted by TCP"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(polls("127.0.0.1").await.is_none(), "a 21st connection from one address is refused");
    assert!(polls("127.0.0.2").await.is_some(), "another address is still served");
    expect_status(app.client.get(app.url("/healthz")).send().await.expect("healthz"), StatusCode::OK).await;

    // The silent ones never sent their headers: the header timeout closes them.
    for mut stream in silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a silent connection is closed by the header timeout");
    }
    assert!(polls("127.0.0.1").await.is_some(), "the address is served again once they are gone");

    // Slowloris: a byte every 200 ms never completes the headers in time.
    let mut slow = connect_from(ip("127.0.0.3"), &sio).await.expect("connects");
    let started = Instant::now();
    let mut closed = false;
    for byte in handshake.as_bytes() {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(200), slow.read(&mut probe)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a slow client is cut off");
    assert!(started.elapsed() < Duration::from_secs(4), "cut off after {:?}", started.elapsed());
}

/// Upgraded Engine.IO websockets stay counted against the per-source cap for as long as they live (hyper lets
/// go of a connection at its upgrade; the cap must not).
async fn upgraded_socketio_sockets_stay_counted_per_source(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| c.max_connections_per_source = 3).await else { return };
    let sio = host(&app.socketio_url).to_owned();
    // An Engine.IO websocket from `from` (anonymous: no Socket.IO CONNECT yet), or `None` if refused.
    let upgrade = |from: &'static str| {
        let sio = sio.clone();
        async move {
            let mut stream = connect_from(ip(from), &sio).await.ok()?;
            let request = format!(
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {sio}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut answer = vec![0u8; 512];
            let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut answer)).await.ok()?.ok()?;
            String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 101").then_some(stream)
        }
    };
    let mut open = Vec::new();
    for n in 0..3 {
        open.push(upgrade("127.0.0.1").await.unwrap_or_else(|| panic!("websocket {n} is accepted")));
    }
    assert!(upgrade("127.0.0.1").await.is_none(), "a 4th websocket from one address is refused");
    assert!(upgrade("127.0.0.2").await.is_some(), "another address is still served");
    // Closing one gives its slot back once the server has seen the close.
    drop(open.pop());
    eventually(Duration::from_secs(10), async || {
        upgrade("127.0.0.1").await.ok_or("the address is not served again after one of its websockets closed".into())
    })
    .await;
}

async fn nul_never_reaches_the_store(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;

    // In a widget burst, the NUL message alone is refused (not retryable); its neighbours are stored.
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    for i in 0..36 {
        let text = if i == 17 { "bad \u{0}".to_owned() } else { format!("message {i}") };
        visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": format!("m{i}") })).await;
    }
    let (mut acks, mut errors) = (0, Vec::new());
    while acks + errors.len() < 36 {
        let frame = visitor.recv_json().await;
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => errors.push(frame),
            _ => {}
        }
    }
    assert_eq!(acks, 35);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "invalid_value");
    assert_eq!(errors[0]["client_msg_id"], "m17");
    visitor.send_json(&json!({ "type": "message", "text": "still here", "client_msg_id": "m36" })).await;
    visitor.recv_type("ack").await; // the socket still works after the refusal

    // HTTP: a JSON escape, a path segment, a form field.
    let conversations =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    let id = conversations["conversations"][0]["id"].as_str().expect("a conversation").to_owned();
    let path = format!("/api/conversations/{id}/messages");
    let reply = app.post_as(&path, &tenant.token, &json!({ "text": "agent \u{0} reply" })).await;
    expect_error(reply, StatusCode::BAD_REQUEST, "invalid_value").await;
    expect_error(app.delete_as("/api/integrations/%00", &tenant.token).await, StatusCode::BAD_REQUEST, "invalid_value")
        .await;
    let form = app
        .client
        .post(app.url("/api/webhooks/twilio/whatsapp"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("From=whatsapp%3A%2B15550001111&To=whatsapp%3A%2B15550002222&Body=a%00b&MessageSid=SM1")
        .send()
        .await
        .expect("sent");
    expect_error(form, StatusCode::BAD_REQUEST, "invalid_value").await;
    // Nothing half-written: the conversation holds the 36 good messages only.
    let messages = expect_status(app.get_as(&format!("{path}?limit=100"), &tenant.token).await, StatusCode::OK).await;
    let texts: Vec<&str> =
        messages["messages"].as_array().expect("messages").iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts.len(), 36, "{texts:?}");
    assert!(texts.iter().all(|t| !t.contains('\u{0}')));
}

async fn an_open_widget_socket_stops_at_suspension(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "before", "client_msg_id": "b" })).await;
    visitor.recv_type("ack").await;
    let mut idle = app.widget(&key, None).await;
    idle.recv_type("welcome").await;
    let suspend = format!("/api/admin/licenses/{}/suspend", tenant.license_key);
    expect_status(app.post_as(&suspend, ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    // Both sockets are closed at the suspension itself, whether they were talking or idle.
    assert_eq!(visitor.recv_close().await.0, 1008);
    assert_eq!(idle.recv_close().await, (1008, "the license is suspended".to_owned()));
}

/// A suspension the running server never heard of (the CLI on a single machine has no bus to tell
/// it): the next message is still refused, because the commit itself checks the license.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_refuses_a_license_suspended_behind_the_servers_back() {
    let Some(database_url) = fresh_database(Backend::Sqlite).await else { return };
    let app = spawn_with(test_config(database_url.clone(), Backend::Sqlite)).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "before", "client_msg_id": "b" })).await;
    visitor.recv_type("ack").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["license", "suspend", &tenant.license_key])
        .env("DATABASE_URL", &database_url)
        .env("RUST_LOG", "error")
        .output()
        .expect("the CLI runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    visitor.send_json(&json!({ "type": "message", "text": "after", "client_msg_id": "a" })).await;
    let refused = visitor.recv_type("error").await;
    assert_eq!(refused["code"], "license_suspended");
    assert_eq!(refused["client_msg_id"], "a");
    assert_eq!(visitor.recv_close().await.0, 1008);
}

/// A widget socket on `key` opened from the local address `from`.
async fn widget_from(app: &TestApp, from: &str, key: &str) -> Socket {
    let url = app.ws_url(&format!("/ws/widget?product_key={key}"));
    let stream = connect_from(ip(from), host(&app.address)).await.expect("connects");
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream)).await.expect("upgraded");
    Socket { ws }
}

/// Whether a fresh connection gets an answer to `GET /healthz` (one refused is closed unanswered).
async fn answered(app: &TestApp) -> bool {
    let Ok(mut stream) = TcpStream::connect(host(&app.address)).await else { return false };
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", host(&app.address));
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    matches!(read, Ok(Ok(_))) && answer.starts_with(b"HTTP/1.1 200")
}

/// Open WebSockets count against `MAX_CONNECTIONS` with the HTTP connections, though they leave the task
/// that accepted them at their upgrade: at the cap a new connection is closed unanswered, and a socket
/// that closes makes room.
async fn open_sockets_count_against_the_connection_cap(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| c.max_connections = 8).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    use futures_util::StreamExt;
    // The test client keeps idle HTTP connections of its own, which the server may close meanwhile: open
    // sockets until one is refused, until the sockets alone fill the cap and nothing more is answered.
    let url = app.ws_url(&format!("/ws/widget?product_key={key}"));
    let mut sockets = Vec::new();
    loop {
        while let Ok(Ok((ws, _))) =
            tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url.as_str())).await
        {
            let mut socket = Socket { ws };
            socket.recv_type("welcome").await;
            sockets.push(socket);
            assert!(sockets.len() <= 8, "more sockets than the cap allows");
        }
        if !answered(&app).await {
            break;
        }
    }
    assert!(sockets.len() >= 3, "only {} sockets before the cap", sockets.len());
    let mut closed = sockets.pop().expect("a socket");
    closed.ws.close(None).await.expect("closes");
    while closed.ws.next().await.is_some() {}
    eventually(Duration::from_secs(5), async || match answered(&app).await {
        true => Ok(()),
        false => Err("a closed socket's place was not given back".into()),
    })
    .await;
}

async fn one_source_cannot_spend_the_license_budget(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| {
        c.license_rate_per_second = 100;
        c.source_rate_per_second = 20;
    })
    .await
    else {
        return;
    };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    // One client with ten fresh visitor tokens floods typing frames from one address.
    let mut abusers = Vec::new();
    for _ in 0..10 {
        let mut socket = widget_from(&app, "127.0.0.1", &key).await;
        socket.recv_type("welcome").await;
        for _ in 0..60 {
            socket.send_json(&json!({ "type": "typing", "is_typing": true })).await;
        }
        abusers.push(socket);
    }
    let refused = abusers[9].recv_type("error").await;
    assert_eq!(refused["code"], "rate_limited");
    // A visitor elsewhere is served at once.
    let mut visitor = widget_from(&app, "127.0.0.2", &key).await;
    visitor.recv_type("welcome").await;
    for i in 0..5 {
        visitor
            .send_json(&json!({ "type": "message", "text": format!("hi {i}"), "client_msg_id": format!("h{i}") }))
            .await;
    }
    for _ in 0..5 {
        let frame = visitor.recv_json().await;
        assert_eq!(frame["type"], "ack", "the legitimate visitor was refused: {frame}");
    }
}

async fn sockets_per_visitor_and_new_conversations_per_source_are_capped(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| {
        c.max_sockets_per_visitor = 3;
        c.new_conversations_per_source_per_minute = 4;
    })
    .await
    else {
        return;
    };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut first = app.widget(&key, None).await;
    let token = first.recv_type("welcome").await["visitor_token"].as_str().expect("token").to_owned();
    let resume = format!("/ws/widget?product_key={key}&visitor_token={token}");
    let mut tabs = Vec::new();
    for _ in 0..2 {
        tabs.push(RawSocket::open(host(&app.address), &resume).await);
    }
    let stream = TcpStream::connect(host(&app.address)).await.expect("connects");
    let refused = RawSocket::handshake(stream, host(&app.address), &resume).await.err().expect("refused");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.contains("too_many_sockets") || refused.contains("content-length"), "{refused}");
    drop(tabs);
    // The server frees the slots once it has seen the tabs' connections end: soon, not at once.
    eventually(Duration::from_secs(5), async || {
        let stream = TcpStream::connect(host(&app.address)).await.expect("connects");
        let answer = RawSocket::handshake(stream, host(&app.address), &resume).await;
        answer.map_err(|refused| format!("a closed tab did not free its slot: {refused}"))
    })
    .await;

    // New conversations: four per address per minute; the fifth is refused, another address is not.
    first.send_json(&json!({ "type": "message", "text": "one", "client_msg_id": "c0" })).await;
    first.recv_type("ack").await;
    for i in 1..4 {
        let mut visitor = app.widget(&key, None).await;
        visitor.recv_type("welcome").await;
        visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": format!("c{i}") })).await;
        visitor.recv_type("ack").await;
    }
    let mut fifth = app.widget(&key, None).await;
    fifth.recv_type("welcome").await;
    fifth.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c5" })).await;
    let error = fifth.recv_type("error").await;
    assert_eq!((error["code"].as_str(), error["client_msg_id"].as_str()), (Some("rate_limited"), Some("c5")));
    let mut elsewhere = widget_from(&app, "127.0.0.2", &key).await;
    elsewhere.recv_type("welcome").await;
    elsewhere.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "e" })).await;
    elsewhere.recv_type("ack").await;
}

async fn bodies_are_held_to_their_documented_limits(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    // API bodies: 64 KiB.
    let big = json!({ "text": "x".repeat(70 * 1024) });
    let response = app.post_as("/api/conversations/any/messages", &tenant.token, &big).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Provider webhooks: 256 KiB (providers batch events); a signed 100 KB batch is taken, 300 KB is not.
    for (size, status) in [(100 * 1024, StatusCode::OK), (300 * 1024, StatusCode::PAYLOAD_TOO_LARGE)] {
        let body = json!({ "object": "page", "entry": [], "padding": "p".repeat(size) }).to_string();
        let signature = messenger_signature(body.as_bytes());
        let response = app
            .client
            .post(app.url("/api/webhooks/messenger"))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), status, "a {size}-byte Messenger body");
    }
}

async fn password_guessing_is_slowed_per_address_and_per_email(backend: Backend) {
    let Some(app) = spawn_tuned(backend, |c| {
        c.login_attempts_per_source_per_minute = 12;
        c.login_attempts_per_email_per_minute = 5;
    })
    .await
    else {
        return;
    };
    let tenant = app.new_tenant(&["chatbot"]).await; // one login
    for _ in 0..4 {
        expect_error(app.login(&tenant.email, "wrong-password").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let refused = app.login(&tenant.email, "wrong-password").await;
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("60"));
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Even the right password waits: the e-mail's budget is spent.
    expect_error(app.login(&tenant.email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other e-mails from this address, until the address's budget (12 with the register) is spent too.
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(app.login(&format!("guess{i}@example.com"), "wrong-password").await.status());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 4, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

fn messenger_signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(MESSENGER_SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

crate::on_both_stores!(
    frame_lying_about_its_length_is_closed_1009_at_once,
    fragmented_messages_are_assembled_within_the_limit,
    frames_sent_with_the_handshake_are_read,
    silent_and_slow_connections_cannot_take_the_socketio_port,
    upgraded_socketio_sockets_stay_counted_per_source,
    nul_never_reaches_the_store,
    an_open_widget_socket_stops_at_suspension,
    one_source_cannot_spend_the_license_budget,
    sockets_per_visitor_and_new_conversations_per_source_are_capped,
    bodies_are_held_to_their_documented_limits,
    password_guessing_is_slowed_per_address_and_per_email,
    open_sockets_count_against_the_connection_cap,
);

/// SIGTERM on a real node: every socket gets 1012 ("reconnect"), `/readyz` turns 503 first, and the
/// process exits 0 within its grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_socket_with_a_reconnect_code() {
    let Some(cluster) = crate::cluster::Cluster::new().await else { return };
    let mut node = cluster.node("a", &[("SHUTDOWN_GRACE_SECONDS", "5")]).await;
    let app = &node.app;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitors = Vec::new();
    for _ in 0..20 {
        let mut visitor = app.widget(&key, None).await;
        visitor.recv_type("welcome").await;
        visitors.push(visitor);
    }
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let pid = node.pid();
    let started = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    for visitor in &mut visitors {
        assert_eq!(visitor.recv_close().await.0, 1012);
    }
    assert_eq!(dashboard.recv_close().await.0, 1012);
    let status = tokio::time::timeout(Duration::from_secs(10), node.wait()).await.expect("exits within its grace");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(started.elapsed() < Duration::from_secs(7), "took {:?}", started.elapsed());
}

/// Frames of random bytes, random JSON and random field values: the server answers each with an ack,
/// an error frame or a close with a code, and keeps serving. A fixed seed per run, printed on failure.
async fn random_frames_never_break_the_widget_socket(backend: Backend) {
    use rand::{Rng, SeedableRng};
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261130);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let path = format!("/ws/widget?product_key={key}");
    let mut socket = RawSocket::open(host(&app.address), &path).await;
    socket.recv_type("welcome").await;
    for case in 0..300 {
        let frame: Vec<u8> = match rng.gen_range(0..4) {
            0 => (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect(),
            1 => random_json(&mut rng, 3).to_string().into_bytes(),
            2 => json!({ "type": "message", "text": random_text(&mut rng), "client_msg_id": format!("f{case}") })
                .to_string()
                .into_bytes(),
            _ => json!({ "type": FRAME_TYPES[rng.gen_range(0..FRAME_TYPES.len())],
                         "is_typing": random_json(&mut rng, 1), "seq": random_json(&mut rng, 1),
                         "metadata": random_json(&mut rng, 2) })
            .to_string()
            .into_bytes(),
        };
        socket.send_frame(true, TEXT, &frame).await.expect("frame sent");
        // Invalid UTF-8 is a protocol error (close 1007); anything else must be answered and the
        // socket kept, except frames that yield nothing by design (typing, read, context).
        let answer = tokio::time::timeout(Duration::from_millis(300), socket.recv()).await;
        match answer {
            Ok(Err(code)) => {
                assert!(matches!(code, 1007 | 1002), "seed {seed} case {case}: closed with {code}");
                socket = RawSocket::open(host(&app.address), &path).await;
                socket.recv_type("welcome").await;
            }
            Ok(Ok(frame)) => {
                assert!(
                    ["ack", "error", "pong", "message", "status"].contains(&frame["type"].as_str().unwrap_or("")),
                    "seed {seed} case {case}: {frame}"
                );
            }
            Err(_) => {} // typing, read and context frames are not answered
        }
    }
    expect_status(app.client.get(app.url("/readyz")).send().await.expect("readyz"), StatusCode::OK).await;
}

/// Random JSON bodies at every JSON endpoint: 4xx with a JSON error, never 5xx.
async fn random_bodies_never_get_a_5xx(backend: Backend) {
    use rand::SeedableRng;
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let endpoints = [
        "/api/auth/register",
        "/api/auth/login",
        "/api/products/chatbot/configure",
        "/api/products/keys",
        "/api/integrations",
        "/api/conversations/x/messages",
        "/api/conversations/x/close",
        "/api/conversations/x/read",
    ];
    for case in 0..200 {
        let path = endpoints[case % endpoints.len()];
        let body = random_json(&mut rng, 3);
        let response = app.post_as(path, &tenant.token, &body).await;
        let status = response.status();
        assert!(!status.is_server_error(), "case {case}: POST {path} {body} → {status}");
    }
}

crate::on_both_stores!(random_frames_never_break_the_widget_socket, random_bodies_never_get_a_5xx);

const FRAME_TYPES: [&str; 5] = ["typing", "read", "context", "ping", "message"];

fn random_text(rng: &mut impl rand::Rng) -> String {
    let pool = ['a', 'é', '\u{0}', '\u{fffd}', '😀', ' ', '"', '\\', '\n', '\u{202e}'];
    (0..rng.gen_range(0..40)).map(|_| pool[rng.gen_range(0..pool.len())]).collect()
}

fn random_json(rng: &mut impl rand::Rng, depth: u32) -> Value {
    match rng.gen_range(0..if depth == 0 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>() >> rng.gen_range(0..64)),
        3 => json!(random_text(rng)),
        4 => Value::Array((0..rng.gen_range(0..4)).map(|_| random_json(rng, depth - 1)).collect()),
        _ => {
            let keys =
                ["text", "email", "password", "license_key", "provider", "page_id", "status", "seq", "type", "x"];
            Value::Object(
                (0..rng.gen_range(0..5))
                    .map(|_| (keys[rng.gen_range(0..keys.len())].to_owned(), random_json(rng, depth - 1)))
                    .collect(),
            )
        }
    }
}
