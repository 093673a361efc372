//! Zero-loss rolling restart: three nodes behind nginx on PostgreSQL + Redis, under a steady load of
//! visitors (widget protocol with resume and resend, as `assets/widget.js` does it), plain dashboard
//! sockets (reconnect and refetch) and agent replies over HTTP (resent with the same `client_msg_id`
//! on 502/503). Each node in turn gets SIGTERM, exits 0 and starts again on the same ports. At the end
//! every acknowledged message is stored once, and every visitor is connected and has seen its whole
//! conversation in order.
//!
//! Sizes come from the environment (the load run, `loadtest/rolling_restart`, raises them):
//! `ROLLING_VISITORS` (6), `ROLLING_DASHBOARDS` (2), `ROLLING_MESSAGE_EVERY_MS` (150, per visitor),
//! `ROLLING_REPLY_EVERY_MS` (100), `ROLLING_SETTLE_MS` (1500, between restarts); `ROLLING_RESULT`
//! names a file that gets one JSON row with the measured numbers.

use crate::helpers::*;
use crate::nginx::{start_node, start_nodes, Nginx};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn param(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Connection state of every client, for the reconnect-burst measurement.
#[derive(Default)]
struct Links {
    /// Per client: when it lost and regained its socket.
    outages: Vec<Vec<(Instant, Option<Instant>)>>,
    connected: Vec<bool>,
}

impl Links {
    fn add(&mut self) -> usize {
        self.outages.push(Vec::new());
        self.connected.push(false);
        self.connected.len() - 1
    }

    fn up(&mut self, client: usize) {
        self.connected[client] = true;
        if let Some(last) = self.outages[client].last_mut() {
            if last.1.is_none() {
                last.1 = Some(Instant::now());
            }
        }
    }

    fn down(&mut self, client: usize) {
        if self.connected[client] {
            self.connected[client] = false;
            self.outages[client].push((Instant::now(), None));
        }
    }

    fn all_up(&self) -> bool {
        self.connected.iter().all(|c| *c)
    }
}

/// What every task shares.
struct Load {
    proxy: String,
    token: String,
    key: String,
    /// No new messages from now on (resends and catching up go on).
    stop_sending: AtomicBool,
    /// Everything is stored: clients finish once caught up.
    finish: AtomicBool,
    conversations: Mutex<Vec<String>>,
    links: Mutex<Links>,
    client: reqwest::Client,
    /// 502/503/504 and refused connections the agent retried.
    agent_retries: AtomicU64,
}

impl Load {
    fn ws(&self, path: &str) -> String {
        format!("{}{}", self.proxy.replacen("http://", "ws://", 1), path)
    }
}

/// What one visitor saw.
#[derive(Debug, Default)]
struct VisitorReport {
    conversation_id: String,
    /// client_msg_id → stored id, from acks.
    acked: HashMap<String, String>,
    /// Everything it saw, by number: stored id.
    view: BTreeMap<i64, String>,
    unacked: usize,
    connections: usize,
    violations: Vec<String>,
}

async fn backoff() {
    let ms = rand::thread_rng().gen_range(50..200);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// One visitor: the widget protocol with resume (`visitor_token` + last gap-free `seq`) and resend of
/// unacknowledged messages under their first `client_msg_id`.
async fn visitor(load: Arc<Load>, n: usize, every: Duration) -> VisitorReport {
    let link = load.links.lock().expect("links").add();
    let mut report = VisitorReport::default();
    let mut token: Option<String> = None;
    let mut last_seq = 0i64; // highest number seen with nothing missing below it
    let mut unacked: VecDeque<(String, String)> = VecDeque::new();
    let mut sent = 0u64;
    let mut finishing: Option<Instant> = None;
    let mut stuck_reported = false;
    loop {
        let mut path = format!("/ws/widget?product_key={}", load.key);
        if let Some(token) = &token {
            path.push_str(&format!("&visitor_token={token}&last_seq={last_seq}"));
        }
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(load.ws(&path)).await else {
            backoff().await;
            continue;
        };
        report.connections += 1;
        let mut welcomed = false;
        // Message frames of one connection must come in increasing order, after what was asked for.
        let mut frame_seq = last_seq;
        let mut tick = tokio::time::interval(every);
        let mut caught_up = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                frame = tokio::time::timeout(Duration::from_secs(10), ws.next()) => {
                    let text = match frame {
                        Ok(Some(Ok(WsMessage::Text(text)))) => text,
                        Ok(Some(Ok(WsMessage::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
                        Ok(Some(Ok(_))) => continue,
                        // Quiet is normal once the load stops.
                        Err(_) if load.stop_sending.load(Ordering::Relaxed) => continue,
                        Err(_) => {
                            report.violations.push("no frame for 10 s".into());
                            break;
                        }
                    };
                    let frame: Value = serde_json::from_str(&text).expect("frames are JSON");
                    match frame["type"].as_str().unwrap_or("") {
                        "welcome" => {
                            welcomed = true;
                            load.links.lock().expect("links").up(link);
                            let t = frame["visitor_token"].as_str().expect("visitor_token").to_owned();
                            let conversation = frame["conversation_id"].as_str().unwrap_or("").to_owned();
                            if token.as_ref().is_some_and(|known| *known != t) {
                                report.violations.push(format!("resume gave a new visitor token {t}"));
                            }
                            token = Some(t);
                            if !conversation.is_empty() && report.conversation_id.is_empty() {
                                report.conversation_id = conversation.clone();
                                load.conversations.lock().expect("conversations").push(conversation);
                            }
                            for (id, text) in &unacked {
                                let frame = json!({ "type": "message", "text": text, "client_msg_id": id });
                                if ws.send(WsMessage::text(frame.to_string())).await.is_err() {
                                    break;
                                }
                            }
                        }
                        "ack" => {
                            let id = frame["client_msg_id"].as_str().unwrap_or("").to_owned();
                            unacked.retain(|(pending, _)| *pending != id);
                            let stored = frame["id"].as_str().unwrap_or("").to_owned();
                            let seq = frame["seq"].as_i64().unwrap_or(0);
                            if report.conversation_id.is_empty() {
                                let conversation = frame["conversation_id"].as_str().unwrap_or("").to_owned();
                                report.conversation_id = conversation.clone();
                                load.conversations.lock().expect("conversations").push(conversation);
                            }
                            if let Some(earlier) = report.acked.insert(id.clone(), stored.clone()) {
                                if earlier != stored {
                                    report.violations.push(format!("{id} acked as {earlier} and {stored}"));
                                }
                            }
                            see(&mut report, &mut last_seq, seq, stored);
                        }
                        "message" => {
                            let seq = frame["seq"].as_i64().unwrap_or(0);
                            if seq <= frame_seq {
                                report.violations.push(format!("message {seq} after {frame_seq} (asked after {last_seq})"));
                            }
                            frame_seq = frame_seq.max(seq);
                            see(&mut report, &mut last_seq, seq, frame["id"].as_str().unwrap_or("").to_owned());
                        }
                        "error" => {
                            let code = frame["code"].as_str().unwrap_or("");
                            if code != "unavailable" {
                                report.violations.push(format!("error frame {frame}"));
                            }
                        }
                        _ => {}
                    }
                }
                _ = tick.tick(), if welcomed && !load.stop_sending.load(Ordering::Relaxed) => {
                    sent += 1;
                    let id = format!("v{n}-{sent}");
                    let text = format!("visitor {n} message {sent}");
                    unacked.push_back((id.clone(), text.clone()));
                    let frame = json!({ "type": "message", "text": text, "client_msg_id": id });
                    if ws.send(WsMessage::text(frame.to_string())).await.is_err() {
                        break;
                    }
                }
                _ = caught_up.tick(), if load.finish.load(Ordering::Relaxed) => {
                    let stored = stored_last_seq(&load, &report.conversation_id).await;
                    if unacked.is_empty() && stored == Some(last_seq) {
                        report.unacked = 0;
                        let _ = ws.close(None).await;
                        return report;
                    }
                    let waiting = finishing.get_or_insert_with(Instant::now).elapsed();
                    if waiting > Duration::from_secs(5) && !stuck_reported {
                        stuck_reported = true;
                        let missing: Vec<i64> = (last_seq + 1..=stored.unwrap_or(0)).filter(|s| !report.view.contains_key(s)).collect();
                        report.violations.push(format!(
                            "still behind 5 s after the load stopped on its live socket: at {last_seq}, stored {stored:?}, missing {missing:?}, unacked {}",
                            unacked.len()
                        ));
                        // Resuming gets the rest from the store.
                        break;
                    }
                    // Still waiting for an ack: resend (a dropped frame or an `unavailable` error).
                    for (id, text) in &unacked {
                        let frame = json!({ "type": "message", "text": text, "client_msg_id": id });
                        let _ = ws.send(WsMessage::text(frame.to_string())).await;
                    }
                }
            }
        }
        load.links.lock().expect("links").down(link);
        report.unacked = unacked.len();
        backoff().await;
    }
}

/// Records a stored message in the visitor's view and moves its gap-free number on.
fn see(report: &mut VisitorReport, last_seq: &mut i64, seq: i64, id: String) {
    if let Some(earlier) = report.view.insert(seq, id.clone()) {
        if earlier != id {
            report.violations.push(format!("number {seq} was {earlier} and then {id}"));
        }
    }
    while report.view.contains_key(&(*last_seq + 1)) {
        *last_seq += 1;
    }
}

async fn stored_last_seq(load: &Load, conversation: &str) -> Option<i64> {
    let url = format!("{}/api/conversations/{conversation}", load.proxy);
    let response = load.client.get(url).bearer_auth(&load.token).send().await.ok()?;
    let body: Value = response.json().await.ok()?;
    body["last_seq"].as_i64().or_else(|| body["conversation"]["last_seq"].as_i64())
}

/// What one plain dashboard socket saw.
#[derive(Debug, Default)]
struct DashboardReport {
    connections: usize,
    events: u64,
    refetches: u64,
    violations: Vec<String>,
}

/// A plain `/ws/dashboard` socket that reconnects and refetches the conversation list on close.
async fn dashboard(load: Arc<Load>) -> DashboardReport {
    let link = load.links.lock().expect("links").add();
    let mut report = DashboardReport::default();
    while !load.finish.load(Ordering::Relaxed) {
        let url = load.ws(&format!("/ws/dashboard?token={}", load.token));
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
            backoff().await;
            continue;
        };
        report.connections += 1;
        load.links.lock().expect("links").up(link);
        let list = format!("{}/api/products/chatbot/conversations?limit=100", load.proxy);
        if let Ok(response) = load.client.get(list).bearer_auth(&load.token).send().await {
            if response.status().is_success() {
                report.refetches += 1;
            }
        }
        let mut seen = HashSet::new();
        loop {
            if load.finish.load(Ordering::Relaxed) {
                let _ = ws.close(None).await;
                return report;
            }
            match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("frames are JSON");
                    if frame["event"] == "message:new" {
                        report.events += 1;
                        let id = frame["data"]["message"]["id"].as_str().unwrap_or("").to_owned();
                        if !seen.insert(id.clone()) {
                            report.violations.push(format!("message:new {id} twice on one socket"));
                        }
                    }
                }
                Ok(Some(Ok(WsMessage::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
                Ok(Some(Ok(_))) => {}
            }
        }
        load.links.lock().expect("links").down(link);
        backoff().await;
    }
    report
}

/// Agent replies over HTTP through nginx; a 502/503/504 or a dropped connection is retried with the
/// same `client_msg_id`. Answers client_msg_id → stored id.
async fn agent(load: Arc<Load>, every: Duration) -> (HashMap<String, String>, Vec<String>) {
    let mut acked = HashMap::new();
    let mut violations = Vec::new();
    let mut n = 0u64;
    while !load.stop_sending.load(Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let conversations = load.conversations.lock().expect("conversations").clone();
        if conversations.is_empty() {
            continue;
        }
        n += 1;
        let conversation = &conversations[usize::try_from(n).unwrap_or(0) % conversations.len()];
        let id = format!("a-{n}");
        let url = format!("{}/api/conversations/{conversation}/messages", load.proxy);
        let body = json!({ "text": format!("agent reply {n}"), "client_msg_id": id });
        loop {
            match load.client.post(&url).bearer_auth(&load.token).json(&body).send().await {
                Ok(response) if response.status().is_success() => {
                    let answer: Value = response.json().await.expect("reply JSON");
                    acked.insert(id.clone(), answer["message"]["id"].as_str().unwrap_or("").to_owned());
                    break;
                }
                Ok(response)
                    if [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT]
                        .contains(&response.status()) => {}
                Ok(response) => {
                    violations.push(format!("reply {id}: {}", response.status()));
                    break;
                }
                Err(_) => {}
            }
            load.agent_retries.fetch_add(1, Ordering::Relaxed);
            backoff().await;
        }
    }
    (acked, violations)
}

/// Every stored message of a conversation, oldest first.
async fn stored_messages(app: &TestApp, token: &str, conversation: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0i64;
    loop {
        let path = format!("/api/conversations/{conversation}/messages?after={after}&limit=100");
        let page = expect_status(app.get_as(&path, token).await, StatusCode::OK).await;
        let messages = page["messages"].as_array().expect("messages").clone();
        let Some(last) = messages.last() else { break };
        after = last["seq"].as_i64().expect("seq");
        let full = messages.len() == 100;
        all.extend(messages);
        if !full {
            break;
        }
    }
    all
}

/// One restart as measured.
#[derive(Debug)]
struct Restart {
    node: usize,
    /// SIGTERM → process exited (status 0).
    stop: Duration,
    /// Start → listening.
    start: Duration,
    /// SIGTERM → every socket it closed connected again elsewhere.
    reconnect_burst: Duration,
    /// Sockets that lost their connection in this restart.
    sockets_moved: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_loses_nothing() {
    let Some(cluster) = crate::cluster::Cluster::new().await else { return };
    if crate::nginx::nginx_binary().is_none() {
        return;
    }
    let visitors = param("ROLLING_VISITORS", 6) as usize;
    let dashboards = param("ROLLING_DASHBOARDS", 2) as usize;
    let message_every = Duration::from_millis(param("ROLLING_MESSAGE_EVERY_MS", 150));
    let reply_every = Duration::from_millis(param("ROLLING_REPLY_EVERY_MS", 100));
    let settle = Duration::from_millis(param("ROLLING_SETTLE_MS", 1500));
    let began = Instant::now();

    // Every client comes from 127.0.0.1: lift the per-source caps (nginx passes the address on).
    let extra: &[(&str, &str)] = &[
        ("SOURCE_RATE_PER_SECOND", "100000"),
        ("NEW_CONVERSATIONS_PER_SOURCE_PER_MINUTE", "100000"),
        ("LICENSE_RATE_PER_SECOND", "100000"),
        ("MAX_CONNECTIONS_PER_SOURCE", "100000"),
    ];
    let (mut nodes, ports) = start_nodes(&cluster, 3, extra).await;
    let Some(nginx) = Nginx::start(&ports).await else { return };
    let app = &nginx.app;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let load = Arc::new(Load {
        proxy: app.address.clone(),
        token: tenant.token.clone(),
        key,
        stop_sending: AtomicBool::new(false),
        finish: AtomicBool::new(false),
        conversations: Mutex::default(),
        links: Mutex::default(),
        client: reqwest::Client::new(),
        agent_retries: AtomicU64::new(0),
    });
    let visitor_tasks: Vec<_> = (0..visitors).map(|n| tokio::spawn(visitor(load.clone(), n, message_every))).collect();
    let dashboard_tasks: Vec<_> = (0..dashboards).map(|_| tokio::spawn(dashboard(load.clone()))).collect();
    let agent_task = tokio::spawn(agent(load.clone(), reply_every));

    // Everyone connected, then a moment of steady load.
    let connected_by = Instant::now() + Duration::from_secs(20);
    while !load.links.lock().expect("links").all_up()
        || load.links.lock().expect("links").connected.len() < visitors + dashboards
    {
        assert!(Instant::now() < connected_by, "the clients did not all connect through nginx");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(settle).await;

    let mut restarts = Vec::new();
    for i in 0..nodes.len() {
        let sigterm = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(nodes[i].pid(), libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(15), nodes[i].wait()).await.expect("exits within 15 s");
        assert_eq!(status.code(), Some(0), "node {i} exit status {status:?}");
        let stop = sigterm.elapsed();
        let started = Instant::now();
        nodes[i] = start_node(&cluster, &format!("n{i}"), ports[i], extra).await;
        let start = started.elapsed();
        let back_by = Instant::now() + Duration::from_secs(15);
        while !load.links.lock().expect("links").all_up() {
            assert!(Instant::now() < back_by, "clients did not reconnect within 15 s of restarting node {i}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (burst, moved) = {
            let links = load.links.lock().expect("links");
            let mut burst = Duration::ZERO;
            let mut moved = 0;
            for outages in &links.outages {
                for (down, up) in outages.iter().filter(|(down, _)| *down >= sigterm) {
                    moved += 1;
                    burst = burst.max(up.unwrap_or(*down).saturating_duration_since(sigterm));
                }
            }
            (burst, moved)
        };
        restarts.push(Restart { node: i, stop, start, reconnect_burst: burst, sockets_moved: moved });
        tokio::time::sleep(settle).await;
    }

    // Stop sending, let every resend land, then let clients catch up and finish.
    load.stop_sending.store(true, Ordering::Relaxed);
    let (agent_acked, agent_violations) = agent_task.await.expect("agent task");
    load.finish.store(true, Ordering::Relaxed);
    let mut reports = Vec::new();
    for task in visitor_tasks {
        reports.push(
            tokio::time::timeout(Duration::from_secs(20), task).await.expect("visitor caught up").expect("visitor"),
        );
    }
    let mut dashboard_reports = Vec::new();
    for task in dashboard_tasks {
        dashboard_reports.push(
            tokio::time::timeout(Duration::from_secs(10), task).await.expect("dashboard ends").expect("dashboard"),
        );
    }

    // Every acknowledged message is stored exactly once; every visitor saw its conversation whole.
    let mut problems: Vec<String> = agent_violations;
    let mut stored_total = 0usize;
    let mut agent_found: HashMap<String, usize> = HashMap::new();
    let mut visitor_acked = 0usize;
    for (n, report) in reports.iter().enumerate() {
        problems.extend(report.violations.iter().map(|v| format!("visitor {n}: {v}")));
        let stored = stored_messages(app, &tenant.token, &report.conversation_id).await;
        stored_total += stored.len();
        let mut by_client_id: HashMap<(String, String), usize> = HashMap::new();
        for (i, message) in stored.iter().enumerate() {
            if message["seq"].as_i64() != Some(i as i64 + 1) {
                problems.push(format!("visitor {n}: stored numbers not contiguous at {message}"));
            }
            let sender = message["sender"].as_str().unwrap_or("").to_owned();
            if let Some(id) = message["client_msg_id"].as_str() {
                *by_client_id.entry((sender.clone(), id.to_owned())).or_default() += 1;
                if sender == "agent" {
                    *agent_found.entry(id.to_owned()).or_default() += 1;
                }
            }
        }
        for ((sender, id), count) in &by_client_id {
            if *count != 1 {
                problems.push(format!("visitor {n}: {sender} {id} stored {count} times"));
            }
        }
        for (id, stored_id) in &report.acked {
            visitor_acked += 1;
            let found =
                stored.iter().any(|m| m["sender"] == "visitor" && m["client_msg_id"] == *id && m["id"] == *stored_id);
            if !found {
                problems.push(format!("visitor {n}: acked {id} ({stored_id}) is not stored"));
            }
        }
        if report.unacked != 0 {
            problems.push(format!("visitor {n}: {} messages never acknowledged", report.unacked));
        }
        let view: Vec<(i64, String)> = report.view.iter().map(|(s, id)| (*s, id.clone())).collect();
        let truth: Vec<(i64, String)> = stored
            .iter()
            .map(|m| (m["seq"].as_i64().unwrap_or(0), m["id"].as_str().unwrap_or("").to_owned()))
            .collect();
        if view != truth {
            problems.push(format!("visitor {n}: saw {} messages, {} stored", view.len(), truth.len()));
        }
        if report.connections < 2 && visitors >= 3 {
            // Not an error on its own (a visitor can sit on nodes restarted last), but noted.
            eprintln!("visitor {n} never reconnected");
        }
    }
    for id in agent_acked.keys() {
        if agent_found.get(id) != Some(&1) {
            problems.push(format!("agent reply {id} stored {:?} times", agent_found.get(id)));
        }
    }
    for (n, report) in dashboard_reports.iter().enumerate() {
        problems.extend(report.violations.iter().map(|v| format!("dashboard {n}: {v}")));
        if report.events == 0 {
            problems.push(format!("dashboard {n} received no events"));
        }
    }
    let reconnects: usize = reports.iter().map(|r| r.connections - 1).sum::<usize>()
        + dashboard_reports.iter().map(|r| r.connections - 1).sum::<usize>();
    let elapsed = began.elapsed();
    let summary = json!({
        "scenario": "rolling_restart",
        "nodes": 3,
        "visitors": visitors,
        "dashboards": dashboards,
        "message_every_ms": message_every.as_millis() as u64,
        "reply_every_ms": reply_every.as_millis() as u64,
        "visitor_messages_acked": visitor_acked,
        "agent_replies_acked": agent_acked.len(),
        "agent_retries": load.agent_retries.load(Ordering::Relaxed),
        "messages_stored": stored_total,
        "messages_lost": problems.iter().filter(|p| p.contains("not stored") || p.contains("never acknowledged")).count(),
        "duplicates": problems.iter().filter(|p| p.contains("times")).count(),
        "reconnects": reconnects,
        "restarts": restarts.iter().map(|r| json!({
            "node": r.node,
            "stop_ms": r.stop.as_millis() as u64,
            "start_ms": r.start.as_millis() as u64,
            "reconnect_burst_ms": r.reconnect_burst.as_millis() as u64,
            "sockets_moved": r.sockets_moved,
        })).collect::<Vec<_>>(),
        "max_reconnect_burst_ms": restarts.iter().map(|r| r.reconnect_burst.as_millis() as u64).max().unwrap_or(0),
        "problems": problems.len(),
        "elapsed_s": elapsed.as_secs_f64(),
        "server": std::env::var("SWITCHBOARD_BIN").unwrap_or_else(|_| "debug".into()),
    });
    eprintln!("rolling restart: {summary}");
    eprintln!("nginx error log:\n{}", nginx.error_log());
    if let Ok(path) = std::env::var("ROLLING_RESULT") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("result file");
        writeln!(file, "{summary}").expect("result row written");
    }
    assert!(problems.is_empty(), "{} problems:\n{}\nnginx: {}", problems.len(), problems.join("\n"), nginx.error_log());
    assert!(visitor_acked > 0 && !agent_acked.is_empty(), "no load ran: {summary}");
    drop(nodes);
}

/// A stopping node refuses new sockets before the upgrade (`503 shutting_down`), so a proxy sends the
/// reconnect to another node instead of it being opened and closed with 1012 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_refuses_new_sockets_before_the_upgrade() {
    let Some(cluster) = crate::cluster::Cluster::new().await else { return };
    let mut node = cluster.node("a", &[("SHUTDOWN_GRACE_SECONDS", "5")]).await;
    let app = &node.app;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut open = app.widget(&key, None).await;
    open.recv_type("welcome").await;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(node.pid(), libc::SIGTERM) }, 0);
    assert_eq!(open.recv_close().await.0, 1012);
    // The listener still accepts for a moment: new sockets get 503 instead of an upgrade.
    for path in [format!("/ws/widget?product_key={key}"), format!("/ws/dashboard?token={}", tenant.token)] {
        match tokio_tungstenite::connect_async(app.ws_url(&path)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503, "{path}");
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
                assert!(body.contains("shutting_down"), "{body}");
            }
            Err(err) => panic!("{path}: {err} (the listener closed before the check: raise SOCKET_CLOSE_WAIT?)"),
            Ok(_) => panic!("{path}: upgraded on a stopping node"),
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(10), node.wait()).await.expect("exits");
    assert_eq!(status.code(), Some(0));
}
