//! Webhook throughput and delay, measured (ignored by default; the numbers are in the README):
//! `cargo nextest run --test api webhook_bench --run-ignored only --no-capture`
//! Conversations write messages as fast as the API takes them; a local receiver answers 200 and notes
//! when each event arrives. Delay is arrival minus the event's `created_at` (its commit).

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const CONVERSATIONS: usize = 50;
const MESSAGES: usize = 40;

async fn webhook_throughput_and_delay(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    app.webhook_endpoint(&tenant, &receiver.url, &["message_created"]).await;
    let started = std::time::Instant::now();
    join_all((0..CONVERSATIONS).map(|_| async {
        let mut visitor = app.widget(&key, None).await;
        visitor.recv_type("welcome").await;
        visitor.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": "c0" })).await;
        let conversation = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
        let path = format!("/api/conversations/{conversation}/messages");
        for n in 1..MESSAGES {
            let reply = app.post_as(&path, &tenant.token, &json!({ "text": format!("reply {n}") })).await;
            expect_status(reply, StatusCode::CREATED).await;
        }
    }))
    .await;
    let expected = CONVERSATIONS * MESSAGES;
    let received = receiver.wait_for(Duration::from_secs(120), |r| r.len() >= expected).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut delays: Vec<i64> =
        received.iter().map(|r| r.at_ms - r.json["created_at"].as_i64().expect("created_at")).collect();
    delays.sort_unstable();
    let pick = |q: f64| delays[((delays.len() as f64 - 1.0) * q) as usize];
    eprintln!(
        "{backend:?}: {expected} events delivered in {elapsed:.2} s = {:.0} events/s; delay p50 {} ms, p99 {} ms, max {} ms",
        expected as f64 / elapsed,
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

mod webhook_throughput_and_delay {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "a measurement, not a check: run it with --run-ignored only"]
    async fn sqlite() {
        super::webhook_throughput_and_delay(crate::helpers::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "a measurement, not a check: run it with --run-ignored only"]
    async fn postgres() {
        super::webhook_throughput_and_delay(crate::helpers::Backend::Postgres).await
    }
}
