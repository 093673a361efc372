//! The operator's command line, against the same database a server then uses.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;

fn switchboard(database_url: &str, args: &[&str]) -> std::process::Output {
    switchboard_with(database_url, &[], args)
}

/// Runs the binary with `DATABASE_URL` and the extra environment `env`.
fn switchboard_with(database_url: &str, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

async fn cli_license_lets_a_new_user_start(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let out = switchboard(&database_url, &["license", "create", "--email", "cli@example.com", "--products", "chatbot"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let license: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let key = license["license_key"].as_str().expect("license_key").to_owned();

    let app = spawn_with(test_config(database_url.clone(), backend)).await;
    expect_status(app.register("cli@example.com", &key).await, StatusCode::CREATED).await;
    let login = expect_status(app.login("cli@example.com", PASSWORD).await, StatusCode::OK).await;
    let token = login["token"].as_str().expect("token");
    expect_status(app.get_as("/api/auth/me", token).await, StatusCode::OK).await;
    let created = app.post_as("/api/products/keys", token, &json!({ "product": "chatbot" })).await;
    let created = expect_status(created, StatusCode::CREATED).await;
    assert!(created["product_key"].as_str().expect("key").starts_with("chat_"));
    expect_status(app.post_as("/api/auth/logout", token, &json!({})).await, StatusCode::OK).await;
    expect_error(app.get_as("/api/auth/me", token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let listed = switchboard(&database_url, &["license", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&key));
}

async fn cli_refuses_bad_orders(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let out =
        switchboard(&database_url, &["license", "create", "--email", "cli@example.com", "--products", "warp-drive"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown product"));
}

crate::on_both_stores!(cli_license_lets_a_new_user_start, cli_refuses_bad_orders);

/// The operator suspends from the command line while servers run on the same PostgreSQL and Redis: the
/// running server refuses the license's tokens at once and closes its open dashboard sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_suspension_reaches_running_servers() {
    let Some(database_url) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let config = test_config(database_url.clone(), Backend::Postgres);
    let Some(redis_url) = config.redis_url.clone() else {
        eprintln!("skipping: TEST_REDIS_URL is unset (run scripts/test)");
        return;
    };
    let prefix = config.redis_key_prefix.clone();
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    expect_status(app.get_as("/api/auth/me", &tenant.token).await, StatusCode::OK).await;
    let mut dashboard = app.dashboard_ws(&tenant.token).await;

    let env = [("REDIS_URL", redis_url.as_str()), ("REDIS_KEY_PREFIX", prefix.as_str())];
    let out = switchboard_with(&database_url, &env, &["license", "suspend", &tenant.license_key]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let license: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(license["status"], "suspended");

    let (code, reason) = dashboard.recv_close().await;
    assert_eq!((code, reason.as_str()), (4003, "session revoked"));
    expect_error(app.get_as("/api/auth/me", &tenant.token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.login(&tenant.email, PASSWORD).await, StatusCode::FORBIDDEN, "license_suspended").await;
}
