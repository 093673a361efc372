//! Dashboard recovery on one node: a dashboard whose connection is cut (a TCP proxy in between) while an
//! agent replies reconnects with the last `{offset, epoch}` it received and gets exactly what it missed,
//! in order, once — or `recovery:reset` when that is gone.

use crate::cluster::Proxy;
use crate::helpers::*;
use crate::probe::{clients_available, SioProbe};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Where a dashboard stopped: the last event's offset and epoch.
pub type Place = (u64, String);

/// A plain dashboard socket at `address` (`host:port`), resuming from `from`; retries for a few seconds
/// while nothing listens (a proxy just restored), as a reconnecting client does.
pub async fn plain_dashboard(address: &str, token: &str, from: Option<&Place>) -> Socket {
    let mut url = format!("ws://{address}/ws/dashboard?token={token}");
    if let Some((offset, epoch)) = from {
        url.push_str(&format!("&offset={offset}&epoch={epoch}"));
    }
    eventually(std::time::Duration::from_secs(5), async || match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => Ok(Socket { ws }),
        Err(err) => Err(format!("the dashboard socket did not open at {address}: {err}")),
    })
    .await
}

/// The frames before the recovery notice, and the notice (`recovery:ready` or `recovery:reset`).
pub async fn until_notice(socket: &mut Socket) -> (Vec<Value>, Value) {
    let mut frames = Vec::new();
    loop {
        let frame = socket.recv_json().await;
        if frame["event"].as_str().is_some_and(|e| e.starts_with("recovery:")) {
            return (frames, frame);
        }
        frames.push(frame);
    }
}

/// A frame's place, if it has one.
pub fn place_of(frame: &Value) -> Option<Place> {
    Some((frame["offset"].as_u64()?, frame["epoch"].as_str()?.to_owned()))
}

/// Reads frames until one whose `message:new` says `text`; returns the place of the last event read.
pub async fn read_until_message(socket: &mut Socket, text: &str) -> Place {
    loop {
        let frame = socket.recv_json().await;
        if frame["event"] == "message:new" && frame["data"]["message"]["text"] == text {
            return place_of(&frame).expect("a message has a place");
        }
    }
}

/// The witness's frames with a place after `after`, up to `through` (reading as long as needed).
pub async fn witnessed(witness: &mut Socket, after: u64, through: u64) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = witness.recv_json().await;
        let Some((offset, _)) = place_of(&frame) else { continue };
        if offset > after {
            seen.push(frame);
        }
        if offset >= through {
            return seen;
        }
    }
}

/// The texts of the `message:new` frames among `frames`.
pub fn texts(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["event"] == "message:new")
        .map(|f| f["data"]["message"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The agent answers `texts` in `conversation` over HTTP on `app`.
pub async fn agent_replies(app: &TestApp, token: &str, conversation: &str, texts: &[String]) {
    let path = format!("/api/conversations/{conversation}/messages");
    for text in texts {
        expect_status(app.post_as(&path, token, &json!({ "text": text })).await, StatusCode::CREATED).await;
    }
}

/// A visitor of `key` opens a conversation on `app`; returns the socket (kept open) and its id.
pub async fn conversation(app: &TestApp, key: &str) -> (Socket, String) {
    let mut visitor = app.widget(key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c1" })).await;
    let ack = visitor.recv_type("ack").await;
    (visitor, ack["conversation_id"].as_str().expect("conversation id").to_owned())
}

/// A new tenant of `app` with one open conversation: the tenant, the visitor's socket (kept open), its id.
pub async fn tenant_in_conversation(app: &TestApp) -> (Tenant, Socket, String) {
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let (visitor, conversation_id) = conversation(app, &key).await;
    (tenant, visitor, conversation_id)
}

pub fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix} {i}")).collect()
}

/// `host:port` of an `http://` URL.
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

async fn plain_dashboard_gets_exactly_what_it_missed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, _visitor, conversation_id) = tenant_in_conversation(&app).await;
    let proxy = Proxy::start(host_port(&app.address)).await;
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let mut witness = app.dashboard_ws(&tenant.token).await;
    let mut dashboard = plain_dashboard(&through_proxy, &tenant.token, None).await;
    let (_, ready) = until_notice(&mut dashboard).await;
    assert_eq!(ready["event"], "recovery:ready", "a fresh start learns its place: {ready}");

    agent_replies(&app, &tenant.token, &conversation_id, &["before".into()]).await;
    let last = read_until_message(&mut dashboard, "before").await;
    proxy.cut();
    dashboard.recv_close().await;
    // Long enough that the replay takes more than one write.
    let missed: Vec<String> =
        numbered("missed", 5).into_iter().map(|text| format!("{text} {}", "x".repeat(3900))).collect();
    agent_replies(&app, &tenant.token, &conversation_id, &missed).await;
    proxy.restore();

    let mut resumed = plain_dashboard(&through_proxy, &tenant.token, Some(&last)).await;
    let (replayed, ready) = until_notice(&mut resumed).await;
    assert_eq!(ready["event"], "recovery:ready", "{ready}");
    assert_eq!(ready["data"]["epoch"], last.1.as_str());
    assert_eq!(ready["data"]["replayed"], replayed.len());
    let through = ready["data"]["offset"].as_u64().expect("offset");
    assert_eq!(texts(&replayed), missed, "the missed messages, in order");
    let offsets: Vec<u64> = replayed.iter().filter_map(place_of).map(|(o, _)| o).collect();
    assert_eq!(offsets.len(), replayed.len(), "only events with a place are replayed");
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "in order: {offsets:?}");
    // Exactly what a dashboard that was never cut received after the same place.
    assert_eq!(replayed, witnessed(&mut witness, last.0, through).await);

    agent_replies(&app, &tenant.token, &conversation_id, &["after".into()]).await;
    read_until_message(&mut resumed, "after").await;
    let rest = resumed.drain_dashboard().await;
    assert!(rest.iter().all(|f| !f.contains("\"message:new\"")), "nothing twice: {rest:?}");
}

async fn too_old_or_foreign_places_get_a_reset(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let mut config = test_config(database_url, backend);
    config.recovery_window_events = 3;
    let app = spawn_with(config).await;
    let (tenant, _visitor, conversation_id) = tenant_in_conversation(&app).await;
    let address = host_port(&app.address);
    let mut dashboard = plain_dashboard(&address, &tenant.token, None).await;
    agent_replies(&app, &tenant.token, &conversation_id, &["before".into()]).await;
    let last = read_until_message(&mut dashboard, "before").await;
    drop(dashboard);
    agent_replies(&app, &tenant.token, &conversation_id, &numbered("missed", 5)).await;

    let mut too_old = plain_dashboard(&address, &tenant.token, Some(&last)).await;
    let (replayed, reset) = until_notice(&mut too_old).await;
    assert_eq!((reset["event"].as_str(), replayed.len()), (Some("recovery:reset"), 0), "{reset}");
    assert_eq!(reset["data"]["epoch"], last.1.as_str(), "the same history, but its window moved on");
    assert!(reset["data"]["offset"].as_u64() >= Some(last.0 + 5));
    // From the place the reset gives, the socket continues live.
    agent_replies(&app, &tenant.token, &conversation_id, &["after".into()]).await;
    read_until_message(&mut too_old, "after").await;

    let foreign = (last.0, "not-this-epoch".to_owned());
    let (_, reset) = until_notice(&mut plain_dashboard(&address, &tenant.token, Some(&foreign)).await).await;
    assert_eq!(reset["event"], "recovery:reset");
    assert_eq!(reset["data"]["epoch"], last.1.as_str(), "the reset names the current epoch");
}

async fn a_restart_keeps_the_history_only_where_it_is_shared(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let config = test_config(database_url, backend);
    let first = spawn_with(config.clone()).await;
    let tenant = first.new_tenant(&["chatbot"]).await;
    let key = first.chat_key(&tenant).await;
    let (_visitor, conversation_id) = conversation(&first, &key).await;
    let mut dashboard = first.dashboard_ws(&tenant.token).await;
    agent_replies(&first, &tenant.token, &conversation_id, &["before".into()]).await;
    let last = read_until_message(&mut dashboard, "before").await;
    agent_replies(&first, &tenant.token, &conversation_id, &["missed".into()]).await;

    // The same store (and Redis) in a new process: the history is in Redis, or was in the old process.
    let restarted = spawn_with(config).await;
    let mut resumed = plain_dashboard(&host_port(&restarted.address), &tenant.token, Some(&last)).await;
    let (replayed, notice) = until_notice(&mut resumed).await;
    match backend {
        Backend::Sqlite => {
            assert_eq!(notice["event"], "recovery:reset", "a single node's history dies with it: {notice}");
            assert_ne!(notice["data"]["epoch"], last.1.as_str(), "a new epoch");
        }
        Backend::Postgres => {
            assert_eq!(notice["event"], "recovery:ready", "Redis keeps the history: {notice}");
            assert_eq!(texts(&replayed), ["missed"]);
        }
    }
}

async fn socketio_dashboard_recovers_through_its_own_reconnection(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    if !clients_available() {
        return;
    }
    let (tenant, _visitor, conversation_id) = tenant_in_conversation(&app).await;
    let proxy = Proxy::start(host_port(&app.socketio_url)).await;
    let url = format!("http://127.0.0.1:{}", proxy.port);
    let mut probe = SioProbe::connect_recovering(&url, &tenant.token).await.connected().await;
    probe.event("recovery:ready").await;
    // A short outage, then a long one: more missed events than one socket's queue takes at once.
    for (round, missed) in [(0, 5), (1, 150)] {
        let before = format!("before {round}");
        agent_replies(&app, &tenant.token, &conversation_id, std::slice::from_ref(&before)).await;
        let seen = probe.event_where("message:new", |d| d["message"]["text"] == before.as_str()).await;
        assert!(seen["_offset"].as_u64().is_some() && seen["_epoch"].is_string(), "{seen}");
        proxy.cut();
        probe.disconnected().await;
        let expected = numbered(&format!("missed {round}"), missed);
        agent_replies(&app, &tenant.token, &conversation_id, &expected).await;
        proxy.restore();

        let mut got = Vec::new();
        let mut offsets = Vec::new();
        let ready = loop {
            let line = probe.next().await;
            match line["event"].as_str() {
                Some("message:new") => {
                    got.push(line["data"]["message"]["text"].as_str().unwrap_or_default().to_owned());
                    offsets.push(line["data"]["_offset"].as_u64().expect("an offset"));
                }
                Some("recovery:ready") => break line["data"].clone(),
                Some("recovery:reset") => panic!("expected a replay, got {line}"),
                _ => {}
            }
        };
        assert_eq!(got, expected, "round {round}: the missed messages, in order, once");
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        assert!(ready["offset"].as_u64() >= offsets.last().copied());
    }
    agent_replies(&app, &tenant.token, &conversation_id, &["after".into()]).await;
    probe.event_where("message:new", |d| d["message"]["text"] == "after").await;
    let texts: Vec<&Value> = probe.seen.iter().filter(|l| l["event"] == "message:new").collect();
    let unique: std::collections::HashSet<String> =
        texts.iter().map(|l| l["data"]["message"]["id"].to_string()).collect();
    assert_eq!(unique.len(), texts.len(), "no message delivered twice");
}

crate::on_both_stores!(
    plain_dashboard_gets_exactly_what_it_missed,
    too_old_or_foreign_places_get_a_reset,
    a_restart_keeps_the_history_only_where_it_is_shared,
    socketio_dashboard_recovers_through_its_own_reconnection,
);
