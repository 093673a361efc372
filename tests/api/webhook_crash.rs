//! The outbox survives a crash: real nodes on one PostgreSQL, a receiver that fails half the time, and a
//! node killed with SIGKILL while it holds leases and most of a thousand events are still to be sent.
//! After a restart every event arrives, each change under exactly one event id, and each conversation's
//! events in order.

use crate::cluster::Cluster;
use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const CONVERSATIONS: usize = 20;
const REPLIES: usize = 49;

fn webhook_env(concurrency: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("WEBHOOK_STRICT_URLS", "false"),
        ("WEBHOOK_RETRY_BASE_MS", "20"),
        ("WEBHOOK_TIMEOUT_MS", "1000"),
        ("WEBHOOK_POLL_MS", "100"),
        ("WEBHOOK_CONCURRENCY", concurrency),
        ("WEBHOOK_DISABLE_AFTER_FAILURES", "1000000"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_event_is_lost_or_reordered_when_a_node_is_killed() {
    let Some(cluster) = Cluster::new().await else { return };
    let started = std::time::Instant::now();
    // Node A does most of the sending (and holds most leases when it dies); B takes the writes.
    let mut a = cluster.node("a", &webhook_env("32")).await;
    let b = cluster.node("b", &webhook_env("4")).await;
    let tenant = b.app.new_tenant(&["chatbot"]).await;
    let key = b.app.chat_key(&tenant).await;
    let receiver = Receiver::start(Answer::Flaky).await;
    b.app.webhook_endpoint_for(&tenant, &receiver.url).await;

    let expected = CONVERSATIONS * (REPLIES + 2);
    let writes = join_all((0..CONVERSATIONS).map(|_| open_and_write(&b.app, &tenant, &key)));
    // Kill A early, while B is still writing: A holds the leases of most conversations' first events, and
    // those conversations wait for the leases to run out while their backlog grows (to some 600 pending).
    let crash = async {
        receiver
            .wait_for(Duration::from_secs(30), |r| r.iter().filter(|r| r.answered == 200).count() >= expected / 20)
            .await;
        a.kill().await;
        let killed = std::time::Instant::now();
        let pending_at_kill = expected - distinct_accepted(&receiver.received()).len();
        eprintln!("killed node a with {pending_at_kill} of {expected} events not yet delivered");
        (killed, cluster.node("a2", &webhook_env("32")).await)
    };
    let (conversations, (killed, _a_again)) = tokio::join!(writes, crash);

    // Bounded but generous: a busy CI box runs every other test beside this one. Everything arrives about
    // 15 s after the kill on a busy box (the receiver fails a delivery at most 3 times, so no retry waits
    // long; a claim costs one index descent per conversation however many events are pending).
    let received = receiver.wait_for(Duration::from_secs(120), |r| distinct_accepted(r).len() >= expected).await;
    let accepted: Vec<&Value> = received.iter().filter(|r| r.answered == 200).map(|r| &r.json).collect();
    // One event id per change, whatever was resent.
    let mut ids_of_change: HashMap<String, HashSet<String>> = HashMap::new();
    for event in &accepted {
        let change = event["data"]["message"]["id"]
            .as_str()
            .map_or_else(|| format!("opened:{}", event["sessionId"]), str::to_owned);
        ids_of_change.entry(change).or_default().insert(event["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids_of_change.len(), expected, "every change arrived");
    assert!(ids_of_change.values().all(|ids| ids.len() == 1), "a change was sent under two event ids");
    // In order per conversation: first arrivals follow the messages' numbering.
    let mut seen = HashSet::new();
    let mut last_seq: HashMap<String, i64> = HashMap::new();
    for event in accepted {
        if !seen.insert(event["id"].as_str().expect("id").to_owned()) {
            continue;
        }
        let conversation = event["sessionId"].as_str().expect("session").to_owned();
        let seq = event["data"]["message"]["seq"].as_i64().unwrap_or(0);
        let previous = last_seq.insert(conversation.clone(), seq);
        assert!(previous.is_none_or(|p| p < seq), "conversation {conversation}: {seq} after {previous:?}");
    }
    assert_eq!(last_seq.len(), conversations.len());
    assert!(last_seq.values().all(|seq| *seq == i64::try_from(REPLIES + 1).expect("small")));
    eprintln!(
        "{} requests ({} retries or duplicates) in {:.1} s, {:.1} s of them after the kill",
        received.len(),
        received.len() - expected,
        started.elapsed().as_secs_f64(),
        killed.elapsed().as_secs_f64()
    );
}

/// Distinct event ids answered 200.
fn distinct_accepted(received: &[crate::receiver::Received]) -> HashSet<String> {
    received.iter().filter(|r| r.answered == 200).filter_map(|r| r.json["id"].as_str().map(str::to_owned)).collect()
}

/// A visitor opens a conversation and writes once; an agent replies `REPLIES` times. Returns its id.
async fn open_and_write(app: &TestApp, tenant: &Tenant, key: &str) -> String {
    let mut visitor = app.widget(key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": "c1" })).await;
    let ack = visitor.recv_type("ack").await;
    let conversation = ack["conversation_id"].as_str().expect("conversation id").to_owned();
    let path = format!("/api/conversations/{conversation}/messages");
    for n in 0..REPLIES {
        // What a real client does with 503 "retry shortly" (a busy CI box can exhaust the node's pool for a
        // moment): send the same reply again; its client_msg_id makes the resend idempotent.
        let body = json!({ "text": format!("reply {n}"), "client_msg_id": format!("r{n}") });
        let mut attempt = 0;
        loop {
            let reply = app.post_as(&path, &tenant.token, &body).await;
            if reply.status() == StatusCode::SERVICE_UNAVAILABLE && attempt < 10 {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                continue;
            }
            let status = reply.status();
            assert!(
                status == StatusCode::CREATED || status == StatusCode::OK,
                "reply {n}: {status} {}",
                reply.text().await.unwrap_or_default()
            );
            break;
        }
    }
    conversation
}

impl TestApp {
    /// An endpoint for `url` subscribed to chats opening and messages.
    async fn webhook_endpoint_for(&self, tenant: &Tenant, url: &str) -> Value {
        self.webhook_endpoint(tenant, url, &["chat_opened", "message_created"]).await
    }
}
