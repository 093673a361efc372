//! Scale-out: real nodes on one PostgreSQL and one Redis behave as one server.

use crate::cluster::{Cluster, Proxy};
use crate::helpers::*;
use crate::probe::{clients_available, Client, SioProbe};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Reads dashboard frames until `count` `message:new` events arrived; returns their message ids.
async fn collect_messages(socket: &mut Socket, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < count {
        let frame = socket.recv_json().await;
        if frame["event"] == "message:new" {
            ids.push(frame["data"]["message"]["id"].as_str().expect("id").to_owned());
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_on_a_agent_on_b_dashboard_on_c() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b, c) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await, cluster.node("c", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let mut dashboard_b = b.app.dashboard_ws(&tenant.token).await;
    let mut dashboard_c = c.app.dashboard_ws(&tenant.token).await;
    // A Socket.IO dashboard on a node that writes nothing.
    let mut socketio_c = if clients_available() {
        let probe = SioProbe::connect(Client::Node, &c.app.socketio_url, Some(&tenant.token), "websocket").await;
        let mut probe = probe.connected().await;
        probe.event("recovery:ready").await;
        Some(probe)
    } else {
        None
    };

    let mut visitor = a.app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello from A", "client_msg_id": "v0" })).await;
    let conversation_id = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    assert_eq!(collect_messages(&mut dashboard_b, 1).await.len(), 1);

    // Both sides write at once: the visitor on A, the agent on B.
    let path = format!("/api/conversations/{conversation_id}/messages");
    let agent = async {
        for i in 0..5 {
            let body = json!({ "text": format!("agent {i}") });
            expect_status(b.app.post_as(&path, &tenant.token, &body).await, StatusCode::CREATED).await;
        }
    };
    let talk = async {
        for i in 1..=5 {
            visitor
                .send_json(
                    &json!({ "type": "message", "text": format!("visitor {i}"), "client_msg_id": format!("v{i}") }),
                )
                .await;
        }
        let mut acks = 0;
        let mut agent_seqs = Vec::new();
        while acks < 5 || agent_seqs.len() < 5 {
            let frame = visitor.recv_json().await;
            match frame["type"].as_str() {
                Some("ack") => acks += 1,
                Some("message") => agent_seqs.push(frame["seq"].as_i64().expect("seq")),
                _ => {}
            }
        }
        agent_seqs
    };
    let ((), agent_seqs) = tokio::join!(agent, talk);
    assert!(agent_seqs.windows(2).all(|w| w[0] < w[1]), "agent messages arrive in conversation order: {agent_seqs:?}");
    assert!(visitor.drain().await.iter().all(|f| f["type"] != "message"), "and exactly once");

    // The dashboard on C sees all eleven messages, each once.
    let ids = collect_messages(&mut dashboard_c, 11).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 11, "no duplicates: {ids:?}");
    assert!(dashboard_c.drain_dashboard().await.iter().all(|f| !f.contains("message:new")));
    if let Some(probe) = &mut socketio_c {
        let mut ids = HashSet::new();
        while ids.len() < 11 {
            let message = probe.event("message:new").await;
            assert!(ids.insert(message["message"]["id"].to_string()), "delivered twice over Socket.IO: {message}");
        }
    }
    let history = expect_status(c.app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    let seqs: Vec<i64> =
        history["messages"].as_array().expect("messages").iter().map(|m| m["seq"].as_i64().unwrap_or(0)).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>(), "the store numbered them without gaps");

    // C's metrics count the whole cluster. Read on a dashboard opened now (a new one gets fresh numbers
    // within a second): the reading that counted all eleven may have come to the one above while it was
    // being drained, and numbers that are current are not sent again.
    let mut fresh_c = c.app.dashboard_ws(&tenant.token).await;
    loop {
        let frame = fresh_c.recv_json().await;
        if frame["event"] == "metrics:updated" && frame["data"]["messages_today"] == 11 {
            assert_eq!(frame["data"]["visitors_online"], 1);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_node_is_refused_on_another_at_once() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    expect_status(b.app.get_as("/api/auth/me", &tenant.token).await, StatusCode::OK).await;
    expect_status(a.app.post_as("/api/auth/logout", &tenant.token, &json!({})).await, StatusCode::OK).await;
    expect_error(b.app.get_as("/api/auth/me", &tenant.token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// A node answers widget handshakes from keys it looked up in the last 2 s: a key revoked on another
/// node is refused here once that has passed (and at once on the node that revoked it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_node_is_refused_on_another_within_the_cache_time() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    b.app.widget(&key, None).await.recv_type("welcome").await;
    let handshake = |app: &TestApp| app.client.get(app.url(&format!("/ws/widget?product_key={key}"))).send();
    expect_status(a.app.delete_as(&format!("/api/products/keys/{key}"), &tenant.token).await, StatusCode::NO_CONTENT)
        .await;
    expect_error(handshake(&a.app).await.expect("sent"), StatusCode::FORBIDDEN, "product_key_revoked").await;
    let answer = eventually(Duration::from_secs(5), async || {
        let answer = handshake(&b.app).await.expect("sent");
        match answer.status() {
            StatusCode::FORBIDDEN => Ok(answer),
            status => Err(format!("node b still opens the revoked key ({status})")),
        }
    })
    .await;
    expect_error(answer, StatusCode::FORBIDDEN, "product_key_revoked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitors_rate_limit_spans_nodes() {
    let Some(cluster) = Cluster::new().await else { return };
    let limits = [("VISITOR_RATE_PER_SECOND", "1"), ("VISITOR_BURST", "5")];
    let (a, b) = (cluster.node("a", &limits).await, cluster.node("b", &limits).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let mut on_a = a.app.widget(&key, None).await;
    let token = on_a.recv_type("welcome").await["visitor_token"].as_str().expect("token").to_owned();
    let mut on_b = b.app.widget(&key, Some((&token, 0))).await;
    on_b.recv_type("welcome").await;
    // Start right after a second begins, so every frame falls in one counting window.
    while switchboard::domain::now_millis() % 1000 > 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for i in 0..4 {
        for (socket, node) in [(&mut on_a, "a"), (&mut on_b, "b")] {
            socket.send_json(&json!({ "type": "message", "text": "hi", "client_msg_id": format!("{node}{i}") })).await;
        }
    }
    let mut acked = 0;
    for socket in [&mut on_a, &mut on_b] {
        let mut answered = 0;
        while answered < 4 {
            let frame = socket.recv_json().await;
            if frame["type"] == "ack" {
                acked += 1;
                answered += 1;
            } else if frame["type"] == "error" {
                answered += 1;
            }
        }
    }
    assert!((1..=5).contains(&acked), "a burst of 5 across both nodes, got {acked} of 8 through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_loses_nothing_acknowledged() {
    let Some(cluster) = Cluster::new().await else { return };
    let redis_target = cluster.redis_url.trim_start_matches("redis://").trim_end_matches('/').to_owned();
    let proxy = Proxy::start(redis_target).await;
    let via_proxy = format!("redis://127.0.0.1:{}", proxy.port);
    let env = [("REDIS_URL", via_proxy.as_str())];
    let (a, b) = (cluster.node("a", &env).await, cluster.node("b", &env).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let mut visitor = a.app.widget(&key, None).await;
    let token = visitor.recv_type("welcome").await["visitor_token"].as_str().expect("token").to_owned();
    visitor.send_json(&json!({ "type": "message", "text": "before", "client_msg_id": "m0" })).await;
    let conversation_id = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    let path = format!("/api/conversations/{conversation_id}/messages");

    proxy.cut();
    for i in 1..=3 {
        visitor
            .send_json(&json!({ "type": "message", "text": format!("during {i}"), "client_msg_id": format!("m{i}") }))
            .await;
        assert_eq!(visitor.recv_type("ack").await["seq"], i + 1, "acks continue: the store has each message");
    }
    // Node B still authenticates (from the store) and stores the agent's answer.
    let reply = b.app.post_as(&path, &tenant.token, &json!({ "text": "agent during outage" })).await;
    expect_status(reply, StatusCode::CREATED).await;
    proxy.restore();

    // The visitor reconnects and gets what it missed, in order.
    drop(visitor);
    let mut visitor = a.app.widget(&key, Some((&token, 4))).await;
    visitor.recv_type("welcome").await;
    let missed: Vec<Value> = visitor.drain().await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["text"], "agent during outage");

    // Once the nodes have resubscribed, live cross-node delivery resumes.
    let mut delivered = false;
    for attempt in 0..40 {
        let body = json!({ "text": format!("after {attempt}") });
        expect_status(b.app.post_as(&path, &tenant.token, &body).await, StatusCode::CREATED).await;
        if let Some(SocketEvent::Json(frame)) = visitor.next_event_within(Duration::from_millis(500)).await {
            if frame["type"] == "message" {
                delivered = true;
                break;
            }
        }
    }
    assert!(delivered, "cross-node delivery resumed after Redis came back");
    let history = expect_status(a.app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    let seqs: Vec<i64> =
        history["messages"].as_array().expect("messages").iter().map(|m| m["seq"].as_i64().unwrap_or(0)).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[..5] == [1, 2, 3, 4, 5], "{seqs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_answers_503_and_recovers() {
    let Some(admin_url) = std::env::var("DATABASE_ADMIN_URL").ok() else { return };
    let Some(database_url) = fresh_database(Backend::Postgres).await else { return };
    let proxy = Proxy::start("127.0.0.1:5432".into()).await;
    let proxied = database_url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(proxied, database_url, "{admin_url}");
    let app = spawn_with(test_config(proxied, Backend::Postgres)).await;
    let tenant = app.new_tenant(&["chatbot"]).await;

    proxy.cut();
    let ready = app.client.get(app.url("/readyz")).send().await.expect("sent");
    expect_error(ready, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let login = app.login(&tenant.email, PASSWORD).await;
    expect_error(login, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(health.status(), StatusCode::OK, "the process itself stays up");

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        if app.client.get(app.url("/readyz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "ready again once PostgreSQL is back");
    expect_status(app.login(&tenant.email, PASSWORD).await, StatusCode::OK).await;
}

/// The last `metrics:updated` data a dashboard receives before it has been quiet for 2.5 s.
async fn last_metrics(socket: &mut Socket) -> Value {
    let mut last = Value::Null;
    while let Some(event) = socket.next_event_within(Duration::from_millis(2500)).await {
        if let SocketEvent::Json(frame) = event {
            if frame["event"] == "metrics:updated" {
                last = frame["data"].clone();
            }
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_reads_the_numbers_every_node_shows() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let mut dashboard_a = a.app.dashboard_ws(&tenant.token).await;
    let mut dashboard_b = b.app.dashboard_ws(&tenant.token).await;
    let (_visitor, conversation) = crate::team::visitor_writes(&a.app, &key, "hello").await;
    let path = format!("/api/conversations/{conversation}/messages");
    for i in 0..10 {
        let reply = json!({ "text": format!("reply {i}") });
        let node = if i % 2 == 0 { &a.app } else { &b.app };
        expect_status(node.post_as(&path, &tenant.token, &reply).await, StatusCode::CREATED).await;
    }
    let (on_a, on_b) = tokio::join!(last_metrics(&mut dashboard_a), last_metrics(&mut dashboard_b));
    assert_eq!(on_a["messages_today"], 11, "{on_a}");
    // The same reading reached both nodes: one node read the store, not each.
    assert_eq!(on_a, on_b);
}
