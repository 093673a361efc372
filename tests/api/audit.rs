//! The audit trail: each operation records who did it, from where, with which client; tenants see only
//! their own events; pages and exports hold every event once.

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const AGENT: &str = "audit-test/1.0 (\"quoted\", with commas)";

impl TestApp {
    /// A request with our `User-Agent`, as `token` (none for anonymous calls).
    async fn send_as_agent(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path)).header("user-agent", AGENT);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// Every audit event the owner behind `token` sees (one big page).
    pub async fn audit_events(&self, token: &str, query: &str) -> Vec<Value> {
        let body = expect_status(
            self.get_as(&format!("/api/security/audit-logs?limit=500{query}"), token).await,
            StatusCode::OK,
        )
        .await;
        body["audit_logs"].as_array().expect("audit_logs").clone()
    }

    /// Every audit event the operator sees with `query`.
    async fn admin_audit_events(&self, query: &str) -> Vec<Value> {
        let response = self.get_as(&format!("/api/admin/audit-logs?limit=500{query}"), ADMIN_TOKEN).await;
        expect_status(response, StatusCode::OK).await["audit_logs"].as_array().expect("audit_logs").clone()
    }
}

/// The one event with `action` (and `target`, when given) among `events`.
fn event<'a>(events: &'a [Value], action: &str, target: Option<&str>) -> &'a Value {
    let found: Vec<&Value> =
        events.iter().filter(|e| e["action"] == action && target.is_none_or(|t| e["target"] == t)).collect();
    assert_eq!(found.len(), 1, "one {action} event ({target:?}) expected in {events:#?}");
    found[0]
}

fn assert_from_us(event: &Value) {
    assert_eq!(event["ip"], "127.0.0.1", "{event}");
    assert_eq!(event["user_agent"], AGENT, "{event}");
}

async fn each_operation_records_actor_ip_and_user_agent(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    use reqwest::Method;
    let email = format!("audited-{}@example.com", uuid::Uuid::new_v4().simple());
    let order = json!({ "email": email, "products": ["chatbot"], "tier": "pro" });
    let license = app.send_as_agent(Method::POST, "/api/admin/licenses", Some(ADMIN_TOKEN), Some(&order)).await;
    let license = expect_status(license, StatusCode::CREATED).await["license_key"].as_str().expect("key").to_owned();
    let credentials = json!({ "email": email, "password": PASSWORD, "license_key": license });
    let user = expect_status(
        app.send_as_agent(Method::POST, "/api/auth/register", None, Some(&credentials)).await,
        StatusCode::CREATED,
    )
    .await;
    let user_id = user["user"]["id"].as_str().expect("id").to_owned();
    let wrong = json!({ "email": email, "password": "not-the-password" });
    expect_error(
        app.send_as_agent(Method::POST, "/api/auth/login", None, Some(&wrong)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let login = json!({ "email": email, "password": PASSWORD });
    let token =
        expect_status(app.send_as_agent(Method::POST, "/api/auth/login", None, Some(&login)).await, StatusCode::OK)
            .await;
    let token = token["token"].as_str().expect("token").to_owned();
    let as_owner = |method: Method, path: &str, body: Option<Value>| {
        let (app, token, path) = (&app, token.clone(), path.to_owned());
        async move { app.send_as_agent(method, &path, Some(&token), body.as_ref()).await }
    };

    let key = expect_status(
        as_owner(Method::POST, "/api/products/keys", Some(json!({ "product": "chatbot" }))).await,
        StatusCode::CREATED,
    )
    .await;
    let key = key["product_key"].as_str().expect("key").to_owned();
    assert_eq!(
        as_owner(Method::DELETE, &format!("/api/products/keys/{key}"), None).await.status(),
        StatusCode::NO_CONTENT
    );
    let config = json!({ "config": { "title": "Audited" } });
    expect_status(as_owner(Method::POST, "/api/products/chatbot/configure", Some(config)).await, StatusCode::CREATED)
        .await;
    let number = json!({ "provider": "whatsapp", "number": format!("+1555{}", &uuid::Uuid::new_v4().as_u128().to_string()[..7]) });
    let integration =
        expect_status(as_owner(Method::POST, "/api/integrations", Some(number)).await, StatusCode::CREATED).await;
    let integration = integration["id"].as_str().expect("id").to_owned();
    assert_eq!(
        as_owner(Method::DELETE, &format!("/api/integrations/{integration}"), None).await.status(),
        StatusCode::NO_CONTENT
    );
    let api_key = json!({ "name": "CRM", "scopes": ["usage:read"] });
    let api_key =
        expect_status(as_owner(Method::POST, "/api/security/api-keys", Some(api_key)).await, StatusCode::CREATED).await;
    let api_key = api_key["id"].as_str().expect("id").to_owned();
    assert_eq!(
        as_owner(Method::DELETE, &format!("/api/security/api-keys/{api_key}"), None).await.status(),
        StatusCode::NO_CONTENT
    );
    // A second session, logged out.
    let other = expect_status(app.login(&email, PASSWORD).await, StatusCode::OK).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    expect_status(
        app.send_as_agent(Method::POST, "/api/auth/logout", Some(&other), Some(&json!({}))).await,
        StatusCode::OK,
    )
    .await;

    let events = app.audit_events(&token, "").await;
    for (action, target) in [
        ("register", Some(user_id.as_str())),
        ("login.failed", Some(user_id.as_str())),
        ("product_key.created", Some(key.as_str())),
        ("product_key.revoked", Some(key.as_str())),
        ("settings.updated", Some("widget_config")),
        ("integration.connected", Some(integration.as_str())),
        ("integration.disconnected", Some(integration.as_str())),
        ("api_key.created", Some(api_key.as_str())),
        ("api_key.revoked", Some(api_key.as_str())),
        ("logout", Some(user_id.as_str())),
    ] {
        let found = event(&events, action, target);
        assert_eq!((&found["actor_kind"], &found["actor_id"]), (&json!("user"), &json!(user_id)), "{found}");
        assert_eq!(found["license_key"], license.as_str());
        assert_from_us(found);
    }
    assert_eq!(event(&events, "login.failed", None)["metadata"]["reason"], "wrong_password");
    assert_eq!(event(&events, "api_key.created", None)["metadata"]["scopes"], json!(["usage:read"]));
    let logins: Vec<_> = events.iter().filter(|e| e["action"] == "login.succeeded").collect();
    assert_eq!(logins.len(), 2, "both sessions' logins are recorded");
    assert!(events.iter().all(|e| e["license_key"] == license.as_str()));

    // The operator's own actions, and a failed login for an address nobody has, which belongs to no tenant.
    let nobody = json!({ "email": "nobody@example.com", "password": "whatever-it-is" });
    expect_error(
        app.send_as_agent(Method::POST, "/api/auth/login", None, Some(&nobody)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    for verb in ["suspend", "activate"] {
        let path = format!("/api/admin/licenses/{license}/{verb}");
        expect_status(
            app.send_as_agent(Method::POST, &path, Some(ADMIN_TOKEN), Some(&json!({}))).await,
            StatusCode::OK,
        )
        .await;
    }
    let operator = app.admin_audit_events(&format!("&license={license}")).await;
    for action in ["license.created", "license.suspended", "license.activated"] {
        let found = event(&operator, action, Some(license.as_str()));
        assert_eq!((&found["actor_kind"], &found["actor_id"]), (&json!("admin"), &json!("admin_api")), "{found}");
        assert_from_us(found);
    }
    let anonymous = app.admin_audit_events("&action=login.failed&actor=user").await;
    let unknown = anonymous.iter().find(|e| e["metadata"]["email"] == "nobody@example.com").expect("recorded");
    assert_eq!((&unknown["license_key"], &unknown["actor_id"]), (&Value::Null, &Value::Null));
    assert_eq!(unknown["metadata"]["reason"], "unknown_user");
}

async fn tenants_never_see_each_others_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let alice = app.new_tenant(&["chatbot"]).await;
    let bob = app.new_tenant(&["chatbot"]).await;
    app.chat_key(&bob).await;
    let alices = app.audit_events(&alice.token, "").await;
    assert!(!alices.is_empty());
    assert!(alices.iter().all(|e| e["license_key"] == alice.license_key.as_str()), "{alices:#?}");
    // Naming bob's license narrows alice's view to nothing; it never widens it.
    assert!(app.audit_events(&alice.token, &format!("&license={}", bob.license_key)).await.is_empty());
    assert_eq!(app.audit_events(&alice.token, &format!("&license={}", alice.license_key)).await, alices);
    // The operator sees both, and filters by license.
    let bobs = app.admin_audit_events(&format!("&license={}", bob.license_key)).await;
    assert!(bobs.iter().any(|e| e["action"] == "settings.updated"));
    assert!(bobs.iter().all(|e| e["license_key"] == bob.license_key.as_str()));
    // No route alters or deletes events.
    for method in [reqwest::Method::DELETE, reqwest::Method::PUT, reqwest::Method::POST] {
        let response = app
            .client
            .request(method, app.url("/api/security/audit-logs"))
            .bearer_auth(&alice.token)
            .send()
            .await
            .expect("sent");
        expect_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
    let anonymous = reqwest::get(app.url("/api/security/audit-logs")).await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn pages_filters_and_exports_hold_every_event_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let started = switchboard::domain::now_millis();
    for _ in 0..6 {
        let key = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": "chatbot" })).await;
        let key = expect_status(key, StatusCode::CREATED).await["product_key"].as_str().expect("key").to_owned();
        assert_eq!(
            app.delete_as(&format!("/api/products/keys/{key}"), &tenant.token).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    let all = app.audit_events(&tenant.token, "").await;
    assert_eq!(all.len(), 15, "license.created, register, login and 12 key events: {all:#?}");
    let times: Vec<i64> = all.iter().map(|e| e["created_at"].as_i64().expect("created_at")).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    // Pages of 5 follow next_cursor to the end: every event once, in the same order.
    let (mut paged, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = expect_status(
            app.get_as(&format!("/api/security/audit-logs?limit=5{query}"), &tenant.token).await,
            StatusCode::OK,
        )
        .await;
        paged.extend(page["audit_logs"].as_array().expect("page").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all);
    let bad = app.get_as("/api/security/audit-logs?cursor=12.nothex", &tenant.token).await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_cursor").await;

    // Filters narrow.
    let revoked = app.audit_events(&tenant.token, "&action=product_key.revoked").await;
    assert_eq!(revoked.len(), 6);
    let user_id =
        all.iter().find(|e| e["action"] == "register").expect("register")["actor_id"].as_str().expect("id").to_owned();
    assert_eq!(app.audit_events(&tenant.token, &format!("&actor=user:{user_id}")).await.len(), 14);
    assert_eq!(app.audit_events(&tenant.token, "&actor=admin").await.len(), 1, "the license was issued");
    assert!(app.audit_events(&tenant.token, &format!("&until={started}&action=product_key.created")).await.is_empty());
    assert_eq!(app.audit_events(&tenant.token, &format!("&since={started}&action=product_key.created")).await.len(), 6);
    for bad in ["action=login.maybe", "actor=robot", "limit=0", "format=xml", "until=-1"] {
        let response = app.get_as(&format!("/api/security/audit-logs?{bad}"), &tenant.token).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    // NDJSON: one event per line, the same events.
    let ndjson = app.get_as("/api/security/audit-logs?format=ndjson", &tenant.token).await;
    assert_eq!(ndjson.status(), StatusCode::OK);
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> =
        ndjson.text().await.expect("body").lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines, all);

    // CSV: a header and one row per event, quoted where needed.
    let csv = app.get_as("/api/security/audit-logs?format=csv", &tenant.token).await;
    assert!(csv.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    let rows = parse_csv(&csv.text().await.expect("body"));
    assert_eq!(
        rows[0],
        [
            "id",
            "created_at",
            "license_key",
            "actor_kind",
            "actor_id",
            "action",
            "target",
            "ip",
            "user_agent",
            "metadata"
        ]
    );
    assert_eq!(rows.len(), all.len() + 1);
    for (row, event) in rows[1..].iter().zip(&all) {
        assert_eq!(row[0], event["id"].as_str().expect("id"));
        assert_eq!(row[5], event["action"].as_str().expect("action"));
        let metadata: Value = serde_json::from_str(&row[9]).expect("metadata is JSON");
        assert_eq!(metadata, event["metadata"]);
    }
}

/// RFC 4180: fields separated by commas, quoted ones may hold commas, quotes (doubled) and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field, mut quoted, mut chars) =
        (Vec::new(), Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

async fn an_export_with_our_agent_parses(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let body = json!({ "name": "with, \"quotes\"", "scopes": ["usage:read"] });
    let created =
        app.send_as_agent(reqwest::Method::POST, "/api/security/api-keys", Some(&tenant.token), Some(&body)).await;
    expect_status(created, StatusCode::CREATED).await;
    let csv = app.get_as("/api/security/audit-logs?format=csv&action=api_key.created", &tenant.token).await;
    let rows = parse_csv(&csv.text().await.expect("body"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][8], AGENT);
    let metadata: Value = serde_json::from_str(&rows[1][9]).expect("metadata is JSON");
    assert_eq!(metadata["name"], "with, \"quotes\"");
}

async fn cli_license_operations_are_audited(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env("DATABASE_URL", &database_url)
            .env("RUST_LOG", "error")
            .output()
            .expect("the binary runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON on stdout")
    };
    let license = cli(&["license", "create", "--email", "cli-audit@example.com", "--products", "chatbot"]);
    let key = license["license_key"].as_str().expect("key").to_owned();
    cli(&["license", "suspend", &key]);
    cli(&["license", "activate", &key]);
    let app = spawn_with(test_config(database_url.clone(), backend)).await;
    let events = app.admin_audit_events(&format!("&license={key}&actor=admin:cli")).await;
    for action in ["license.created", "license.suspended", "license.activated"] {
        let found = event(&events, action, Some(key.as_str()));
        assert_eq!((&found["ip"], &found["user_agent"]), (&Value::Null, &Value::Null), "{found}");
    }
}

crate::on_both_stores!(
    cli_license_operations_are_audited,
    each_operation_records_actor_ip_and_user_agent,
    tenants_never_see_each_others_events,
    pages_filters_and_exports_hold_every_event_once,
    an_export_with_our_agent_parses,
);
