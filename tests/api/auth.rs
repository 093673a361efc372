use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

async fn owner_registers_logs_in_calls_me_and_logs_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let license = app.create_license("sarah@coffee.shop", &["chatbot", "sales-agent"]).await;
    let registered = expect_status(app.register("Sarah@Coffee.Shop", &license).await, StatusCode::CREATED).await;
    assert_eq!(registered["user"]["email"], "sarah@coffee.shop");
    assert_eq!(registered["user"]["role"], "owner");

    let login = app.login("sarah@coffee.shop", PASSWORD).await;
    let cookie = login.cookies().find(|c| c.name() == "sb_token").expect("session cookie set");
    assert!(cookie.http_only(), "the session cookie must be HttpOnly");
    let body = expect_status(login, StatusCode::OK).await;
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["user"]["license_key"], license.as_str());
    assert_eq!(body["user"]["products"], json!(["chatbot", "sales-agent"]));

    let me = expect_status(app.get_as("/api/auth/me", token).await, StatusCode::OK).await;
    assert_eq!(me["user"]["license_key"], license.as_str());
    assert_eq!(me["user"]["email"], "sarah@coffee.shop");

    // The cookie alone authenticates too (the client's cookie store carries it).
    let by_cookie = app.client.get(app.url("/api/auth/me")).send().await.expect("sent");
    assert_eq!(expect_status(by_cookie, StatusCode::OK).await["user"]["email"], "sarah@coffee.shop");

    expect_status(app.post_as("/api/auth/logout", token, &json!({})).await, StatusCode::OK).await;
    let after = app.get_as("/api/auth/me", token).await;
    let message = expect_error(after, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(message.contains("revoked"), "{message}");
}

async fn token_claims_carry_the_tenant(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let payload = tenant.token.split('.').nth(1).expect("JWT has a payload");
    let claims: serde_json::Value = serde_json::from_slice(&base64_url_decode(payload)).expect("claims are JSON");
    for claim in ["sub", "email", "license_key", "role", "products", "exp", "jti"] {
        assert!(claims.get(claim).is_some(), "missing claim {claim}: {claims}");
    }
    assert_eq!(claims["license_key"], tenant.license_key.as_str());
}

fn base64_url_decode(input: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for byte in input.bytes() {
        let value = ALPHABET.iter().position(|&c| c == byte).expect("base64url character") as u32;
        bits = (bits << 6) | value;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out
}

async fn registration_refuses_bad_licenses(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    // Malformed key.
    let response = app.register("a@example.com", "INTL-1234").await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_value").await;
    // Well-formed but unknown.
    let response = app.register("a@example.com", "INTL-AAAA-BBBB-CCCC").await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // Already owned by another user.
    let license = app.create_license("first@example.com", &["chatbot"]).await;
    expect_status(app.register("first@example.com", &license).await, StatusCode::CREATED).await;
    let response = app.register("second@example.com", &license).await;
    expect_error(response, StatusCode::CONFLICT, "license_taken").await;
    // Suspended.
    let suspended = app.create_license("s@example.com", &["chatbot"]).await;
    let path = format!("/api/admin/licenses/{suspended}/suspend");
    expect_status(app.post_as(&path, ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    let response = app.register("s@example.com", &suspended).await;
    expect_error(response, StatusCode::FORBIDDEN, "license_suspended").await;
}

async fn registration_refuses_bad_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let license = app.create_license("x@example.com", &["chatbot"]).await;
    let body = json!({ "email": "not-an-email", "password": PASSWORD, "license_key": license });
    expect_error(app.post_json("/api/auth/register", &body).await, StatusCode::BAD_REQUEST, "invalid_value").await;
    let body = json!({ "email": "x@example.com", "password": "short", "license_key": license });
    expect_error(app.post_json("/api/auth/register", &body).await, StatusCode::BAD_REQUEST, "weak_password").await;
    // The same address cannot hold two licenses.
    expect_status(app.register("x@example.com", &license).await, StatusCode::CREATED).await;
    let other = app.create_license("x@example.com", &["chatbot"]).await;
    let response = app.register("x@example.com", &other).await;
    expect_error(response, StatusCode::CONFLICT, "already_registered").await;
}

async fn login_refuses_wrong_passwords_and_unknown_users_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let wrong =
        expect_error(app.login(&tenant.email, "WrongPass123").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown =
        expect_error(app.login("nobody@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(wrong, unknown, "the answer must not tell which addresses exist");
}

async fn bad_tokens_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    // A client without the login cookie.
    let missing = reqwest::Client::new().get(app.url("/api/auth/me")).send().await.expect("sent");
    expect_error(missing, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.get_as("/api/auth/me", "garbage").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Same claims, signed with another secret.
    let mut parts: Vec<&str> = tenant.token.split('.').collect();
    parts[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let forged = parts.join(".");
    expect_error(app.get_as("/api/auth/me", &forged).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn suspending_a_license_revokes_its_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    expect_status(app.get_as("/api/auth/me", &tenant.token).await, StatusCode::OK).await;
    let path = format!("/api/admin/licenses/{}/suspend", tenant.license_key);
    expect_status(app.post_as(&path, ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    expect_error(app.get_as("/api/auth/me", &tenant.token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(app.login(&tenant.email, PASSWORD).await, StatusCode::FORBIDDEN, "license_suspended").await;
    let path = format!("/api/admin/licenses/{}/activate", tenant.license_key);
    expect_status(app.post_as(&path, ADMIN_TOKEN, &json!({})).await, StatusCode::OK).await;
    expect_status(app.login(&tenant.email, PASSWORD).await, StatusCode::OK).await;
}

crate::on_both_stores!(
    owner_registers_logs_in_calls_me_and_logs_out,
    token_claims_carry_the_tenant,
    registration_refuses_bad_licenses,
    registration_refuses_bad_credentials,
    login_refuses_wrong_passwords_and_unknown_users_alike,
    bad_tokens_are_refused,
    suspending_a_license_revokes_its_sessions,
);
