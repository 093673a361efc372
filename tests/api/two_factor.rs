//! TOTP two-factor: setup, enable with a code computed here (RFC 6238, the same crate), logins that need
//! a code, codes and recovery codes that work once, turning it off, and a license that requires it —
//! over real HTTP and sockets, on both engines.

use crate::hardening::spawn_tuned;
use crate::helpers::*;
use crate::on_both_stores;
use crate::team::{add_member, put_as};
use reqwest::StatusCode;
use serde_json::{json, Value};
use totp_rs::TOTP;

const SECRETS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async fn spawn_with_secrets(backend: Backend) -> Option<TestApp> {
    spawn_tuned(backend, |c| c.secrets_key = Some(SECRETS_KEY.into())).await
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Sets up and enables two-factor for the holder of `token`; answers the app's generator, the recovery
/// codes and the new session (opened with the second factor).
async fn enable_two_factor(app: &TestApp, token: &str) -> (TOTP, Vec<String>, String) {
    let setup = expect_status(app.post_as("/api/auth/2fa/setup", token, &json!({})).await, StatusCode::OK).await;
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Switchboard:"), "{uri}");
    let totp = TOTP::from_url(uri).expect("a valid otpauth URI");
    assert_eq!(totp.get_secret_base32(), setup["secret"].as_str().unwrap());
    let enabled = app.post_as("/api/auth/2fa/enable", token, &json!({ "code": totp.generate(now()) })).await;
    let enabled = expect_status(enabled, StatusCode::OK).await;
    let codes: Vec<String> =
        enabled["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (totp, codes, enabled["token"].as_str().unwrap().to_owned())
}

fn login_body(email: &str, extra: Value) -> Value {
    let mut body = json!({ "email": email, "password": PASSWORD });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

async fn codes_and_recovery_codes_work_once(backend: Backend) {
    let Some(app) = spawn_with_secrets(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let not_set_up = app.post_as("/api/auth/2fa/enable", &owner.token, &json!({ "code": "123456" })).await;
    expect_error(not_set_up, StatusCode::CONFLICT, "two_factor_not_set_up").await;
    let setup = expect_status(app.post_as("/api/auth/2fa/setup", &owner.token, &json!({})).await, StatusCode::OK).await;
    let totp = TOTP::from_url(setup["otpauth_uri"].as_str().unwrap()).unwrap();
    let wrong = app.post_as("/api/auth/2fa/enable", &owner.token, &json!({ "code": "000000x" })).await;
    expect_error(wrong, StatusCode::FORBIDDEN, "invalid_two_factor").await;
    let stale = app.post_as("/api/auth/2fa/enable", &owner.token, &json!({ "code": totp.generate(now() - 300) })).await;
    expect_error(stale, StatusCode::FORBIDDEN, "invalid_two_factor").await;
    // Until enabled, login needs no code.
    expect_status(app.login(&owner.email, PASSWORD).await, StatusCode::OK).await;

    let (totp, codes, token) = enable_two_factor(&app, &owner.token).await;
    assert_eq!(codes.len(), 10);
    let me = expect_status(app.get_as("/api/auth/me", &token).await, StatusCode::OK).await;
    assert_eq!(me["session"]["two_factor"], true);
    expect_error(app.get_as("/api/auth/me", &owner.token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let again = app.post_as("/api/auth/2fa/setup", &token, &json!({})).await;
    expect_error(again, StatusCode::CONFLICT, "two_factor_enabled").await;

    let app = &app;
    let login = |extra: Value| {
        let body = login_body(&owner.email, extra);
        async move { app.post_json("/api/auth/login", &body).await }
    };
    expect_error(login(json!({})).await, StatusCode::UNAUTHORIZED, "two_factor_required").await;
    let bad = login(json!({ "totp_code": "123456" })).await;
    expect_error(bad, StatusCode::UNAUTHORIZED, "invalid_two_factor").await;
    // The next step's code (one step of skew is allowed) works once: enabling used this step's.
    let code = totp.generate(now() + 30);
    let session = expect_status(login(json!({ "totp_code": code })).await, StatusCode::OK).await;
    assert_eq!(session["two_factor_setup_required"], false);
    let replay = login(json!({ "totp_code": code })).await;
    expect_error(replay, StatusCode::UNAUTHORIZED, "invalid_two_factor").await;
    // A recovery code (any case) works once.
    let recovery = codes[3].to_uppercase();
    expect_status(login(json!({ "recovery_code": recovery })).await, StatusCode::OK).await;
    let reused = login(json!({ "recovery_code": codes[3] })).await;
    expect_error(reused, StatusCode::UNAUTHORIZED, "invalid_two_factor").await;
    let with_password_wrong = app
        .post_json(
            "/api/auth/login",
            &json!({ "email": owner.email, "password": "nope-nope", "recovery_code": codes[4] }),
        )
        .await;
    expect_error(with_password_wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Turning it off takes a code; then login needs none.
    let off = app.post_as("/api/auth/2fa/disable", &token, &json!({})).await;
    expect_error(off, StatusCode::FORBIDDEN, "invalid_two_factor").await;
    let off = app.post_as("/api/auth/2fa/disable", &token, &json!({ "recovery_code": codes[3] })).await;
    expect_error(off, StatusCode::FORBIDDEN, "invalid_two_factor").await;
    let off = app.post_as("/api/auth/2fa/disable", &token, &json!({ "recovery_code": codes[4] })).await;
    assert_eq!(expect_status(off, StatusCode::OK).await["enabled"], false);
    expect_status(login(json!({})).await, StatusCode::OK).await;
    let off = app.post_as("/api/auth/2fa/disable", &token, &json!({ "code": "123456" })).await;
    expect_error(off, StatusCode::CONFLICT, "two_factor_not_set_up").await;
}

async fn without_secrets_key_two_factor_cannot_be_set_up(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let setup = app.post_as("/api/auth/2fa/setup", &owner.token, &json!({})).await;
    expect_error(setup, StatusCode::BAD_REQUEST, "two_factor_storage_disabled").await;
}

async fn a_license_can_require_two_factor(backend: Backend) {
    let Some(app) = spawn_with_secrets(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let member = add_member(&app, &owner.token, "member").await;
    let require = json!({ "require_two_factor": true });
    // The owner's own session has no second factor: requiring one would lock them out.
    let refused = put_as(&app, "/api/security/policy", &owner.token, &require).await;
    expect_error(refused, StatusCode::CONFLICT, "caller_lacks_two_factor").await;
    let (_, _, owner_token) = enable_two_factor(&app, &owner.token).await;
    expect_status(put_as(&app, "/api/security/policy", &owner_token, &require).await, StatusCode::OK).await;
    expect_status(app.get_as("/api/products/chatbot/conversations", &owner_token).await, StatusCode::OK).await;

    // The member logs in, but the session can only set up a second factor.
    let login = expect_status(app.login(&member.email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(login["two_factor_setup_required"], true);
    let limited = login["token"].as_str().unwrap();
    for token in [limited, member.token.as_str()] {
        let inbox = app.get_as("/api/products/chatbot/conversations", token).await;
        expect_error(inbox, StatusCode::FORBIDDEN, "two_factor_setup_required").await;
    }
    let socket = tokio_tungstenite::connect_async(app.ws_url(&format!("/ws/dashboard?token={limited}"))).await;
    match socket {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("a limited session cannot open a dashboard socket: {:?}", other.map(|(_, r)| r.status())),
    }
    expect_status(app.get_as("/api/auth/me", limited).await, StatusCode::OK).await;
    let (_, codes, full) = enable_two_factor(&app, limited).await;
    expect_status(app.get_as("/api/products/chatbot/conversations", &full).await, StatusCode::OK).await;
    let off = app.post_as("/api/auth/2fa/disable", &full, &json!({ "recovery_code": codes[0] })).await;
    expect_error(off, StatusCode::CONFLICT, "two_factor_required_by_policy").await;
}

on_both_stores!(
    codes_and_recovery_codes_work_once,
    without_secrets_key_two_factor_cannot_be_set_up,
    a_license_can_require_two_factor,
);
