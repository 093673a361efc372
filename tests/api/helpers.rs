//! `spawn_app`: a fresh server per test, and request helpers that read like the product's story.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use switchboard::app::Application;
use switchboard::config::Config;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const PASSWORD: &str = "SecurePass123";

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
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
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
        database_url,
        database_max_connections: 5,
        redis_url,
        redis_key_prefix,
        jwt_secret: Some("test-secret".into()),
        jwt_ttl_seconds: 3600,
        admin_token: Some(ADMIN_TOKEN.into()),
        cookie_secure: false,
    }
}

/// Starts a server on a fresh database; `None` means "skip this engine here".
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let database_url = fresh_database(backend).await?;
    Some(spawn_with(test_config(database_url, backend)).await)
}

/// Starts a server with an explicit configuration.
pub async fn spawn_with(config: Config) -> TestApp {
    let app = Application::build(config).await.expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = Client::builder().cookie_store(true).build().expect("client builds");
    TestApp { address, client }
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
        let response = self
            .client
            .post(self.url("/api/admin/licenses"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "email": email, "products": products, "tier": "pro" }))
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
        let email = format!("owner-{}@example.com", uuid::Uuid::new_v4().simple());
        let license_key = self.create_license(&email, products).await;
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
