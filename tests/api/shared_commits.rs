//! Shared commits: many conversations' messages stored in one transaction keep every conversation's
//! guarantees (its order, consecutive numbers, idempotent client ids), and one license's suspension
//! fails only its own conversations.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Opens `n` widget visitors on `key`, each past its welcome.
async fn visitors(app: &TestApp, key: &str, n: usize) -> Vec<Socket> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut visitor = app.widget(key, None).await;
        visitor.recv_type("welcome").await;
        sockets.push(visitor);
    }
    sockets
}

/// The next `n` acks (or errors) of a visitor, in the order they arrive.
async fn answers(visitor: &mut Socket, n: usize) -> Vec<Value> {
    let mut answers = Vec::with_capacity(n);
    while answers.len() < n {
        let frame = visitor.recv_json().await;
        if frame["type"] == "ack" || frame["type"] == "error" {
            answers.push(frame);
        }
    }
    answers
}

async fn many_conversations_committing_at_once_keep_their_order_and_ids(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenants = [app.new_tenant(&["chatbot"]).await, app.new_tenant(&["chatbot"]).await];
    let mut everyone = Vec::new();
    for tenant in &tenants {
        let key = app.chat_key(tenant).await;
        everyone.push(visitors(&app, &key, 12).await);
    }
    // Every visitor writes without waiting for acks, so the writer gathers many conversations per
    // commit; each also resends one client id inside the burst, and all use the same ids.
    for round in 0..8 {
        for visitor in everyone.iter_mut().flatten() {
            let text = format!("message {round}");
            visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": format!("m{round}") })).await;
            if round == 4 {
                visitor.send_json(&json!({ "type": "message", "text": "again", "client_msg_id": "m2" })).await;
            }
        }
    }
    for (tenant, sockets) in tenants.iter().zip(&mut everyone) {
        let mut conversations = std::collections::HashSet::new();
        for visitor in sockets.iter_mut() {
            let acks = answers(visitor, 9).await;
            assert!(acks.iter().all(|a| a["type"] == "ack"), "{acks:?}");
            let fresh: Vec<&Value> = acks.iter().filter(|a| a["duplicate"] == false).collect();
            let seqs: Vec<i64> = fresh.iter().filter_map(|a| a["seq"].as_i64()).collect();
            assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "consecutive, in the order sent");
            let ids: Vec<&str> = fresh.iter().filter_map(|a| a["client_msg_id"].as_str()).collect();
            assert_eq!(ids, (0..8).map(|r| format!("m{r}")).collect::<Vec<_>>());
            let repeat = acks.iter().find(|a| a["duplicate"] == true).expect("the resend is answered");
            let first = fresh.iter().find(|a| a["client_msg_id"] == "m2").expect("m2 stored");
            assert_eq!((&repeat["id"], &repeat["seq"]), (&first["id"], &first["seq"]), "the stored copy");
            let conversation = first["conversation_id"].as_str().expect("a conversation id").to_owned();
            assert!(conversations.insert(conversation.clone()), "one conversation per visitor");
            let path = format!("/api/conversations/{conversation}/messages?limit=100");
            let stored = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
            let texts: Vec<&str> =
                stored["messages"].as_array().expect("messages").iter().filter_map(|m| m["text"].as_str()).collect();
            assert_eq!(texts, (0..8).map(|r| format!("message {r}")).collect::<Vec<_>>(), "stored once each");
        }
    }
}

async fn a_suspension_during_shared_commits_fails_only_that_license(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (suspended, other) = (app.new_tenant(&["chatbot"]).await, app.new_tenant(&["chatbot"]).await);
    let mut doomed = visitors(&app, &app.chat_key(&suspended).await, 6).await;
    let mut spared = visitors(&app, &app.chat_key(&other).await, 6).await;
    for round in 0..10 {
        for visitor in doomed.iter_mut().chain(spared.iter_mut()) {
            let frame =
                json!({ "type": "message", "text": format!("message {round}"), "client_msg_id": format!("m{round}") });
            visitor.send_json(&frame).await;
        }
    }
    let suspend = format!("/api/admin/licenses/{}/suspend", suspended.license_key);
    expect_status(app.post_as(&suspend, ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    // The other license's visitors get every message stored, numbered in order, whatever commits the
    // suspended license's messages shared with theirs.
    for visitor in &mut spared {
        let acks = answers(visitor, 10).await;
        let seqs: Vec<i64> = acks.iter().filter_map(|a| a["seq"].as_i64()).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "{acks:?}");
    }
    // The suspended license's visitors: what was stored before the suspension is a gap-free prefix, then
    // refusals and the close.
    for visitor in &mut doomed {
        let mut seqs = Vec::new();
        loop {
            match visitor.next_event().await {
                SocketEvent::Json(frame) if frame["type"] == "ack" => seqs.push(frame["seq"].as_i64().unwrap_or(0)),
                SocketEvent::Json(frame) if frame["type"] == "error" => {
                    assert_eq!(frame["code"], "license_suspended", "{frame}")
                }
                SocketEvent::Json(_) => {}
                SocketEvent::Closed(code, _) => {
                    assert_eq!(code, 1008);
                    break;
                }
            }
        }
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no gap in what was stored");
    }
}

crate::on_both_stores!(
    many_conversations_committing_at_once_keep_their_order_and_ids,
    a_suspension_during_shared_commits_fails_only_that_license
);
