//! Availability and auto-assignment: what a member shows follows their open dashboards (on every
//! node) and the status they chose; the widget learns whether anyone is there; new conversations go
//! to available members in turn or by load.

use crate::cluster::Cluster;
use crate::helpers::*;
use crate::team::{add_member, dashboard_event, patch_as, put_as, visitor_writes};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn agents_available(app: &TestApp, key: &str) -> (bool, bool) {
    let config = expect_status(
        app.client.get(app.url(&format!("/api/widget/config?product_key={key}"))).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut widget = app.widget(key, None).await;
    let welcome = widget.recv_type("welcome").await;
    (config["agents_available"].as_bool().unwrap(), welcome["agents_available"].as_bool().unwrap())
}

async fn presence_of(app: &TestApp, token: &str, member: &str) -> Value {
    let members = expect_status(app.get_as("/api/team/members", token).await, StatusCode::OK).await;
    members["members"].as_array().unwrap().iter().find(|m| m["id"] == member).unwrap().clone()
}

async fn availability_follows_dashboards_and_choice(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let ana = add_member(&app, &owner.token, "member").await;
    let mut watcher = app.dashboard_ws(&owner.token).await;
    // The owner's own dashboard makes the owner available; the owner steps away first.
    expect_status(
        patch_as(&app, "/api/team/me", &owner.token, &json!({ "availability": "offline" })).await,
        StatusCode::OK,
    )
    .await;
    dashboard_event(&mut watcher, "presence:updated", |d| d["availability"] == "offline" && d["connected"] == true)
        .await;
    assert_eq!(agents_available(&app, &key).await, (false, false));

    let mut ana_socket = app.dashboard_ws(&ana.token).await;
    let online = dashboard_event(&mut watcher, "presence:updated", |d| d["member_id"] == ana.id.as_str()).await;
    assert_eq!((online["availability"].as_str(), online["connected"].as_bool()), (Some("online"), Some(true)));
    assert_eq!(agents_available(&app, &key).await, (true, true));
    assert_eq!(presence_of(&app, &owner.token, &ana.id).await["presence"], "online");

    expect_status(patch_as(&app, "/api/team/me", &ana.token, &json!({ "availability": "busy" })).await, StatusCode::OK)
        .await;
    dashboard_event(&mut watcher, "presence:updated", |d| {
        d["member_id"] == ana.id.as_str() && d["availability"] == "busy"
    })
    .await;
    assert_eq!(agents_available(&app, &key).await, (false, false));
    expect_status(
        patch_as(&app, "/api/team/me", &ana.token, &json!({ "availability": "online" })).await,
        StatusCode::OK,
    )
    .await;
    dashboard_event(&mut watcher, "presence:updated", |d| {
        d["member_id"] == ana.id.as_str() && d["availability"] == "online"
    })
    .await;

    // Closing the browser: offline at once, with a last-seen time.
    let before = presence_of(&app, &owner.token, &ana.id).await["last_seen_at"].as_i64().unwrap();
    drop(ana_socket.ws.close(None).await);
    let gone = dashboard_event(&mut watcher, "presence:updated", |d| d["member_id"] == ana.id.as_str()).await;
    assert_eq!((gone["availability"].as_str(), gone["connected"].as_bool()), (Some("offline"), Some(false)));
    let shown = presence_of(&app, &owner.token, &ana.id).await;
    assert_eq!(shown["presence"], "offline");
    assert!(shown["last_seen_at"].as_i64().unwrap() >= before);
    assert_eq!(agents_available(&app, &key).await, (false, false));
    expect_error(
        patch_as(&app, "/api/team/me", &ana.token, &json!({ "availability": "away" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
}

async fn new_conversations_go_to_available_members(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let ana = add_member(&app, &owner.token, "member").await;
    let ben = add_member(&app, &owner.token, "member").await;
    let cy = add_member(&app, &owner.token, "member").await;
    let mut watcher = app.dashboard_ws(&owner.token).await;
    expect_status(
        patch_as(&app, "/api/team/me", &owner.token, &json!({ "availability": "busy" })).await,
        StatusCode::OK,
    )
    .await;
    let mut sockets = Vec::new();
    for member in [&ana, &ben, &cy] {
        sockets.push(app.dashboard_ws(&member.token).await);
        dashboard_event(&mut watcher, "presence:updated", |d| {
            d["member_id"] == member.id.as_str() && d["availability"] == "online"
        })
        .await;
    }
    // Cy is busy; Ben takes at most one open conversation.
    expect_status(patch_as(&app, "/api/team/me", &cy.token, &json!({ "availability": "busy" })).await, StatusCode::OK)
        .await;
    dashboard_event(&mut watcher, "presence:updated", |d| {
        d["member_id"] == cy.id.as_str() && d["availability"] == "busy"
    })
    .await;
    expect_status(
        patch_as(&app, &format!("/api/team/members/{}", ben.id), &owner.token, &json!({ "max_open": 1 })).await,
        StatusCode::OK,
    )
    .await;
    let settings = json!({ "auto_assignment": "round_robin", "waiting_after_minutes": 10 });
    expect_status(put_as(&app, "/api/team/settings", &owner.token, &settings).await, StatusCode::OK).await;

    let mut assignees = Vec::new();
    let mut visitors = Vec::new();
    for i in 0..4 {
        let (visitor, conversation) = visitor_writes(&app, &key, &format!("question {i}")).await;
        visitors.push(visitor);
        let assigned = dashboard_event(&mut watcher, "activity:new", |d| {
            d["type"] == "assigned" && d["conversation_id"] == conversation.as_str()
        })
        .await;
        assert!(assigned["by"].is_null(), "auto-assignment is by nobody: {assigned}");
        assignees.push(assigned["assignee_id"].as_str().unwrap().to_owned());
    }
    let count = |who: &str| assignees.iter().filter(|a| *a == who).count();
    assert_eq!((count(&ana.id), count(&ben.id), count(&cy.id)), (3, 1, 0), "{assignees:?}");

    // Least open: with Ben's cap lifted, he has fewer open conversations than Ana, so he is next.
    expect_status(
        patch_as(&app, &format!("/api/team/members/{}", ben.id), &owner.token, &json!({ "max_open": null })).await,
        StatusCode::OK,
    )
    .await;
    let settings = json!({ "auto_assignment": "least_open", "waiting_after_minutes": 0 });
    expect_status(put_as(&app, "/api/team/settings", &owner.token, &settings).await, StatusCode::OK).await;
    for _ in 0..2 {
        let (visitor, conversation) = visitor_writes(&app, &key, "another").await;
        visitors.push(visitor);
        let assigned = dashboard_event(&mut watcher, "activity:new", |d| {
            d["type"] == "assigned" && d["conversation_id"] == conversation.as_str()
        })
        .await;
        assert_eq!(assigned["assignee_id"], ben.id.as_str());
    }

    // Ana leaves: her conversations stay hers and, with waiting_after_minutes 0, show as waiting.
    let mut ana_socket = sockets.remove(0);
    drop(ana_socket.ws.close(None).await);
    dashboard_event(&mut watcher, "presence:updated", |d| {
        d["member_id"] == ana.id.as_str() && d["availability"] == "offline"
    })
    .await;
    let page = expect_status(
        app.get_as(&format!("/api/products/chatbot/conversations?assignee={}", ana.id), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    let waiting: Vec<bool> =
        page["conversations"].as_array().unwrap().iter().map(|c| c["waiting"].as_bool().unwrap()).collect();
    assert_eq!(waiting, [true, true, true]);
    let page = expect_status(
        app.get_as(&format!("/api/products/chatbot/conversations?assignee={}", ben.id), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    assert!(page["conversations"].as_array().unwrap().iter().all(|c| c["waiting"] == false));
    let bad = json!({ "auto_assignment": "lottery", "waiting_after_minutes": 10 });
    expect_error(
        put_as(&app, "/api/team/settings", &owner.token, &bad).await,
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
    expect_error(
        put_as(&app, "/api/team/settings", &ana.token, &settings).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
}

/// A member with dashboards on two nodes stays online until the last one closes; every node sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_spans_nodes() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let owner = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&owner).await;
    let ana = add_member(&a.app, &owner.token, "member").await;
    expect_status(
        patch_as(&a.app, "/api/team/me", &owner.token, &json!({ "availability": "offline" })).await,
        StatusCode::OK,
    )
    .await;
    let mut watcher_b = b.app.dashboard_ws(&owner.token).await;
    let mut on_a = a.app.dashboard_ws(&ana.token).await;
    dashboard_event(&mut watcher_b, "presence:updated", |d| {
        d["member_id"] == ana.id.as_str() && d["availability"] == "online"
    })
    .await;
    let mut on_b = b.app.dashboard_ws(&ana.token).await;
    // B announces only after its mark is in the shared presence: before that, A's close could not count it.
    dashboard_event(&mut watcher_b, "presence:updated", |d| {
        d["member_id"] == ana.id.as_str() && d["availability"] == "online"
    })
    .await;
    on_b.drain_dashboard().await;
    assert_eq!(agents_available(&b.app, &key).await, (true, true));

    drop(on_a.ws.close(None).await);
    // Still connected on B: whatever A announces, she stays online.
    let still = dashboard_event(&mut watcher_b, "presence:updated", |d| d["member_id"] == ana.id.as_str()).await;
    assert_eq!(still["availability"], "online");
    assert_eq!(agents_available(&a.app, &key).await, (true, true));
    drop(on_b.ws.close(None).await);
    dashboard_event(&mut watcher_b, "presence:updated", |d| {
        d["member_id"] == ana.id.as_str() && d["availability"] == "offline"
    })
    .await;
    assert_eq!(agents_available(&a.app, &key).await, (false, false));
}

crate::on_both_stores!(availability_follows_dashboards_and_choice, new_conversations_go_to_available_members);
