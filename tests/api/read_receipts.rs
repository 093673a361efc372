//! Read receipts arriving while a conversation is storing messages: on SQLite's single connection a
//! read receipt's store call must never hold the connection the group commit waits for.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

/// Messages sent in the burst (under the test server's 50 a second per visitor).
const BURST: usize = 40;

async fn read_receipts_while_messages_are_flushing_never_stall_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "first", "client_msg_id": "m0" })).await;
    let conversation = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();

    // The visitor pipelines messages and read receipts; the agent marks the conversation read meanwhile.
    let agent = async {
        let path = format!("/api/conversations/{conversation}/read");
        for seq in 1..=BURST as i64 {
            expect_status(app.post_as(&path, &owner.token, &json!({ "seq": seq })).await, StatusCode::NO_CONTENT).await;
        }
    };
    let talk = async {
        for i in 1..=BURST {
            let message = json!({ "type": "message", "text": format!("m{i}"), "client_msg_id": format!("m{i}") });
            visitor.send_json(&message).await;
            visitor.send_json(&json!({ "type": "read", "seq": i })).await;
        }
        let mut acks = 0;
        while acks < BURST {
            let frame = visitor.recv_json().await;
            assert_ne!(frame["type"], "error", "{frame}");
            if frame["type"] == "ack" {
                acks += 1;
            }
        }
    };
    tokio::join!(agent, talk);
    let shown =
        expect_status(app.get_as(&format!("/api/conversations/{conversation}"), &owner.token).await, StatusCode::OK)
            .await;
    assert_eq!(shown["last_seq"].as_i64(), Some(BURST as i64 + 1), "{shown}");
}

crate::on_both_stores!(read_receipts_while_messages_are_flushing_never_stall_them);
