//! Teams: invitations, roles walked through the permission table, deactivation, assignment, private
//! notes with mentions, labels and canned answers — over real HTTP and sockets, on both engines.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A logged-in member of `owner`'s team with `role`, invited and accepted over the API.
pub struct Member {
    pub id: String,
    pub email: String,
    pub token: String,
}

async fn invite(app: &TestApp, inviter: &str, email: &str, role: &str) -> Value {
    let response = app.post_as("/api/team/invitations", inviter, &json!({ "email": email, "role": role })).await;
    expect_status(response, StatusCode::CREATED).await
}

pub async fn add_member(app: &TestApp, inviter: &str, role: &str) -> Member {
    let email = format!("{role}-{}@example.com", uuid::Uuid::new_v4().simple());
    let invited = invite(app, inviter, &email, role).await;
    let token = invited["token"].as_str().expect("token");
    let body = json!({ "token": token, "password": PASSWORD, "name": format!("The {role}") });
    let session = expect_status(app.post_json("/api/team/invitations/accept", &body).await, StatusCode::OK).await;
    assert_eq!(session["user"]["role"], role);
    Member {
        id: session["user"]["id"].as_str().expect("id").to_owned(),
        email,
        token: session["token"].as_str().expect("token").to_owned(),
    }
}

pub(crate) async fn patch_as(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client.patch(app.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
}

pub async fn put_as(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client.put(app.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
}

/// A visitor of the tenant writes; returns the visitor's socket and the conversation id.
pub(crate) async fn visitor_writes(app: &TestApp, key: &str, text: &str) -> (Socket, String) {
    let mut visitor = app.widget(key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": "first" })).await;
    let ack = visitor.recv_type("ack").await;
    (visitor, ack["conversation_id"].as_str().expect("conversation id").to_owned())
}

/// The next dashboard frame with `event` whose data satisfies `keep`.
pub(crate) async fn dashboard_event(socket: &mut Socket, event: &str, keep: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = socket.recv_json().await;
        if frame["event"] == event && keep(&frame["data"]) {
            return frame["data"].clone();
        }
    }
}

async fn invitations_bring_members_in_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let email = format!("new-{}@example.com", uuid::Uuid::new_v4().simple());
    let invited = invite(&app, &owner.token, &email, "manager").await;
    assert!(invited["accept_url"].as_str().expect("url").contains("/app/#/accept?token=inv_"));
    let pending = expect_status(app.get_as("/api/team/invitations", &owner.token).await, StatusCode::OK).await;
    assert_eq!(pending["invitations"][0]["email"], email.as_str());
    assert!(pending["invitations"][0].get("token").is_none(), "the token is shown once only");

    let token = invited["token"].as_str().expect("token");
    let weak = json!({ "token": token, "password": "short" });
    expect_error(app.post_json("/api/team/invitations/accept", &weak).await, StatusCode::BAD_REQUEST, "weak_password")
        .await;
    let accept = json!({ "token": token, "password": PASSWORD, "name": "Mia" });
    let session = expect_status(app.post_json("/api/team/invitations/accept", &accept).await, StatusCode::OK).await;
    assert_eq!(session["user"]["license_key"], owner.license_key.as_str());
    assert_eq!(session["user"]["role"], "manager");
    // Single use: the same link works once.
    expect_error(app.post_json("/api/team/invitations/accept", &accept).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    expect_status(app.login(&email, PASSWORD).await, StatusCode::OK).await;

    let members = expect_status(app.get_as("/api/team/members", &owner.token).await, StatusCode::OK).await;
    let roles: Vec<&str> =
        members["members"].as_array().expect("members").iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["owner", "manager"]);
    assert_eq!(members["members"][1]["name"], "Mia");
    assert!(members["members"][1]["last_seen_at"].is_i64());

    // A revoked invitation no longer works; a second invitation replaces the first.
    let other = format!("other-{}@example.com", uuid::Uuid::new_v4().simple());
    let first = invite(&app, &owner.token, &other, "member").await;
    let second = invite(&app, &owner.token, &other, "viewer").await;
    let stale = json!({ "token": first["token"], "password": PASSWORD });
    expect_error(app.post_json("/api/team/invitations/accept", &stale).await, StatusCode::NOT_FOUND, "not_found").await;
    let id = second["invitation"]["id"].as_str().expect("id");
    expect_status(app.delete_as(&format!("/api/team/invitations/{id}"), &owner.token).await, StatusCode::NO_CONTENT)
        .await;
    let revoked = json!({ "token": second["token"], "password": PASSWORD });
    expect_error(app.post_json("/api/team/invitations/accept", &revoked).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    // Bad input says what is wrong.
    let unknown_role = json!({ "email": "x@example.com", "role": "wizard" });
    expect_error(
        app.post_as("/api/team/invitations", &owner.token, &unknown_role).await,
        StatusCode::BAD_REQUEST,
        "invalid_value",
    )
    .await;
    let taken = json!({ "email": email, "role": "member" });
    expect_error(
        app.post_as("/api/team/invitations", &owner.token, &taken).await,
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;
    let owner_seat = json!({ "email": "y@example.com", "role": "owner" });
    expect_error(
        app.post_as("/api/team/invitations", &owner.token, &owner_seat).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
}

async fn the_tier_caps_the_team(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let email = format!("free-{}@example.com", uuid::Uuid::new_v4().simple());
    let response = app
        .client
        .post(app.url("/api/admin/licenses"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "email": email, "products": ["chatbot"], "tier": "free" }))
        .send()
        .await
        .expect("sent");
    let license = expect_status(response, StatusCode::CREATED).await["license_key"].as_str().expect("key").to_owned();
    expect_status(app.register(&email, &license).await, StatusCode::CREATED).await;
    let owner =
        expect_status(app.login(&email, PASSWORD).await, StatusCode::OK).await["token"].as_str().unwrap().to_owned();
    add_member(&app, &owner, "member").await;
    invite(&app, &owner, "pending@example.com", "viewer").await;
    // Free: 3 seats — the owner, a member and a pending invitation.
    let fourth = json!({ "email": "fourth@example.com", "role": "viewer" });
    expect_error(
        app.post_as("/api/team/invitations", &owner, &fourth).await,
        StatusCode::FORBIDDEN,
        "member_limit_reached",
    )
    .await;
    let members = expect_status(app.get_as("/api/team/members", &owner).await, StatusCode::OK).await;
    assert_eq!(members["member_limit"], 3);
}

async fn every_role_gets_exactly_its_rights(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let admin = add_member(&app, &owner.token, "admin").await;
    let manager = add_member(&app, &admin.token, "manager").await;
    let member = add_member(&app, &admin.token, "member").await;
    let viewer = add_member(&app, &admin.token, "viewer").await;
    let (_visitor, conversation) = visitor_writes(&app, &key, "hello team").await;
    let messages = format!("/api/conversations/{conversation}/messages");
    let assignee = format!("/api/conversations/{conversation}/assignee");

    // Read: everyone.
    for token in [&owner.token, &admin.token, &manager.token, &member.token, &viewer.token] {
        expect_status(app.get_as("/api/products/chatbot/conversations", token).await, StatusCode::OK).await;
        expect_status(app.get_as(&messages, token).await, StatusCode::OK).await;
        expect_status(app.get_as("/api/team/members", token).await, StatusCode::OK).await;
    }
    // Answer: member and up.
    let reply = json!({ "text": "on it" });
    expect_error(app.post_as(&messages, &viewer.token, &reply).await, StatusCode::FORBIDDEN, "insufficient_role").await;
    expect_error(
        put_as(&app, &assignee, &viewer.token, &json!({ "assignee_id": "me" })).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    expect_status(app.post_as(&messages, &member.token, &reply).await, StatusCode::CREATED).await;
    expect_status(put_as(&app, &assignee, &member.token, &json!({ "assignee_id": "me" })).await, StatusCode::OK).await;
    // Assign someone else, manage labels and canned answers: manager and up.
    let to_viewer = json!({ "assignee_id": viewer.id });
    expect_error(put_as(&app, &assignee, &member.token, &to_viewer).await, StatusCode::FORBIDDEN, "insufficient_role")
        .await;
    expect_error(app.delete_as(&assignee, &viewer.token).await, StatusCode::FORBIDDEN, "insufficient_role").await;
    let label = json!({ "name": "vip" });
    expect_error(app.post_as("/api/labels", &member.token, &label).await, StatusCode::FORBIDDEN, "insufficient_role")
        .await;
    let canned = json!({ "short_code": "hi", "content": "Hello!" });
    expect_error(
        app.post_as("/api/canned-answers", &member.token, &canned).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    expect_status(put_as(&app, &assignee, &manager.token, &to_viewer).await, StatusCode::OK).await;
    expect_status(app.post_as("/api/labels", &manager.token, &label).await, StatusCode::CREATED).await;
    expect_status(app.post_as("/api/canned-answers", &manager.token, &canned).await, StatusCode::CREATED).await;
    // Team and settings: admin and up, and only over lower roles.
    for token in [&manager.token, &member.token, &viewer.token] {
        expect_error(app.get_as("/api/team/invitations", token).await, StatusCode::FORBIDDEN, "insufficient_role")
            .await;
        expect_error(
            app.post_as("/api/products/chatbot/configure", token, &json!({})).await,
            StatusCode::FORBIDDEN,
            "insufficient_role",
        )
        .await;
    }
    expect_status(app.get_as("/api/team/invitations", &admin.token).await, StatusCode::OK).await;
    expect_status(app.post_as("/api/products/chatbot/configure", &admin.token, &json!({})).await, StatusCode::OK).await;
    let to_admin = json!({ "role": "admin" });
    let path = format!("/api/team/members/{}", member.id);
    expect_error(patch_as(&app, &path, &admin.token, &to_admin).await, StatusCode::FORBIDDEN, "insufficient_role")
        .await;
    let owner_id =
        expect_status(app.get_as("/api/auth/me", &owner.token).await, StatusCode::OK).await["user"]["id"].clone();
    let owner_path = format!("/api/team/members/{}", owner_id.as_str().unwrap());
    expect_error(app.delete_as(&owner_path, &admin.token).await, StatusCode::FORBIDDEN, "insufficient_role").await;
    expect_error(
        patch_as(&app, &owner_path, &owner.token, &json!({ "role": "member" })).await,
        StatusCode::FORBIDDEN,
        "own_account",
    )
    .await;
    // A role change applies at the next login: the member's sessions end at once.
    let changed =
        expect_status(patch_as(&app, &path, &admin.token, &json!({ "role": "viewer" })).await, StatusCode::OK).await;
    assert_eq!(changed["role"], "viewer");
    expect_error(app.get_as("/api/auth/me", &member.token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Team changes are in the audit trail, with who did them.
    let audit = expect_status(
        app.get_as("/api/security/audit-logs?action=member.role_changed", &owner.token).await,
        StatusCode::OK,
    )
    .await;
    let entry = &audit["audit_logs"][0];
    assert_eq!(
        (entry["target"].as_str(), entry["actor_id"].as_str()),
        (Some(member.id.as_str()), Some(admin.id.as_str()))
    );
    assert_eq!(
        (entry["metadata"]["from"].as_str(), entry["metadata"]["to"].as_str()),
        (Some("member"), Some("viewer"))
    );
    let joined =
        expect_status(app.get_as("/api/security/audit-logs?action=member.joined", &admin.token).await, StatusCode::OK)
            .await;
    assert_eq!(joined["audit_logs"].as_array().unwrap().len(), 4);
    expect_error(
        app.get_as("/api/security/audit-logs", &manager.token).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    let again = expect_status(app.login(&member.email, PASSWORD).await, StatusCode::OK).await;
    let token = again["token"].as_str().unwrap();
    expect_error(app.post_as(&messages, token, &reply).await, StatusCode::FORBIDDEN, "insufficient_role").await;
}

async fn deactivation_ends_sessions_and_sockets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let member = add_member(&app, &owner.token, "member").await;
    let mut socket = app.dashboard_ws(&member.token).await;
    socket.drain_dashboard().await;
    let mut owner_socket = app.dashboard_ws(&owner.token).await;
    owner_socket.drain_dashboard().await;
    let (_visitor, conversation) = visitor_writes(&app, &key, "hi").await;
    let assignee = format!("/api/conversations/{conversation}/assignee");
    expect_status(put_as(&app, &assignee, &member.token, &json!({ "assignee_id": "me" })).await, StatusCode::OK).await;

    let path = format!("/api/team/members/{}", member.id);
    expect_status(app.delete_as(&path, &owner.token).await, StatusCode::NO_CONTENT).await;
    assert_eq!(socket.recv_close().await.0, 4003);
    let unassigned =
        dashboard_event(&mut owner_socket, "activity:new", |d| d["type"] == "assigned" && d["assignee_id"].is_null())
            .await;
    assert!(unassigned["assignee_id"].is_null() && unassigned["by"].is_null(), "{unassigned}");
    expect_error(app.get_as("/api/auth/me", &member.token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.login(&member.email, PASSWORD).await, StatusCode::FORBIDDEN, "member_deactivated").await;
    // Their conversations go back to the queue; they stay listed, as deactivated.
    let shown =
        expect_status(app.get_as(&format!("/api/conversations/{conversation}"), &owner.token).await, StatusCode::OK)
            .await;
    assert!(shown["assignee_id"].is_null());
    // The conversation's live actor knows too: another member takes it with the member role alone.
    let other = add_member(&app, &owner.token, "member").await;
    let taken =
        expect_status(put_as(&app, &assignee, &other.token, &json!({ "assignee_id": "me" })).await, StatusCode::OK)
            .await;
    assert_eq!(taken["assignee_id"], other.id.as_str());
    let members = expect_status(app.get_as("/api/team/members", &owner.token).await, StatusCode::OK).await;
    assert_eq!(members["members"][1]["status"], "deactivated");
    expect_error(app.delete_as(&path, &owner.token).await, StatusCode::NOT_FOUND, "not_found").await;
}

async fn assignment_is_live_and_filters_the_inbox(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let ana = add_member(&app, &owner.token, "member").await;
    let ben = add_member(&app, &owner.token, "member").await;
    let mut owner_socket = app.dashboard_ws(&owner.token).await;
    let mut ben_socket = app.dashboard_ws(&ben.token).await;
    owner_socket.drain_dashboard().await;
    ben_socket.drain_dashboard().await;
    let (_v1, first) = visitor_writes(&app, &key, "first").await;
    let (_v2, second) = visitor_writes(&app, &key, "second").await;

    let path = format!("/api/conversations/{first}/assignee");
    let taken =
        expect_status(put_as(&app, &path, &ana.token, &json!({ "assignee_id": "me" })).await, StatusCode::OK).await;
    assert_eq!(taken["assignee_id"], ana.id.as_str());
    let seen = dashboard_event(&mut owner_socket, "activity:new", |d| d["type"] == "assigned").await;
    assert_eq!(
        (seen["conversation_id"].as_str(), seen["assignee_id"].as_str()),
        (Some(first.as_str()), Some(ana.id.as_str()))
    );

    let list = |token: &str, query: &str| {
        let url = format!("/api/products/chatbot/conversations?{query}");
        let token = token.to_owned();
        let app = &app;
        async move {
            let page = expect_status(app.get_as(&url, &token).await, StatusCode::OK).await;
            page["conversations"]
                .as_array()
                .expect("list")
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(&ana.token, "assignee=me").await, [first.as_str()]);
    assert_eq!(list(&owner.token, "assignee=unassigned").await, [second.as_str()]);
    assert_eq!(list(&owner.token, &format!("assignee={}", ana.id)).await, [first.as_str()]);
    assert_eq!(list(&owner.token, "unread=true&channel=widget").await.len(), 2);
    assert!(list(&owner.token, "channel=messenger").await.is_empty());
    // Full-text search over the messages, words as prefixes; query syntax is not passed through.
    assert_eq!(list(&owner.token, "q=FIRS").await, [first.as_str()]);
    assert_eq!(list(&owner.token, "q=second%20sec").await, [second.as_str()]);
    assert!(list(&owner.token, "q=third").await.is_empty());
    assert!(list(&owner.token, "q=first%20OR%20second").await.is_empty(), "OR is a word, not an operator");
    expect_error(
        app.get_as("/api/products/chatbot/conversations?q=%22*", &owner.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        app.get_as("/api/products/chatbot/conversations?assignee=someone", &owner.token).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    // The owner hands it to Ben: Ben is notified, everyone sees the change.
    expect_status(put_as(&app, &path, &owner.token, &json!({ "assignee_id": ben.id })).await, StatusCode::OK).await;
    let note = dashboard_event(&mut ben_socket, "notification:new", |d| d["kind"] == "assigned").await;
    assert_eq!(note["conversation_id"], first.as_str());
    assert_eq!(note["recipient"], ben.id.as_str());
    let seen = dashboard_event(&mut owner_socket, "activity:new", |d| d["type"] == "assigned").await;
    assert_eq!(seen["assignee_id"], ben.id.as_str());
    assert!(!owner_socket.drain_dashboard().await.iter().any(|f| f.contains("notification:new")), "not for the owner");
    assert_eq!(list(&ben.token, "assignee=me").await, [first.as_str()]);

    // Strangers are not found: another license's member, another license's conversation.
    let stranger = app.new_tenant(&["chatbot"]).await;
    let stranger_id =
        expect_status(app.get_as("/api/auth/me", &stranger.token).await, StatusCode::OK).await["user"]["id"].clone();
    expect_error(
        put_as(&app, &path, &owner.token, &json!({ "assignee_id": stranger_id })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        put_as(&app, &path, &stranger.token, &json!({ "assignee_id": "me" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_status(app.delete_as(&path, &owner.token).await, StatusCode::OK).await;
    assert_eq!(list(&owner.token, "assignee=unassigned").await.len(), 2);
}

async fn notes_stay_inside_the_team(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let ana = add_member(&app, &owner.token, "member").await;
    let ben = add_member(&app, &owner.token, "member").await;
    let mut ana_socket = app.dashboard_ws(&ana.token).await;
    let mut ben_socket = app.dashboard_ws(&ben.token).await;
    ana_socket.drain_dashboard().await;
    ben_socket.drain_dashboard().await;
    let (mut visitor, conversation) = visitor_writes(&app, &key, "my order is late").await;
    let messages = format!("/api/conversations/{conversation}/messages");
    let local = ana.email.split('@').next().unwrap();
    let note = json!({ "text": format!("@{local} can you check the carrier?"), "private": true });
    let stored = expect_status(app.post_as(&messages, &owner.token, &note).await, StatusCode::CREATED).await;
    assert_eq!(stored["message"]["kind"], "note");
    let long = json!({ "text": "x".repeat(4001), "private": true });
    expect_error(app.post_as(&messages, &owner.token, &long).await, StatusCode::BAD_REQUEST, "invalid_value").await;
    expect_status(app.post_as(&messages, &owner.token, &json!({ "text": "We are on it" })).await, StatusCode::CREATED)
        .await;

    // The visitor sees the reply, never the note; neither live nor on resume.
    let reply = visitor.recv_type("message").await;
    assert_eq!(reply["text"], "We are on it");
    assert!(visitor.drain().await.iter().all(|f| f["text"] != note["text"]));
    let mentioned = dashboard_event(&mut ana_socket, "notification:new", |d| d["kind"] == "mention").await;
    assert_eq!(mentioned["conversation_id"], conversation.as_str());
    // Everyone on the team sees the note as a message; only Ana was mentioned.
    let frames = ben_socket.drain_dashboard().await;
    assert!(frames.iter().any(|f| f.contains("\"kind\":\"note\"")));
    assert!(!frames.iter().any(|f| f.contains("\"mention\"")));
    let history = expect_status(app.get_as(&messages, &owner.token).await, StatusCode::OK).await;
    let kinds: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "note", "text"]);
}

async fn labels_and_canned_answers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let member = add_member(&app, &owner.token, "member").await;
    let mut socket = app.dashboard_ws(&owner.token).await;
    socket.drain_dashboard().await;
    let (_visitor, conversation) = visitor_writes(&app, &key, "refund please").await;
    expect_status(
        app.post_as("/api/labels", &owner.token, &json!({ "name": "billing", "color": "#FF0000" })).await,
        StatusCode::CREATED,
    )
    .await;
    expect_error(
        app.post_as("/api/labels", &owner.token, &json!({ "name": "billing" })).await,
        StatusCode::CONFLICT,
        "label_exists",
    )
    .await;
    expect_error(
        app.post_as("/api/labels", &owner.token, &json!({ "name": "Not OK!" })).await,
        StatusCode::BAD_REQUEST,
        "invalid_label",
    )
    .await;
    let labels = format!("/api/conversations/{conversation}/labels");
    let added =
        expect_status(app.post_as(&labels, &member.token, &json!({ "label": "billing" })).await, StatusCode::OK).await;
    assert_eq!(added["labels"], json!(["billing"]));
    let live = dashboard_event(&mut socket, "activity:new", |d| d["type"] == "labels_changed").await;
    assert_eq!(live["labels"], json!(["billing"]));
    expect_error(
        app.post_as(&labels, &member.token, &json!({ "label": "unknown" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let page = expect_status(
        app.get_as("/api/products/chatbot/conversations?label=billing", &owner.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["conversations"][0]["labels"], json!(["billing"]));
    // Deleting the label takes it off the conversation.
    expect_status(app.delete_as("/api/labels/billing", &owner.token).await, StatusCode::NO_CONTENT).await;
    let page =
        expect_status(app.get_as("/api/products/chatbot/conversations", &owner.token).await, StatusCode::OK).await;
    assert_eq!(page["conversations"][0]["labels"], json!([]));

    for (code, content) in
        [("greet", "Hello! How can I help?"), ("greet_evening", "Good evening!"), ("bye", "Goodbye!"), ("a_b", "x")]
    {
        let body = json!({ "short_code": code, "content": content });
        expect_status(app.post_as("/api/canned-answers", &owner.token, &body).await, StatusCode::CREATED).await;
    }
    let found = expect_status(app.get_as("/api/canned-answers?q=gre", &member.token).await, StatusCode::OK).await;
    let codes: Vec<&str> =
        found["canned_answers"].as_array().unwrap().iter().map(|c| c["short_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["greet", "greet_evening"]);
    // `_` is a literal, not a wildcard.
    let found = expect_status(app.get_as("/api/canned-answers?q=a_", &member.token).await, StatusCode::OK).await;
    assert_eq!(found["canned_answers"].as_array().unwrap().len(), 1);
    let dup = json!({ "short_code": "bye", "content": "again" });
    expect_error(
        app.post_as("/api/canned-answers", &owner.token, &dup).await,
        StatusCode::CONFLICT,
        "short_code_exists",
    )
    .await;
    let id = found["canned_answers"][0]["id"].as_str().unwrap();
    let changed = expect_status(
        patch_as(&app, &format!("/api/canned-answers/{id}"), &owner.token, &json!({ "content": "y" })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["content"], "y");
    let stranger = app.new_tenant(&["chatbot"]).await;
    expect_error(
        app.delete_as(&format!("/api/canned-answers/{id}"), &stranger.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_status(app.delete_as(&format!("/api/canned-answers/{id}"), &owner.token).await, StatusCode::NO_CONTENT)
        .await;
}

crate::on_both_stores!(
    invitations_bring_members_in_once,
    the_tier_caps_the_team,
    every_role_gets_exactly_its_rights,
    deactivation_ends_sessions_and_sockets,
    assignment_is_live_and_filters_the_inbox,
    notes_stay_inside_the_team,
    labels_and_canned_answers,
);
