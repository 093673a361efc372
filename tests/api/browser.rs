//! The embeddable widget in a real browser: `tests/browser/widget_e2e.mjs` drives headless Chromium
//! (Playwright) against a server started here, from a host page on another origin; and the inbox with the
//! widget in Firefox (`tests/browser/inbox_firefox.mjs`, puppeteer-core over WebDriver BiDi). Needs
//! `/usr/bin/chromium`, `/usr/bin/firefox-esr` and `tests/browser/node_modules` (`scripts/browser-deps`);
//! without them the tests skip, except under `CI=true`, where they fail.

use crate::helpers::*;
use std::path::Path;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const FIREFOX: &str = "/usr/bin/firefox-esr";

/// What the browser test needs but is missing, if anything.
fn missing_browser_tools(root: &Path) -> Option<String> {
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node {
        return Some("node".into());
    }
    if let Some(browser) = [CHROMIUM, FIREFOX].into_iter().find(|b| !Path::new(b).exists()) {
        return Some(browser.into());
    }
    ["playwright-core", "puppeteer-core"]
        .map(|module| root.join("tests/browser/node_modules").join(module))
        .into_iter()
        .find(|path| !path.exists())
        .map(|path| path.display().to_string())
}

/// Whether a browser test can run here; `false` means skip, which `CI=true` refuses.
pub(crate) fn browser_tools_ready(root: &Path) -> bool {
    let Some(missing) = missing_browser_tools(root) else { return true };
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {missing} is missing: run scripts/browser-deps");
    eprintln!("skipping the browser test: {missing} is missing (run scripts/browser-deps)");
    false
}

async fn widget_in_a_real_browser(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if browser_tools_ready(root) {
        run_script(root, "tests/browser/widget_e2e.mjs", &app, Some(screenshot_dir(root, backend))).await;
    }
}

async fn inbox_in_firefox(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if browser_tools_ready(root) {
        run_script(root, "tests/browser/inbox_firefox.mjs", &app, None).await;
    }
}

/// Runs a browser script against `app` and fails with its output unless it exits 0.
async fn run_script(root: &Path, script: &str, app: &TestApp, screenshots: Option<std::path::PathBuf>) {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .current_dir(root)
        .env("SWITCHBOARD_URL", &app.address)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .kill_on_drop(true);
    if let Some(dir) = screenshots {
        command.env("SCREENSHOT_DIR", dir);
    }
    // The scripts bound themselves (at most 100 s); this only guards against a hung node.
    let output = tokio::time::timeout(Duration::from_secs(150), command.output())
        .await
        .expect("the browser test finishes within 150 s")
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    eprintln!("{}", stdout.trim_end());
}

/// Where the screenshots go (test artefacts, never committed): `$CARGO_TARGET_DIR/screenshots/<engine>`.
fn screenshot_dir(root: &Path, backend: Backend) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    target.join("screenshots").join(format!("{backend:?}").to_lowercase())
}

crate::on_both_stores!(widget_in_a_real_browser);
crate::on_both_stores!(inbox_in_firefox);
