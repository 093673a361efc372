//! API keys: created by the owner (secret shown once), sent by the tenant's backend as `X-API-Key`, held to
//! their scopes and their license, refused everywhere the moment they are revoked.

use crate::cluster::Cluster;
use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

impl TestApp {
    /// Creates an API key with `scopes`; returns the created key (with its `secret`).
    pub async fn api_key(&self, tenant: &Tenant, scopes: &[&str]) -> Value {
        let body = json!({ "name": "backend", "scopes": scopes });
        expect_status(self.post_as("/api/security/api-keys", &tenant.token, &body).await, StatusCode::CREATED).await
    }

    /// A backend's call: the key and nothing else (a fresh client: no dashboard cookie rides along).
    pub async fn get_with_key(&self, path: &str, secret: &str) -> Response {
        reqwest::Client::new().get(self.url(path)).header("x-api-key", secret).send().await.expect("request sent")
    }

    pub async fn post_with_key(&self, path: &str, secret: &str, body: &Value) -> Response {
        let request = reqwest::Client::new().post(self.url(path)).header("x-api-key", secret).json(body);
        request.send().await.expect("request sent")
    }
}

fn secret(key: &Value) -> String {
    key["secret"].as_str().expect("secret").to_owned()
}

async fn owner_creates_lists_and_revokes_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.api_key(&tenant, &["usage:read", "conversations:read", "usage:read"]).await;
    let secret = secret(&key);
    let random = secret.strip_prefix("sk_live_").expect("prefix");
    assert!(random.len() == 32 && random.bytes().all(|b| b.is_ascii_alphanumeric()), "{secret}");
    assert_eq!(key["prefix"], &secret[..12]);
    assert_eq!(key["scopes"], json!(["conversations:read", "usage:read"]));
    assert_eq!((&key["name"], &key["last_used_at"]), (&json!("backend"), &Value::Null));

    let listed = expect_status(app.get_as("/api/security/api-keys", &tenant.token).await, StatusCode::OK).await;
    let listed = listed["api_keys"].as_array().expect("api_keys").clone();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].get("secret").is_none() && !listed[0].to_string().contains(random), "never shown again");
    assert_eq!(listed[0]["id"], key["id"]);

    expect_status(app.get_with_key("/api/usage", &secret).await, StatusCode::OK).await;
    let listed = expect_status(app.get_as("/api/security/api-keys", &tenant.token).await, StatusCode::OK).await;
    assert!(listed["api_keys"][0]["last_used_at"].as_i64().is_some(), "use is recorded: {listed}");

    let path = format!("/api/security/api-keys/{}", key["id"].as_str().expect("id"));
    assert_eq!(app.delete_as(&path, &tenant.token).await.status(), StatusCode::NO_CONTENT);
    expect_error(app.get_with_key("/api/usage", &secret).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.delete_as(&path, &tenant.token).await, StatusCode::NOT_FOUND, "not_found").await;
    let listed = expect_status(app.get_as("/api/security/api-keys", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(listed["api_keys"], json!([]));
}

async fn bad_keys_scopes_and_names_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    for body in [
        json!({ "name": "x", "scopes": ["conversations:delete"] }),
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "   ", "scopes": ["usage:read"] }),
        json!({ "name": "x".repeat(101), "scopes": ["usage:read"] }),
        json!({ "scopes": ["usage:read"] }),
    ] {
        let response = app.post_as("/api/security/api-keys", &tenant.token, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    for wrong in ["", "sk_live_short", "sk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer x"] {
        let response = app.get_with_key("/api/products/chatbot/conversations", wrong).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // A key opens the tenant API, not the owner's dashboard endpoints.
    let key = secret(&app.api_key(&tenant, &["usage:read"]).await);
    expect_error(app.get_with_key("/api/security/api-keys", &key).await, StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    expect_error(app.get_with_key("/api/auth/me", &key).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A suspended license's keys stop at once.
    let suspend = format!("/api/admin/licenses/{}/suspend", tenant.license_key);
    expect_status(app.post_as(&suspend, ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    expect_error(app.get_with_key("/api/usage", &key).await, StatusCode::FORBIDDEN, "license_suspended").await;
}

/// A tenant whose visitor opened a conversation; returns the tenant, the visitor's socket and the conversation id.
async fn conversation_with_visitor(app: &TestApp) -> (Tenant, Socket, String) {
    let tenant = app.new_tenant(&["chatbot"]).await;
    let chat_key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&chat_key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "c1" })).await;
    let id = visitor.recv_type("ack").await["conversation_id"].as_str().expect("id").to_owned();
    (tenant, visitor, id)
}

async fn keys_read_and_answer_conversations_within_their_scopes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (tenant, mut visitor, id) = conversation_with_visitor(&app).await;
    let reader = secret(&app.api_key(&tenant, &["conversations:read"]).await);
    let writer = secret(&app.api_key(&tenant, &["conversations:write"]).await);

    let list =
        expect_status(app.get_with_key("/api/products/chatbot/conversations", &reader).await, StatusCode::OK).await;
    assert_eq!(list["conversations"][0]["id"], id.as_str());
    expect_status(app.get_with_key(&format!("/api/conversations/{id}"), &reader).await, StatusCode::OK).await;
    let messages =
        expect_status(app.get_with_key(&format!("/api/conversations/{id}/messages"), &reader).await, StatusCode::OK)
            .await;
    assert_eq!(messages["messages"][0]["text"], "hello");
    let path = format!("/api/conversations/{id}/messages");
    let refused = app.post_with_key(&path, &reader, &json!({ "text": "hi" })).await;
    expect_error(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
    expect_error(app.get_with_key(&path, &writer).await, StatusCode::FORBIDDEN, "insufficient_scope").await;
    expect_error(app.get_with_key("/api/usage", &writer).await, StatusCode::FORBIDDEN, "insufficient_scope").await;

    // A bot's reply (no author) reaches the visitor like an agent's.
    let bot =
        expect_status(app.post_with_key(&path, &writer, &json!({ "text": "I am a bot" })).await, StatusCode::CREATED)
            .await;
    assert_eq!((&bot["message"]["sender"], bot["message"].get("author_id")), (&json!("agent"), None));
    let pushed = visitor.recv_type("message").await;
    assert_eq!(pushed["text"], "I am a bot");
    // Replying as a member of the license names them; anyone else is not found.
    let me = expect_status(app.get_as("/api/auth/me", &tenant.token).await, StatusCode::OK).await;
    let owner_id = me["user"]["id"].as_str().expect("id");
    let as_owner = app.post_with_key(&path, &writer, &json!({ "text": "from the owner", "author_id": owner_id })).await;
    assert_eq!(expect_status(as_owner, StatusCode::CREATED).await["message"]["author_id"], owner_id);
    let stranger = json!({ "text": "x", "author_id": uuid::Uuid::new_v4().to_string() });
    expect_error(app.post_with_key(&path, &writer, &stranger).await, StatusCode::NOT_FOUND, "not_found").await;
    // Dashboard users always write as themselves.
    let impostor = json!({ "text": "x", "author_id": uuid::Uuid::new_v4().to_string() });
    expect_error(app.post_as(&path, &tenant.token, &impostor).await, StatusCode::FORBIDDEN, "insufficient_role").await;

    let closed = app.post_with_key(&format!("/api/conversations/{id}/close"), &writer, &json!({})).await;
    assert_eq!(expect_status(closed, StatusCode::OK).await["status"], "closed");
    assert_eq!(visitor.recv_type("status").await["status"], "closed");
}

async fn a_key_never_reaches_another_license(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (_, _visitor, alices) = conversation_with_visitor(&app).await;
    let bob = app.new_tenant(&["chatbot"]).await;
    let bobs_key = secret(&app.api_key(&bob, &["conversations:read", "conversations:write"]).await);
    let list =
        expect_status(app.get_with_key("/api/products/chatbot/conversations", &bobs_key).await, StatusCode::OK).await;
    assert_eq!(list["conversations"], json!([]));
    for path in [format!("/api/conversations/{alices}"), format!("/api/conversations/{alices}/messages")] {
        expect_error(app.get_with_key(&path, &bobs_key).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    for (path, body) in [
        (format!("/api/conversations/{alices}/messages"), json!({ "text": "hijack" })),
        (format!("/api/conversations/{alices}/close"), json!({})),
        (format!("/api/conversations/{alices}/read"), json!({ "seq": 1 })),
    ] {
        expect_error(app.post_with_key(&path, &bobs_key, &body).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Nor can bob's owner revoke a key of another license.
    let alice = app.new_tenant(&["chatbot"]).await;
    let alices_key = app.api_key(&alice, &["usage:read"]).await;
    let path = format!("/api/security/api-keys/{}", alices_key["id"].as_str().expect("id"));
    expect_error(app.delete_as(&path, &bob.token).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_status(app.get_with_key("/api/usage", &secret(&alices_key)).await, StatusCode::OK).await;
}

crate::on_both_stores!(
    owner_creates_lists_and_revokes_keys,
    bad_keys_scopes_and_names_are_refused,
    keys_read_and_answer_conversations_within_their_scopes,
    a_key_never_reaches_another_license,
);

/// Revoked on node A, refused on node B with the very next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_holds_on_every_node_at_once() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.api_key(&tenant, &["usage:read"]).await;
    expect_status(b.app.get_with_key("/api/usage", &secret(&key)).await, StatusCode::OK).await;
    let path = format!("/api/security/api-keys/{}", key["id"].as_str().expect("id"));
    assert_eq!(a.app.delete_as(&path, &tenant.token).await.status(), StatusCode::NO_CONTENT);
    expect_error(b.app.get_with_key("/api/usage", &secret(&key)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
