//! `spawn_app`: a fresh server per test, and request helpers that read like the product's story.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use switchboard::app::Application;
use switchboard::config::Config;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const PASSWORD: &str = "SecurePass123";
pub const MESSENGER_SECRET: &str = "messenger-app-secret";
pub const TWILIO_TOKEN: &str = "twilio-auth-token";

/// Which engines a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// SQLite file, in-process session cache.
    Sqlite,
    /// PostgreSQL database plus Redis, both from `scripts/services`.
    Postgres,
}

/// Runs an `async fn(Backend)` test once per engine.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub socketio_url: String,
    pub client: Client,
}

/// A fresh database URL for `backend`, or `None` when PostgreSQL is not configured outside CI.
pub async fn fresh_database(backend: Backend) -> Option<String> {
    let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            Some(format!("sqlite://{}", path.display()))
        }
        Backend::Postgres => {
            let Ok(admin_url) = std::env::var("DATABASE_ADMIN_URL") else {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but DATABASE_ADMIN_URL is unset: run the tests through scripts/test"
                );
                eprintln!("skipping the PostgreSQL case: DATABASE_ADMIN_URL is unset (run scripts/test)");
                return None;
            };
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("PostgreSQL answers");
            sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("test database created");
            let base = admin_url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin_url);
            Some(format!("{base}/{name}"))
        }
    }
}

/// Redis settings for `backend`: PostgreSQL runs pair with Redis under a unique key prefix.
fn redis_for(backend: Backend) -> (Option<String>, String) {
    match backend {
        Backend::Sqlite => (None, String::new()),
        Backend::Postgres => {
            let url = std::env::var("TEST_REDIS_URL").ok();
            assert!(
                url.is_some() || std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TEST_REDIS_URL is unset: run the tests through scripts/test"
            );
            (url, format!("test:{}:", uuid::Uuid::new_v4().simple()))
        }
    }
}

/// The configuration a test server runs with.
pub fn test_config(database_url: String, backend: Backend) -> Config {
    let (redis_url, redis_key_prefix) = redis_for(backend);
    Config {
        host: "127.0.0.1".into(),
        port: 0,
        socketio_port: 0,
        database_url,
        database_max_connections: 0,
        redis_url,
        redis_key_prefix,
        jwt_secret: Some("test-secret-of-at-least-32-bytes!".into()),
        jwt_ttl_seconds: 3600,
        admin_token: Some(ADMIN_TOKEN.into()),
        cookie_secure: false,
        public_url: None,
        actor_threads: 2,
        actor_idle_seconds: 300,
        visitor_rate_per_second: 50,
        visitor_burst: 100,
        license_rate_per_second: 10_000,
        source_rate_per_second: 10_000,
        new_conversations_per_source_per_minute: 10_000,
        login_attempts_per_source_per_minute: 10_000,
        login_attempts_per_email_per_minute: 1_000,
        max_sockets_per_visitor: 10,
        max_connections_per_source: 10_000,
        max_connections: 9_000,
        header_timeout_seconds: 10,
        widget_max_frame_bytes: 16 * 1024,
        webhook_max_body_bytes: 256 * 1024,
        trust_x_forwarded_for: false,
        shutdown_grace_seconds: 5,
        log_format: switchboard::config::LogFormat::Text,
        metrics_token: None,
        secrets_key: None,
        node_id: Some(format!("test-{}", uuid::Uuid::new_v4().simple())),
        messenger_app_secret: Some(MESSENGER_SECRET.into()),
        messenger_verify_token: Some("verify-me".into()),
        messenger_page_access_token: Some("page-token".into()),
        // Nothing listens on port 9: tests that send set a fake provider instead.
        messenger_api_base: "http://127.0.0.1:9".into(),
        twilio_account_sid: Some("AC123".into()),
        twilio_auth_token: Some(TWILIO_TOKEN.into()),
        twilio_api_base: "http://127.0.0.1:9".into(),
        outbound_max_attempts: 4,
        outbound_base_delay_ms: 10,
        outbound_timeout_ms: 2_000,
        outbound_orphan_seconds: 600,
        recovery_window_events: 1_000,
        usage: switchboard::config::UsageConfig {
            usage_limit_free: 1_000,
            usage_limit_basic: 10_000,
            usage_limit_pro: 100_000,
            usage_limit_enterprise: 0,
            usage_alert_percents: vec![80, 100],
            usage_flush_seconds: 30,
        },
        webhooks: switchboard::config::WebhookConfig {
            webhook_strict_urls: Some(false),
            webhook_timeout_ms: 2_000,
            webhook_retry_base_ms: 50,
            webhook_retry_hours: 24,
            webhook_disable_after_failures: 1_000,
            webhook_disable_after_seconds: 0,
            webhook_secret_overlap_hours: 24,
            webhook_concurrency: 32,
            webhook_poll_ms: 100,
        },
        retention: switchboard::config::RetentionConfig { retention_sweep_seconds: 3600, retention_batch_rows: 2 },
        burst: switchboard::config::BurstConfig {
            api_rate_per_second: 1_000,
            webhook_ingest_rate_per_second: 1_000,
            socketio_emit_rate_per_second: 1_000,
        },
    }
}

/// Starts a server on a fresh database; `None` means "skip this engine here".
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let database_url = fresh_database(backend).await?;
    Some(spawn_with(test_config(database_url, backend)).await)
}

/// Starts a server with an explicit configuration.
pub async fn spawn_with(config: Config) -> TestApp {
    // Server logs show with the test's output on failure; RUST_LOG picks the level (default: errors).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let app = Application::build(config).await.expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let socketio_url = format!("http://127.0.0.1:{}", app.socketio_port());
    tokio::spawn(app.run_until_stopped());
    let client = Client::builder().cookie_store(true).build().expect("client builds");
    TestApp { address, socketio_url, client }
}

/// A registered, logged-in tenant owner.
pub struct Tenant {
    pub license_key: String,
    pub email: String,
    pub token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    pub async fn delete_as(&self, path: &str, token: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// Issues a license through the admin API.
    pub async fn create_license(&self, email: &str, products: &[&str]) -> String {
        self.create_license_on_tier(email, products, "pro").await
    }

    /// Issues a license on `tier` through the admin API.
    pub async fn create_license_on_tier(&self, email: &str, products: &[&str], tier: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/admin/licenses"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "email": email, "products": products, "tier": tier }))
            .send()
            .await
            .expect("request sent");
        let body = expect_status(response, StatusCode::CREATED).await;
        body["license_key"].as_str().expect("license_key").to_owned()
    }

    pub async fn register(&self, email: &str, license_key: &str) -> Response {
        self.post_json(
            "/api/auth/register",
            &json!({ "email": email, "password": PASSWORD, "license_key": license_key }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/auth/login", &json!({ "email": email, "password": password })).await
    }

    /// License, registration and login in one step.
    pub async fn new_tenant(&self, products: &[&str]) -> Tenant {
        self.new_tenant_on_tier(products, "pro").await
    }

    /// A tenant whose license is on `tier`.
    pub async fn new_tenant_on_tier(&self, products: &[&str], tier: &str) -> Tenant {
        let email = format!("owner-{}@example.com", uuid::Uuid::new_v4().simple());
        let license_key = self.create_license_on_tier(&email, products, tier).await;
        expect_status(self.register(&email, &license_key).await, StatusCode::CREATED).await;
        let body = expect_status(self.login(&email, PASSWORD).await, StatusCode::OK).await;
        let token = body["token"].as_str().expect("token").to_owned();
        Tenant { license_key, email, token }
    }
}

/// Asserts the status and returns the JSON body (or `null` for an empty one).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body read");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
    }
}

/// Asserts an error response: status, JSON `{"error": {"code", "message"}}`, and the code.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> String {
    let body = expect_status(response, status).await;
    assert_eq!(body["error"]["code"], code, "unexpected error body: {body}");
    let message = body["error"]["message"].as_str().expect("error message").to_owned();
    assert!(!message.is_empty());
    message
}

/// Runs `check` every 50 ms until it answers `Ok`, and returns that; fails the test with `check`'s last
/// `Err` (what it saw instead) once `within` has passed. For what the server does soon but not at once
/// (a receipt stored after the pong, a slot freed once a close is seen, an event relayed by another node).
pub async fn eventually<T>(within: std::time::Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(done) => return done,
            Err(seen) if tokio::time::Instant::now() >= deadline => panic!("not within {within:?}: {seen}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// A widget (or any JSON-frame) WebSocket client with timeouts on every read.
pub struct Socket {
    pub ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Socket {
    pub async fn send_json(&mut self, frame: &Value) {
        use futures_util::SinkExt;
        let text = frame.to_string();
        self.ws.send(tokio_tungstenite::tungstenite::Message::text(text)).await.expect("frame sent");
    }

    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt;
        self.ws.send(tokio_tungstenite::tungstenite::Message::text(text)).await.expect("frame sent");
    }

    /// The next JSON text frame (pings and pongs skipped); panics on close or after 5 s.
    pub async fn recv_json(&mut self) -> Value {
        match self.next_event().await {
            SocketEvent::Json(value) => value,
            SocketEvent::Closed(code, reason) => panic!("socket closed ({code}: {reason}) while a frame was expected"),
        }
    }

    /// The next frame of `kind`, skipping others (typing, presence, …).
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.recv_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Waits for the close frame; returns its code and reason.
    pub async fn recv_close(&mut self) -> (u16, String) {
        loop {
            if let SocketEvent::Closed(code, reason) = self.next_event().await {
                return (code, reason);
            }
        }
    }

    pub async fn next_event(&mut self) -> SocketEvent {
        self.next_event_within(std::time::Duration::from_secs(5)).await.expect("a frame within 5 s")
    }

    /// The next frame or close, or `None` if nothing arrives within `wait`.
    pub async fn next_event_within(&mut self, wait: std::time::Duration) -> Option<SocketEvent> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let next = tokio::time::timeout(wait, self.ws.next()).await.ok()?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Some(SocketEvent::Json(serde_json::from_str(&text).expect("frames are JSON")));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) =
                        frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    return Some(SocketEvent::Closed(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(SocketEvent::Closed(1006, "connection dropped".into())),
            }
        }
    }

    /// Sends a ping frame and returns every frame up to its pong: proves nothing else is pending.
    pub async fn drain(&mut self) -> Vec<Value> {
        self.send_json(&json!({ "type": "ping" })).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.recv_json().await;
            if frame["type"] == "pong" {
                return frames;
            }
            frames.push(frame);
        }
    }
}

pub enum SocketEvent {
    Json(Value),
    Closed(u16, String),
}

impl TestApp {
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{}", self.address.replacen("http://", "ws://", 1), path)
    }

    /// Opens a widget socket; panics if the server refuses the upgrade.
    pub async fn widget(&self, product_key: &str, resume: Option<(&str, i64)>) -> Socket {
        let mut path = format!("/ws/widget?product_key={product_key}");
        if let Some((token, last_seq)) = resume {
            path.push_str(&format!("&visitor_token={token}&last_seq={last_seq}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(self.ws_url(&path)).await.expect("widget socket opens");
        Socket { ws }
    }

    /// Configures the chatbot (creating the `chat_` key) and returns the key.
    pub async fn chat_key(&self, tenant: &Tenant) -> String {
        let response = self.post_as("/api/products/chatbot/configure", &tenant.token, &json!({})).await;
        let body = expect_status(response, StatusCode::CREATED).await;
        body["product_key"].as_str().expect("product_key").to_owned()
    }
}

impl TestApp {
    /// Opens the plain dashboard WebSocket with the token in the query string.
    pub async fn dashboard_ws(&self, token: &str) -> Socket {
        let url = self.ws_url(&format!("/ws/dashboard?token={token}"));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("dashboard socket opens");
        Socket { ws }
    }
}

impl Socket {
    /// Sends a dashboard ping and returns every frame up to its pong.
    pub async fn drain_dashboard(&mut self) -> Vec<String> {
        self.send_json(&json!({ "event": "ping" })).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.recv_json().await;
            if frame["event"] == "pong" {
                return frames;
            }
            frames.push(frame.to_string());
        }
    }
}
