//! The agent inbox at `/app/` in a real browser: `tests/browser/inbox_e2e.mjs` drives headless Chromium
//! (two agents, a visitor on another origin) against a `switchboard` process started here, which this
//! test stops and starts again on the same ports and store when the script asks (`STOP`, `START` on its
//! stdout; `STOPPED`, `STARTED` on its stdin). Screenshots go to `<target dir>/screenshots`. Same
//! skip rule as the widget's browser test: without Chromium or playwright-core it skips, except under
//! `CI=true`, where it fails.

use crate::browser::missing_browser_tools;
use crate::cluster::{Cluster, Node};
use crate::helpers::*;
use crate::nginx::{free_port, start_node};
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Where the screenshots go: beside the build, never in the repository.
fn screenshot_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    binary.parent().and_then(Path::parent).unwrap_or(Path::new(".")).join("screenshots")
}

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
    if let Some(missing) = missing_browser_tools(root) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {missing} is missing: run scripts/browser-deps"
        );
        eprintln!("skipping the inbox browser test: {missing} is missing (run scripts/browser-deps)");
        return;
    }
    let Some(store) = store_for(backend).await else { return };
    let ports = (free_port(), free_port());
    let mut node = start_node(&store, "inbox", ports, &[]).await;
    let app = node.app.address.clone();
    expect_status(node.app.client.get(format!("{app}/readyz")).send().await.expect("readyz"), StatusCode::OK).await;

    let mut script = tokio::process::Command::new("node")
        .arg("tests/browser/inbox_e2e.mjs")
        .current_dir(root)
        .env("SWITCHBOARD_URL", &app)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SCREENSHOT_DIR", screenshot_dir())
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
                    node = start_node(&store, "inbox", ports, &[]).await;
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
