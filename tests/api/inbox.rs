//! The agent inbox at `/app/` in a real browser: `tests/browser/inbox_e2e.mjs` drives headless Chromium
//! (two agents, a visitor on another origin) against a `switchboard` process started here, which this
//! test stops and starts again on the same ports and store when the script asks (`STOP`, `START` on its
//! stdout; `STOPPED`, `STARTED` on its stdin). Screenshots go to `<target dir>/screenshots`. Same
//! skip rule as the widget's browser test: without Chromium or playwright-core it skips, except under
//! `CI=true`, where it fails. Beside it, over plain HTTP and WebSockets: how the app's files are served,
//! and the agent's typing frame on the plain dashboard socket.

use crate::browser::browser_tools_ready;
use crate::cluster::{Cluster, Node};
use crate::helpers::*;
use crate::nginx::{free_port, start_node};
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Where the screenshots go: beside the build (`<target dir>/screenshots/inbox-<engine>`), never in the repository.
fn screenshot_dir(backend: Backend) -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let target = binary.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    target.join("screenshots").join(format!("inbox-{backend:?}").to_lowercase())
}

/// WhatsApp through Twilio, with the provider's API where nothing listens (a reply's delivery fails quickly),
/// and a secrets key, so members can turn on two-factor.
const SETTINGS: &[(&str, &str)] = &[
    ("SECRETS_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
    ("TWILIO_ACCOUNT_SID", "AC123"),
    ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
    ("TWILIO_API_BASE", "http://127.0.0.1:9"),
    ("OUTBOUND_MAX_ATTEMPTS", "2"),
    ("OUTBOUND_BASE_DELAY_MS", "10"),
];

/// The store (and, on PostgreSQL, Redis) the server process keeps across its restart.
async fn store_for(backend: Backend) -> Option<Cluster> {
    let database_url = fresh_database(backend).await?;
    let redis_url = match backend {
        Backend::Sqlite => String::new(),
        Backend::Postgres => std::env::var("TEST_REDIS_URL").ok()?,
    };
    Some(Cluster { database_url, redis_url, prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()) })
}

/// SIGTERM, as an operator's restart does: sockets are told to reconnect (1012), then the process exits.
async fn stop(node: &mut Node) {
    // SAFETY: kill has no memory preconditions; the pid is our running child.
    assert_eq!(unsafe { libc::kill(node.pid(), libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(30), node.wait()).await.expect("the node stops within 30 s");
    assert!(status.success(), "the node exited with {status}");
}

async fn inbox_in_a_real_browser(backend: Backend) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !browser_tools_ready(root) {
        return;
    }
    let Some(store) = store_for(backend).await else { return };
    let ports = (free_port(), free_port());
    let mut node = start_node(&store, "inbox", ports, SETTINGS).await;
    let app = node.app.address.clone();
    expect_status(node.app.client.get(format!("{app}/readyz")).send().await.expect("readyz"), StatusCode::OK).await;

    let mut script = tokio::process::Command::new("node")
        .arg("tests/browser/inbox_e2e.mjs")
        .current_dir(root)
        .env("SWITCHBOARD_URL", &app)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
        .env("SCREENSHOT_DIR", screenshot_dir(backend))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = script.stdin.take().expect("stdin");
    let mut lines = BufReader::new(script.stdout.take().expect("stdout")).lines();
    let mut said = Vec::new();
    // The script bounds itself at 150 s; this only guards against a hung node.
    let driven = tokio::time::timeout(Duration::from_secs(200), async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            let answer = match line.as_str() {
                "STOP" => {
                    stop(&mut node).await;
                    "STOPPED\n"
                }
                "START" => {
                    node = start_node(&store, "inbox", ports, SETTINGS).await;
                    "STARTED\n"
                }
                _ => {
                    said.push(line);
                    continue;
                }
            };
            stdin.write_all(answer.as_bytes()).await.expect("the script reads its stdin");
        }
    })
    .await;
    assert!(driven.is_ok(), "the inbox browser test did not finish within 200 s");
    let status = script.wait().await.expect("the script's status");
    assert!(status.success(), "tests/browser/inbox_e2e.mjs failed ({status}): {}", said.join("\n"));
    eprintln!("{}", said.join("\n"));
}

crate::on_both_stores!(inbox_in_a_real_browser);

/// `/app` redirects to `/app/`, the page and its modules come with their types, a validator and gzip, a
/// repeat with the ETag is a 304, an unknown file is a JSON 404, and every module the page imports exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_from_the_binary() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let redirect = client.get(app.url("/app")).send().await.expect("GET /app");
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()[LOCATION], "/app/");

    let page = client.get(app.url("/app/")).header(ACCEPT_ENCODING, "gzip").send().await.expect("GET /app/");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers()[CONTENT_ENCODING], "gzip", "the page is compressed for browsers that ask");
    assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
    assert!(page.headers()["content-security-policy"].to_str().expect("csp").contains("default-src 'self'"));
    let etag = page.headers()[ETAG].clone();
    let again = client.get(app.url("/app/")).header(IF_NONE_MATCH, etag).send().await.expect("GET /app/ again");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let head = client.head(app.url("/app/app.css")).send().await.expect("HEAD a file");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[CONTENT_TYPE], "text/css; charset=utf-8");

    let missing = client.get(app.url("/app/js/nope.js")).send().await.expect("GET a missing file");
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    // Every relative module import, from main.js down, answers 200 as JavaScript.
    let mut seen = BTreeSet::new();
    let mut queue = vec!["js/main.js".to_owned()];
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = client.get(app.url(&format!("/app/{path}"))).send().await.expect("GET a module");
        assert_eq!(response.status(), StatusCode::OK, "/app/{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8", "/app/{path}");
        let source = response.text().await.expect("module text");
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        for import in source.split("from '").skip(1).filter_map(|rest| rest.split('\'').next()) {
            queue.push(resolve(dir, import));
        }
    }
    assert!(seen.len() >= 10, "the page imports its modules: {seen:?}");
}

/// `dir` + a relative import (`./x.js`, `../x.js`) as a path under `/app/`.
fn resolve(dir: &str, import: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for piece in import.split('/') {
        match piece {
            "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts.join("/")
}

/// An agent's typing frame on the plain dashboard socket reaches the visitor, like the Socket.IO emit.
async fn agent_typing_on_the_plain_socket_reaches_the_visitor(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello", "client_msg_id": "m1" })).await;
    let ack = visitor.recv_type("ack").await;
    let conversation = ack["conversation_id"].as_str().expect("conversation id");
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    dashboard.send_json(&json!({ "type": "typing", "conversation_id": conversation, "is_typing": true })).await;
    let typing = visitor.recv_type("typing").await;
    assert_eq!(typing["is_typing"], true);
    assert_eq!(typing["from"], "agent");
}

crate::on_both_stores!(agent_typing_on_the_plain_socket_reaches_the_visitor);
