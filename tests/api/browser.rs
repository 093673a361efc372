//! The embeddable widget in a real browser: `tests/browser/widget_e2e.mjs` drives headless Chromium
//! (Playwright) against a server started here, from a host page on another origin. Needs
//! `/usr/bin/chromium` and `tests/browser/node_modules` (`scripts/browser-deps`); without them the
//! test skips, except under `CI=true`, where it fails.

use crate::helpers::*;
use std::path::Path;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// What the browser test needs but is missing, if anything.
fn missing_browser_tools(root: &Path) -> Option<String> {
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node {
        return Some("node".into());
    }
    if !Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM.into());
    }
    let playwright = root.join("tests/browser/node_modules/playwright-core");
    if !playwright.exists() {
        return Some(playwright.display().to_string());
    }
    None
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
    if !browser_tools_ready(root) {
        return;
    }
    let mut command = tokio::process::Command::new("node");
    command
        .arg("tests/browser/widget_e2e.mjs")
        .current_dir(root)
        .env("SWITCHBOARD_URL", &app.address)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SCREENSHOT_DIR", screenshot_dir(root, backend))
        .kill_on_drop(true);
    // The script bounds itself at 80 s; this only guards against a hung node.
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the browser test finishes within 120 s")
        .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/browser/widget_e2e.mjs failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
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
