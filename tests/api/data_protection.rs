//! Data protection: a license's retention period deletes old messages and idle contacts in batches;
//! one contact is exported as JSON or erased with everything stored about them, audited, and the erasure
//! reaches the live state of every node (the visitor's socket closes).

use crate::cluster::Cluster;
use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use crate::team::{add_member, dashboard_event};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Runs `sql` on the test's own database: the only way to make data look 40 days old.
async fn age(backend: Backend, database_url: &str, sql: &str) {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(database_url).await.expect("sqlite");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("aged");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(database_url).await.expect("postgres");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("aged");
        }
    }
}

/// A visitor writes `texts`; returns the socket, the conversation id and the visitor (contact) id.
async fn visitor_says(app: &TestApp, key: &str, texts: &[&str]) -> (Socket, String, String) {
    let mut visitor = app.widget(key, None).await;
    let welcome = visitor.recv_type("welcome").await;
    let mut conversation = String::new();
    for (i, text) in texts.iter().enumerate() {
        visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": format!("m{i}") })).await;
        conversation = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    }
    (visitor, conversation, welcome["visitor_id"].as_str().expect("visitor id").to_owned())
}

async fn texts_of(app: &TestApp, token: &str, conversation: &str) -> Vec<String> {
    let path = format!("/api/conversations/{conversation}/messages");
    let page = expect_status(app.get_as(&path, token).await, StatusCode::OK).await;
    page["messages"].as_array().expect("messages").iter().map(|m| m["text"].as_str().unwrap_or("").to_owned()).collect()
}

async fn put_retention(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    let request = app.client.put(app.url("/api/security/data-retention")).bearer_auth(token).json(body);
    request.send().await.expect("sent")
}

async fn retention_deletes_old_messages_and_idle_contacts(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let app = spawn_with(test_config(database_url.clone(), backend)).await;
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let (_active, active, _) = visitor_says(&app, &key, &["old 1", "old 2", "old 3", "recent"]).await;
    let (mut idle_visitor, idle, _) = visitor_says(&app, &key, &["gone 1", "gone 2", "gone 3"]).await;
    let forty_days = 40 * DAY_MS;
    age(backend, &database_url, &format!("UPDATE messages SET created_at = created_at - {forty_days} WHERE conversation_id = '{active}' AND seq <= 3")).await;
    age(
        backend,
        &database_url,
        &format!("UPDATE messages SET created_at = created_at - {forty_days} WHERE conversation_id = '{idle}'"),
    )
    .await;
    age(
        backend,
        &database_url,
        &format!("UPDATE conversations SET updated_at = updated_at - {forty_days} WHERE id = '{idle}'"),
    )
    .await;

    let member = add_member(&app, &owner.token, "manager").await;
    expect_error(
        put_retention(&app, &member.token, &json!({ "days": 30 })).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    for bad in [json!({ "days": 0 }), json!({ "days": 3651 })] {
        expect_error(put_retention(&app, &owner.token, &bad).await, StatusCode::BAD_REQUEST, "invalid_value").await;
    }
    let shown = expect_status(app.get_as("/api/security/data-retention", &owner.token).await, StatusCode::OK).await;
    assert_eq!(shown["days"], Value::Null, "nothing is deleted until a period is set");
    let mut dashboard = app.dashboard_ws(&owner.token).await;
    assert_eq!(
        expect_status(put_retention(&app, &owner.token, &json!({ "days": 30 })).await, StatusCode::OK).await["days"],
        30
    );

    // The sweep starts at once: the idle contact's conversation goes, and its open socket is closed.
    let erased = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "conversations_erased").await;
    assert_eq!((&erased["conversation_ids"], &erased["contact_id"]), (&json!([idle]), &Value::Null));
    assert_eq!(idle_visitor.recv_close().await.0, 1008);
    let path = format!("/api/conversations/{idle}");
    expect_error(app.get_as(&path, &owner.token).await, StatusCode::NOT_FOUND, "not_found").await;
    // Old messages of the active conversation go batch by batch (two rows each in the tests).
    eventually(Duration::from_secs(10), async || match texts_of(&app, &owner.token, &active).await {
        texts if texts == ["recent"] => Ok(()),
        texts => Err(format!("old messages still there: {texts:?}")),
    })
    .await;
    let audit = app.get_as("/api/security/audit-logs?action=data_retention.updated", &owner.token).await;
    let entry = &expect_status(audit, StatusCode::OK).await["audit_logs"][0];
    assert_eq!((&entry["target"], &entry["metadata"]["days"]), (&json!("data_retention"), &json!(30)));
    expect_status(put_retention(&app, &owner.token, &json!({ "days": null })).await, StatusCode::OK).await;
    let shown = expect_status(app.get_as("/api/security/data-retention", &owner.token).await, StatusCode::OK).await;
    assert_eq!(shown["days"], Value::Null);
}

async fn a_contact_is_exported_and_erased(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let endpoint = app.webhook_endpoint(&owner, &receiver.url, &["message_created"]).await;
    let (mut visitor, conversation, contact) = visitor_says(&app, &key, &["my address is 1 Main St"]).await;
    let reply = json!({ "text": "Thanks, noted." });
    let path = format!("/api/conversations/{conversation}/messages");
    expect_status(app.post_as(&path, &owner.token, &reply).await, StatusCode::CREATED).await;
    let (_other, other_conversation, _) = visitor_says(&app, &key, &["another person"]).await;
    receiver.wait_for(Duration::from_secs(15), |r| r.len() == 3).await;

    let member = add_member(&app, &owner.token, "manager").await;
    let export_path = format!("/api/contacts/{contact}/export");
    expect_error(app.get_as(&export_path, &member.token).await, StatusCode::FORBIDDEN, "insufficient_role").await;
    expect_error(
        app.get_as("/api/contacts/v_0000000000000000/export", &owner.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let response = app.get_as(&export_path, &owner.token).await;
    assert!(response.headers()["content-disposition"].to_str().unwrap_or("").starts_with("attachment"));
    let export = expect_status(response, StatusCode::OK).await;
    assert_eq!(export["contact_id"], contact.as_str());
    let exported = &export["conversations"].as_array().expect("conversations")[..];
    assert_eq!(exported.len(), 1);
    let texts: Vec<&str> =
        exported[0]["messages"].as_array().expect("messages").iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["my address is 1 Main St", "Thanks, noted."]);

    let mut dashboard = app.dashboard_ws(&owner.token).await;
    let contact_path = format!("/api/contacts/{contact}");
    expect_error(app.delete_as(&contact_path, &member.token).await, StatusCode::FORBIDDEN, "insufficient_role").await;
    let erased = expect_status(app.delete_as(&contact_path, &owner.token).await, StatusCode::OK).await;
    assert_eq!((&erased["conversations"], &erased["messages_deleted"]), (&json!([conversation]), &json!(2)));
    assert_eq!(visitor.recv_close().await.0, 1008, "the visitor's live socket is closed");
    let shown = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "conversations_erased").await;
    assert_eq!(shown["contact_id"], contact.as_str());
    expect_error(
        app.get_as(&format!("/api/conversations/{conversation}"), &owner.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(app.get_as(&export_path, &owner.token).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(app.delete_as(&contact_path, &owner.token).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(texts_of(&app, &owner.token, &other_conversation).await, ["another person"], "other contacts stay");
    // The webhook copies of their messages went too: only the other contact's delivery is logged.
    let log_path = format!("/api/webhook-endpoints/{}/deliveries", endpoint["id"].as_str().expect("id"));
    let log = expect_status(app.get_as(&log_path, &owner.token).await, StatusCode::OK).await;
    assert_eq!(log["deliveries"].as_array().map(Vec::len), Some(1));

    for action in ["contact.exported", "contact.erased"] {
        let audit = app.get_as(&format!("/api/security/audit-logs?action={action}"), &owner.token).await;
        let entry = &expect_status(audit, StatusCode::OK).await["audit_logs"][0];
        assert_eq!((&entry["target"], &entry["actor_id"]), (&json!(contact), &json!(owner_id(&app, &owner).await)));
    }
}

async fn owner_id(app: &TestApp, owner: &Tenant) -> String {
    let me = expect_status(app.get_as("/api/auth/me", &owner.token).await, StatusCode::OK).await;
    me["user"]["id"].as_str().expect("id").to_owned()
}

crate::on_both_stores!(retention_deletes_old_messages_and_idle_contacts, a_contact_is_exported_and_erased);

/// The visitor chats through node B; the erasure is asked of node A: B's live actor stops and the
/// visitor's socket there closes, and resuming with their token finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_reaches_every_node() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let mut visitor = b.app.widget(&key, None).await;
    let welcome = visitor.recv_type("welcome").await;
    let (token, contact) =
        (welcome["visitor_token"].as_str().expect("token"), welcome["visitor_id"].as_str().expect("id"));
    visitor.send_json(&json!({ "type": "message", "text": "erase me later", "client_msg_id": "e1" })).await;
    let conversation = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    let mut dashboard_b = b.app.dashboard_ws(&tenant.token).await;
    dashboard_b.drain_dashboard().await;

    let erased =
        expect_status(a.app.delete_as(&format!("/api/contacts/{contact}"), &tenant.token).await, StatusCode::OK).await;
    assert_eq!(erased["conversations"], json!([conversation]));
    assert_eq!(visitor.recv_close().await.0, 1008, "node B closed the visitor's socket");
    let shown = dashboard_event(&mut dashboard_b, "activity:new", |d| d["type"] == "conversations_erased").await;
    assert_eq!(shown["conversation_ids"], json!([conversation]));
    let mut back = b.app.widget(&key, Some((token, 1))).await;
    let welcome = back.recv_type("welcome").await;
    assert_eq!((&welcome["conversation_id"], &welcome["last_seq"]), (&Value::Null, &json!(0)));
    // A new message starts a new conversation; the erased one stays gone on both nodes.
    back.send_json(&json!({ "type": "message", "text": "hello again", "client_msg_id": "e2" })).await;
    assert_ne!(back.recv_type("ack").await["conversation_id"], conversation.as_str());
    for node in [&a, &b] {
        let path = format!("/api/conversations/{conversation}");
        expect_error(node.app.get_as(&path, &tenant.token).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}
