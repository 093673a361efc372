//! Bad input gets a clear 4xx with a JSON body, never a panic or a 500.

use crate::helpers::*;
use reqwest::StatusCode;

async fn malformed_bodies_get_clear_errors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let post_raw = |body: &'static str, content_type: &'static str| {
        app.client.post(app.url("/api/auth/login")).header("content-type", content_type).body(body).send()
    };
    let syntax = post_raw("{\"email\": ", "application/json").await.expect("sent");
    expect_error(syntax, StatusCode::BAD_REQUEST, "invalid_json").await;
    let wrong_type = post_raw("{\"email\": 5, \"password\": true}", "application/json").await.expect("sent");
    let message = expect_error(wrong_type, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert!(message.contains("invalid type"), "{message}");
    let unknown_field = post_raw("{\"email\":\"a@b.co\",\"password\":\"x\",\"admin\":true}", "application/json").await;
    expect_error(unknown_field.expect("sent"), StatusCode::BAD_REQUEST, "invalid_json").await;
    let not_json = post_raw("email=a", "text/plain").await.expect("sent");
    expect_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

async fn oversize_bodies_are_413(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let huge = format!("{{\"email\":\"{}\",\"password\":\"x\"}}", "a".repeat(70 * 1024));
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("sent");
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // The server is still healthy afterwards.
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
}

async fn unknown_routes_are_json_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let response = app.client.get(app.url("/api/nothing-here")).send().await.expect("sent");
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

crate::on_both_stores!(malformed_bodies_get_clear_errors, oversize_bodies_are_413, unknown_routes_are_json_404);
