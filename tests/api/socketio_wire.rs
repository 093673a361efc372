//! Socket.IO's WebSocket transport on the wire, below what the official clients show: Engine.IO's open
//! and heartbeat, refused namespaces and connects that may be retried, answers to unknown and binary
//! emits, the close for a malformed packet, the answer to a client's close; and long polling still served
//! (by socketioxide).

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame, skipping Engine.IO pings; panics on close or after 5 s.
async fn packet(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a packet within 5 s") {
            Some(Ok(Message::Text(text))) if text.as_str() != "2" => return text.to_string(),
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a packet, got {other:?}"),
        }
    }
}

/// The JSON after a packet's `prefix`.
fn data(packet: &str, prefix: &str) -> Value {
    let rest = packet.strip_prefix(prefix).unwrap_or_else(|| panic!("{packet:?} does not start with {prefix:?}"));
    serde_json::from_str(rest).unwrap_or_else(|err| panic!("{packet:?}: {err}"))
}

/// The answer to the emit `id`, skipping the events that arrive meanwhile (presence, metrics).
async fn ack(ws: &mut Ws, id: u64) -> Value {
    let prefix = format!("43{id}");
    loop {
        let next = packet(ws).await;
        if next.starts_with(&prefix) {
            return data(&next, &prefix)[0].clone();
        }
        assert!(next.starts_with("42"), "an event or the answer, got {next}");
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned())).await.expect("packet sent");
}

async fn the_websocket_transport_speaks_engine_io_4(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", app.socketio_url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("upgrade");

    let open = data(&packet(&mut ws).await, "0");
    assert_eq!((open["upgrades"].clone(), open["pingInterval"].as_u64()), (json!([]), Some(25_000)), "{open}");
    assert!(open["sid"].as_str().is_some_and(|sid| !sid.is_empty()), "{open}");
    send(&mut ws, "2").await;
    assert_eq!(packet(&mut ws).await, "3", "a client ping is answered");

    // Another namespace, then no token: refused, and the connection stays for another try.
    send(&mut ws, "40/admin,").await;
    assert_eq!(data(&packet(&mut ws).await, "44/admin,")["message"], "Invalid namespace");
    send(&mut ws, "40").await;
    let refused = data(&packet(&mut ws).await, "44");
    assert!(refused["message"].as_str().is_some_and(|m| m.starts_with("authentication required")), "{refused}");
    send(&mut ws, &format!("40{}", json!({ "token": tenant.token }))).await;
    assert!(data(&packet(&mut ws).await, "40")["sid"].is_string());
    let ready = data(&packet(&mut ws).await, "42");
    assert_eq!((ready[0].as_str(), ready[1]["replayed"].as_u64()), (Some("recovery:ready"), Some(0)), "{ready}");

    // Emits the server does not take are answered through their acks.
    send(&mut ws, r#"425["conversation:archive",{}]"#).await;
    let unknown = ack(&mut ws, 5).await;
    assert_eq!(unknown["error"]["code"], "unknown_event", "{unknown}");
    send(&mut ws, r#"451-6["message:send",{"_placeholder":true,"num":0}]"#).await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.expect("attachment sent");
    let binary = ack(&mut ws, 6).await;
    assert_eq!(binary["error"]["code"], "invalid_payload", "{binary}");

    // Live events arrive as one-argument events with their place in the history.
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c1" })).await;
    let message = loop {
        let event = data(&packet(&mut ws).await, "42");
        if event[0] == "message:new" {
            break event;
        }
    };
    assert_eq!(message[1]["message"]["text"], "hello", "{message}");
    assert!(message[1]["_offset"].is_u64() && message[1]["_epoch"].is_string(), "{message}");
    assert_eq!(message.as_array().map(Vec::len), Some(2), "one argument: {message}");

    // A packet that is not Socket.IO's closes the connection with a protocol error.
    send(&mut ws, "42{}").await;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a close within 5 s") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(closed, Some(1002));

    // A client's close is answered with the close handshake, not a dropped connection.
    let (mut leaving, _) = tokio_tungstenite::connect_async(&url).await.expect("upgrade");
    packet(&mut leaving).await;
    leaving.close(None).await.expect("close sent");
    match tokio::time::timeout(Duration::from_secs(5), leaving.next()).await.expect("an answer within 5 s") {
        Some(Ok(Message::Close(_))) => {}
        other => panic!("expected the close answered, got {other:?}"),
    }

    // Refused connects may be retried on one connection, but not without end.
    let (mut guesser, _) = tokio_tungstenite::connect_async(&url).await.expect("upgrade");
    packet(&mut guesser).await;
    for _ in 0..5 {
        send(&mut guesser, r#"40{"token":"guess"}"#).await;
        assert!(packet(&mut guesser).await.starts_with("44"));
    }
    match tokio::time::timeout(Duration::from_secs(5), guesser.next()).await.expect("a close within 5 s") {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008, "{frame:?}"),
        other => panic!("expected a policy close, got {other:?}"),
    }

    // An upgrade without the WebSocket handshake's headers is refused with a reason.
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", app.socketio_url);
    let bare = app.client.get(url).header("upgrade", "websocket").header("connection", "upgrade").send().await.unwrap();
    expect_error(bare, reqwest::StatusCode::BAD_REQUEST, "bad_handshake").await;

    // Long polling is still served, and offers the upgrade to a WebSocket.
    let polled = reqwest::get(format!("{}/socket.io/?EIO=4&transport=polling", app.socketio_url)).await.unwrap();
    let body = polled.text().await.unwrap();
    assert_eq!(data(&body, "0")["upgrades"], json!(["websocket"]), "{body}");
}

crate::on_both_stores!(the_websocket_transport_speaks_engine_io_4);
