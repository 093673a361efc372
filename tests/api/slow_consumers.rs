//! Slow consumers on every socket: a client that stops reading is disconnected, the others get everything,
//! and the server's memory stays bounded.

use crate::admin::stats_within;
use crate::helpers::*;
use crate::probe::{clients_available, Client, SioProbe};
use crate::recovery::tenant_in_conversation;
use futures_util::{stream, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Messages the agent floods a conversation with, each of this many bytes: about 10 MB in all, far more
/// than socket buffers and every bounded queue hold.
const FLOOD: usize = 2500;
const FLOOD_BYTES: usize = 3900;
/// The agent's requests in flight at once.
const FLOOD_SENDERS: usize = 4;

/// How far the test process's memory may grow during a flood. The server runs in this process, so on SQLite
/// the store's page cache counts too: the writer's connection alone may keep 32 MiB of pages
/// (`PRAGMA cache_size = -32768`), and the flood fills ~10 MB of messages plus their indexes (measured:
/// 61–64 MiB of growth on SQLite, 6–7 MiB on PostgreSQL, whose cache lives in its own processes). Past
/// that, the stalled socket's queue was not bounded.
fn memory_budget_mib(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => 64 + 32,
        Backend::Postgres => 64,
    }
}

/// The agent floods `conversation`, while `healthy` (a plain dashboard) must receive every message.
async fn flood(app: &TestApp, token: &str, conversation: &str, mut healthy: Socket) {
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < FLOOD {
            if healthy.recv_json().await["event"] == "message:new" {
                received += 1;
            }
        }
        received
    });
    let path = format!("/api/conversations/{conversation}/messages");
    let body = json!({ "text": "x".repeat(FLOOD_BYTES) });
    // A few in flight, so commits are shared (one by one, the flood took most of a minute on PostgreSQL).
    let posts = stream::iter(0..FLOOD).map(|_| app.post_as(&path, token, &body)).buffer_unordered(FLOOD_SENDERS);
    posts
        .for_each(|response| async {
            expect_status(response, StatusCode::CREATED).await;
        })
        .await;
    assert_eq!(reader.await.expect("reader finished"), FLOOD, "a reading dashboard gets every event");
}

/// Floods `conversation` while a `who` stalls and a plain dashboard reads everything: the server's memory
/// stays within budget.
async fn flood_within_budget(backend: Backend, app: &TestApp, tenant: &Tenant, conversation: &str, who: &str) {
    let healthy = app.dashboard_ws(&tenant.token).await;
    let rss_before = rss_kib();
    flood(app, &tenant.token, conversation, healthy).await;
    let growth_mib = (rss_kib() - rss_before) / 1024;
    assert!(growth_mib < memory_budget_mib(backend), "memory grew {growth_mib} MiB while a {who} stalled");
}

/// The test process's resident memory, KiB.
fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Floods `conversation` while `stalled` (a plain socket of `who`) never reads: the server's memory stays
/// bounded and `stalled` is cut as a slow consumer.
async fn stalled_socket_is_cut(
    backend: Backend,
    app: &TestApp,
    tenant: &Tenant,
    conversation: &str,
    mut stalled: Socket,
    who: &str,
) {
    flood_within_budget(backend, app, tenant, conversation, who).await;
    let (code, reason) = stalled.recv_close().await;
    assert!(code == 4001 || code == 1006, "expected a slow-consumer disconnect, got {code} {reason}");
}

async fn dashboard_that_stops_reading_is_disconnected(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, _visitor, conversation_id) = tenant_in_conversation(&app).await;
    let stalled = app.dashboard_ws(&tenant.token).await;
    stalled_socket_is_cut(backend, &app, &tenant, &conversation_id, stalled, "dashboard").await;
}

async fn widget_that_stops_reading_is_disconnected(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, stalled, conversation_id) = tenant_in_conversation(&app).await;
    stalled_socket_is_cut(backend, &app, &tenant, &conversation_id, stalled, "visitor").await;
}

async fn socketio_dashboard_that_stops_reading_is_disconnected(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    if !clients_available() {
        return;
    }
    let (tenant, _visitor, conversation_id) = tenant_in_conversation(&app).await;
    let mut stalled =
        SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), "websocket").await.connected().await;
    stalled.event("recovery:ready").await;
    // A frozen browser tab: the official client's process stops, and with it its reads.
    let pid = stalled.pid().expect("the client runs").to_string();
    let signal = |name: &str| std::process::Command::new("kill").args([name, &pid]).status().expect("kill runs");
    assert!(signal("-STOP").success());
    flood_within_budget(backend, &app, &tenant, &conversation_id, "Socket.IO client").await;
    // Its queue is full: its next ping cannot be queued (or its pong never comes), so Engine.IO closes it.
    let stats = stats_within(&app, Duration::from_secs(60), |s| s["sockets"]["socketio"] == 0).await;
    assert_eq!(stats["sockets"]["socketio"], 0, "the stalled socket was closed: {stats}");
    assert!(signal("-CONT").success());
    stalled.disconnected().await;
}

crate::on_both_stores!(
    dashboard_that_stops_reading_is_disconnected,
    widget_that_stops_reading_is_disconnected,
    socketio_dashboard_that_stops_reading_is_disconnected
);
