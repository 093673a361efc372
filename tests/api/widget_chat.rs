//! Visitors chat over the widget socket; agents answer over HTTP.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// A tenant with a chat key, and a visitor who said hello.
async fn visitor_said_hello(app: &TestApp) -> (Tenant, String, Socket, serde_json::Value) {
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    let welcome = visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c1" })).await;
    let ack = visitor.recv_type("ack").await;
    (tenant, key, visitor, json!({ "welcome": welcome, "ack": ack }))
}

async fn visitor_message_is_stored_acked_and_answered(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, _, mut visitor, hello) = visitor_said_hello(&app).await;
    let ack = &hello["ack"];
    assert_eq!(ack["client_msg_id"], "c1");
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["duplicate"], false);
    let conversation_id = ack["conversation_id"].as_str().expect("conversation id");

    // The ack came after the store: the dashboard already sees it.
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    let first = &list["conversations"][0];
    assert_eq!(first["id"], conversation_id);
    assert_eq!(first["channel"], "widget");
    assert_eq!(first["last_message"]["text"], "hello");
    assert_eq!(first["unread_count"], 1);

    let path = format!("/api/conversations/{conversation_id}/messages");
    let reply = app.post_as(&path, &tenant.token, &json!({ "text": "Hi! How can I help?" })).await;
    let reply = expect_status(reply, StatusCode::CREATED).await;
    assert_eq!(reply["message"]["seq"], 2);
    let pushed = visitor.recv_type("message").await;
    assert_eq!(pushed["from"], "agent");
    assert_eq!(pushed["text"], "Hi! How can I help?");
    assert_eq!(pushed["seq"], 2);

    let history = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    let texts: Vec<&str> =
        history["messages"].as_array().expect("messages").iter().map(|m| m["text"].as_str().unwrap_or("")).collect();
    assert_eq!(texts, ["hello", "Hi! How can I help?"]);
}

async fn resent_client_msg_id_is_stored_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, _, mut visitor, hello) = visitor_said_hello(&app).await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c1" })).await;
    let again = visitor.recv_type("ack").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], hello["ack"]["id"]);
    // A resend beside new messages (likely in one commit): the new ones are numbered on, with no gap
    // for the number the resend was first given.
    for (text, id) in [("hello", "c1"), ("two", "c2"), ("three", "c3")] {
        visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": id })).await;
    }
    let mut acks = Vec::new();
    for _ in 0..3 {
        let ack = visitor.recv_type("ack").await;
        acks.push((ack["client_msg_id"].clone(), ack["duplicate"].clone(), ack["seq"].clone()));
    }
    assert_eq!(
        acks,
        [
            (json!("c1"), json!(true), json!(1)),
            (json!("c2"), json!(false), json!(2)),
            (json!("c3"), json!(false), json!(3))
        ]
    );
    let path = format!("/api/conversations/{}/messages", hello["ack"]["conversation_id"].as_str().expect("id"));
    let history = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    let seqs: Vec<i64> =
        history["messages"].as_array().expect("messages").iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

async fn reconnecting_visitor_gets_what_it_missed_in_order_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, key, visitor, hello) = visitor_said_hello(&app).await;
    let token = hello["welcome"]["visitor_token"].as_str().expect("visitor token").to_owned();
    let conversation_id = hello["ack"]["conversation_id"].as_str().expect("id").to_owned();
    drop(visitor);
    let path = format!("/api/conversations/{conversation_id}/messages");
    for text in ["one", "two", "three"] {
        expect_status(app.post_as(&path, &tenant.token, &json!({ "text": text })).await, StatusCode::CREATED).await;
    }
    let mut visitor = app.widget(&key, Some((&token, 1))).await;
    let welcome = visitor.recv_type("welcome").await;
    assert_eq!(welcome["conversation_id"], conversation_id.as_str());
    assert_eq!(welcome["last_seq"], 4);
    let missed = visitor.drain().await;
    let seqs: Vec<i64> = missed.iter().map(|m| m["seq"].as_i64().unwrap_or(0)).collect();
    let texts: Vec<&str> = missed.iter().map(|m| m["text"].as_str().unwrap_or("")).collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(texts, ["one", "two", "three"]);

    // A fresh page load (last_seq 0) gets the whole history.
    let mut reloaded = app.widget(&key, Some((&token, 0))).await;
    reloaded.recv_type("welcome").await;
    assert_eq!(reloaded.drain().await.len(), 4);
}

async fn bad_product_keys_are_refused_before_upgrade(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot", "sales-agent"]).await;
    let chat = app.chat_key(&tenant).await;
    let sale = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": "sales-agent" })).await;
    let sale = expect_status(sale, StatusCode::CREATED).await["product_key"].as_str().expect("key").to_owned();
    let cases = [
        ("nonsense".to_owned(), StatusCode::BAD_REQUEST, "invalid_value"),
        (sale, StatusCode::BAD_REQUEST, "wrong_product"),
        ("chat_0000000000000000".to_owned(), StatusCode::NOT_FOUND, "not_found"),
    ];
    for (key, status, code) in cases {
        let response = app.client.get(app.url(&format!("/ws/widget?product_key={key}"))).send().await.expect("sent");
        expect_error(response, status, code).await;
    }
    // A socket on the key first: the key is looked up (and kept a moment) before it is revoked.
    app.widget(&chat, None).await.recv_type("welcome").await;
    expect_status(app.delete_as(&format!("/api/products/keys/{chat}"), &tenant.token).await, StatusCode::NO_CONTENT)
        .await;
    let revoked = app.client.get(app.url(&format!("/ws/widget?product_key={chat}"))).send().await.expect("sent");
    expect_error(revoked, StatusCode::FORBIDDEN, "product_key_revoked").await;
}

/// A widget handshake follows its license's status at once, though its key was just looked up.
async fn widget_keys_follow_their_license_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    app.widget(&key, None).await.recv_type("welcome").await;
    let status = |action: &str| format!("/api/admin/licenses/{}/{action}", tenant.license_key);
    expect_status(app.post_as(&status("suspend"), ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    let handshake = || app.client.get(app.url(&format!("/ws/widget?product_key={key}"))).send();
    expect_error(handshake().await.expect("sent"), StatusCode::FORBIDDEN, "license_suspended").await;
    expect_status(app.post_as(&status("activate"), ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    app.widget(&key, None).await.recv_type("welcome").await;
}

async fn bad_frames_get_error_frames_and_oversize_closes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_text("{not json".into()).await;
    assert_eq!(visitor.recv_type("error").await["code"], "invalid_json");
    visitor.send_json(&json!({ "type": "dance" })).await;
    assert_eq!(visitor.recv_type("error").await["code"], "unknown_type");
    visitor.send_json(&json!({ "type": "message", "text": 42 })).await;
    assert_eq!(visitor.recv_type("error").await["code"], "invalid_frame");
    visitor.send_json(&json!({ "type": "message", "text": "   ", "client_msg_id": "blank" })).await;
    let blank = visitor.recv_type("error").await;
    assert_eq!(blank["code"], "invalid_value");
    assert_eq!(blank["client_msg_id"], "blank");
    // Still usable after refusals.
    visitor.send_json(&json!({ "type": "message", "text": "fine", "client_msg_id": "ok" })).await;
    assert_eq!(visitor.recv_type("ack").await["seq"], 1);
    visitor.send_text(format!("{{\"type\":\"message\",\"text\":\"{}\"}}", "x".repeat(20 * 1024))).await;
    let (code, reason) = visitor.recv_close().await;
    assert_eq!(code, 1009, "{reason}");
}

async fn flooding_visitor_is_rate_limited(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let mut config = test_config(database_url, backend);
    config.visitor_rate_per_second = 1;
    config.visitor_burst = 3;
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    for i in 0..10 {
        visitor.send_json(&json!({ "type": "message", "text": "spam", "client_msg_id": format!("s{i}") })).await;
    }
    // Refusals are immediate, acks follow the store: wait until each of the ten is answered.
    let mut frames = Vec::new();
    while frames.len() < 10 {
        let frame = visitor.recv_json().await;
        if frame["type"] == "ack" || frame["type"] == "error" {
            frames.push(frame);
        }
    }
    let acked = frames.iter().filter(|f| f["type"] == "ack").count();
    let limited: Vec<_> = frames.iter().filter(|f| f["code"] == "rate_limited").collect();
    assert!((3..=4).contains(&acked), "{frames:?}");
    assert_eq!(acked + limited.len(), 10);
    assert!(limited.iter().all(|f| f["client_msg_id"].is_string()), "refusals name the message to resend");
}

async fn typing_read_receipts_and_status_reach_the_visitor(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, _, mut visitor, hello) = visitor_said_hello(&app).await;
    let conversation_id = hello["ack"]["conversation_id"].as_str().expect("id").to_owned();
    let read =
        app.post_as(&format!("/api/conversations/{conversation_id}/read"), &tenant.token, &json!({ "seq": 1 })).await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    let receipt = visitor.recv_type("read").await;
    assert_eq!((receipt["from"].as_str(), receipt["seq"].as_i64()), (Some("agent"), Some(1)));
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(list["conversations"][0]["unread_count"], 0, "reading clears the unread count");

    visitor.send_json(&json!({ "type": "read", "seq": 1 })).await;
    visitor.send_json(&json!({ "type": "typing", "is_typing": true })).await;
    visitor.drain().await;
    // The socket passes the receipt on to the conversation, which stores it: soon, not before the pong.
    let path = format!("/api/conversations/{conversation_id}");
    eventually(Duration::from_secs(5), async || {
        let shown = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
        match shown["visitor_read_seq"] == 1 {
            true => Ok(()),
            false => Err(format!("the visitor's receipt is not stored: {shown}")),
        }
    })
    .await;

    let closed = app.post_as(&format!("/api/conversations/{conversation_id}/close"), &tenant.token, &json!({})).await;
    assert_eq!(expect_status(closed, StatusCode::OK).await["status"], "closed");
    assert_eq!(visitor.recv_type("status").await["status"], "closed");
    // A new visitor message reopens it.
    visitor.send_json(&json!({ "type": "message", "text": "one more thing", "client_msg_id": "c2" })).await;
    assert_eq!(visitor.recv_type("status").await["status"], "open");
    let open = expect_status(
        app.get_as("/api/products/chatbot/conversations?status=open", &tenant.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(open["conversations"][0]["id"], conversation_id.as_str());
}

async fn context_is_stored_as_conversation_metadata(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor
        .send_json(
            &json!({ "type": "context", "metadata": { "utm_source": "facebook", "page": "https://shop.example/x" } }),
        )
        .await;
    visitor.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": "c1" })).await;
    let ack = visitor.recv_type("ack").await;
    let id = ack["conversation_id"].as_str().expect("id");
    let shown =
        expect_status(app.get_as(&format!("/api/conversations/{id}"), &tenant.token).await, StatusCode::OK).await;
    assert_eq!(shown["metadata"]["utm_source"], "facebook");
    assert_eq!(shown["metadata"]["page"], "https://shop.example/x");
}

async fn foreign_conversations_are_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (_, _, _visitor, hello) = visitor_said_hello(&app).await;
    let id = hello["ack"]["conversation_id"].as_str().expect("id");
    let bob = app.new_tenant(&["chatbot"]).await;
    for path in [format!("/api/conversations/{id}"), format!("/api/conversations/{id}/messages")] {
        expect_error(app.get_as(&path, &bob.token).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    for (path, body) in [
        (format!("/api/conversations/{id}/messages"), json!({ "text": "sneaky" })),
        (format!("/api/conversations/{id}/close"), json!({})),
        (format!("/api/conversations/{id}/read"), json!({ "seq": 1 })),
    ] {
        expect_error(app.post_as(&path, &bob.token, &body).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    let bobs = expect_status(app.get_as("/api/products/chatbot/conversations", &bob.token).await, StatusCode::OK).await;
    assert_eq!(bobs["conversations"], json!([]));
}

/// A malformed id is answered like an unknown one: the caller learns nothing about which ids exist.
async fn malformed_conversation_ids_are_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let routes = [
        ("", None),
        ("/messages", None),
        ("/messages", Some(json!({ "text": "hello" }))),
        ("/reopen", Some(json!({}))),
        ("/read", Some(json!({ "seq": 1 }))),
    ];
    for id in ["nope", "ABCDEF0123456789ABCDEF0123456789", "0123456789abcdef0123456789abcdef0"] {
        for (route, body) in &routes {
            let path = format!("/api/conversations/{id}{route}");
            let answer = match body {
                None => app.get_as(&path, &tenant.token).await,
                Some(body) => app.post_as(&path, &tenant.token, body).await,
            };
            expect_error(answer, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
}

async fn conversation_list_pages_with_a_cursor(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitors = Vec::new();
    for i in 0..5 {
        let mut visitor = app.widget(&key, None).await;
        visitor.recv_type("welcome").await;
        visitor.send_json(&json!({ "type": "message", "text": format!("visitor {i}"), "client_msg_id": "c" })).await;
        visitor.recv_type("ack").await;
        visitors.push(visitor);
    }
    // A new message moves its conversation to the top (its recency follows every stored message).
    visitors[0].send_json(&json!({ "type": "message", "text": "visitor 0 again", "client_msg_id": "d" })).await;
    visitors[0].recv_type("ack").await;
    let mut seen = Vec::new();
    let mut path = "/api/products/chatbot/conversations?limit=2".to_owned();
    loop {
        let page = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
        for c in page["conversations"].as_array().expect("conversations") {
            seen.push(c["last_message"]["text"].as_str().expect("text").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/products/chatbot/conversations?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["visitor 0 again", "visitor 4", "visitor 3", "visitor 2", "visitor 1"]);
    let bad = app.get_as("/api/products/chatbot/conversations?cursor=garbage", &tenant.token).await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let bad = app.get_as("/api/products/chatbot/conversations?status=sleeping", &tenant.token).await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_value").await;
}

async fn idle_actors_stop_and_rehydrate_from_the_store(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let mut config = test_config(database_url, backend);
    config.actor_idle_seconds = 0;
    let app = spawn_with(config).await;
    let (tenant, key, visitor, hello) = visitor_said_hello(&app).await;
    let token = hello["welcome"]["visitor_token"].as_str().expect("token").to_owned();
    let id = hello["ack"]["conversation_id"].as_str().expect("id").to_owned();
    drop(visitor);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reply =
        app.post_as(&format!("/api/conversations/{id}/messages"), &tenant.token, &json!({ "text": "back" })).await;
    assert_eq!(expect_status(reply, StatusCode::CREATED).await["message"]["seq"], 2);
    let mut visitor = app.widget(&key, Some((&token, 1))).await;
    visitor.recv_type("welcome").await;
    let missed = visitor.drain().await;
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["text"], "back");
}

crate::on_both_stores!(
    visitor_message_is_stored_acked_and_answered,
    resent_client_msg_id_is_stored_once,
    reconnecting_visitor_gets_what_it_missed_in_order_once,
    bad_product_keys_are_refused_before_upgrade,
    widget_keys_follow_their_license_at_once,
    bad_frames_get_error_frames_and_oversize_closes,
    flooding_visitor_is_rate_limited,
    typing_read_receipts_and_status_reach_the_visitor,
    context_is_stored_as_conversation_metadata,
    foreign_conversations_are_404,
    malformed_conversation_ids_are_404,
    conversation_list_pages_with_a_cursor,
    idle_actors_stop_and_rehydrate_from_the_store,
);

async fn resuming_past_the_end_still_gets_new_messages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, key, visitor, hello) = visitor_said_hello(&app).await;
    let token = hello["welcome"]["visitor_token"].as_str().expect("token").to_owned();
    let id = hello["ack"]["conversation_id"].as_str().expect("id").to_owned();
    drop(visitor);
    let mut visitor = app.widget(&key, Some((&token, 100))).await;
    visitor.recv_type("welcome").await;
    let path = format!("/api/conversations/{id}/messages");
    expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "still here?" })).await, StatusCode::CREATED)
        .await;
    assert_eq!(visitor.recv_type("message").await["text"], "still here?");
}

crate::on_both_stores!(resuming_past_the_end_still_gets_new_messages);

/// A reloaded widget learns how far the team has read, so its read ticks survive the reload.
async fn welcome_says_how_far_the_team_has_read(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, key, visitor, hello) = visitor_said_hello(&app).await;
    let token = hello["welcome"]["visitor_token"].as_str().expect("token").to_owned();
    assert_eq!(hello["welcome"]["agent_read_seq"], 0);
    let id = hello["ack"]["conversation_id"].as_str().expect("id").to_owned();
    let read = app.post_as(&format!("/api/conversations/{id}/read"), &tenant.token, &json!({ "seq": 1 })).await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    drop(visitor);
    let mut again = app.widget(&key, Some((&token, 1))).await;
    assert_eq!(again.recv_type("welcome").await["agent_read_seq"], 1);
}

crate::on_both_stores!(welcome_says_how_far_the_team_has_read);
