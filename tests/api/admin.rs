use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

async fn admin_issues_lists_and_suspends_licenses(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let key = app.create_license("buyer@example.com", &["chatbot"]).await;
    assert!(key.starts_with("INTL-") && key.len() == 19, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'), "{key}");

    let list = app.get_as("/api/admin/licenses", ADMIN_TOKEN).await;
    let list = expect_status(list, StatusCode::OK).await;
    let found = list["licenses"].as_array().expect("licenses").iter().find(|l| l["license_key"] == key.as_str());
    let found = found.expect("new license listed");
    assert_eq!(found["status"], "active");
    assert_eq!(found["tier"], "pro");

    let suspended = app.post_as(&format!("/api/admin/licenses/{key}/suspend"), ADMIN_TOKEN, &json!({})).await;
    assert_eq!(expect_status(suspended, StatusCode::OK).await["status"], "suspended");
    let unknown = app.post_as("/api/admin/licenses/INTL-ZZZZ-ZZZZ-ZZZZ/suspend", ADMIN_TOKEN, &json!({})).await;
    expect_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

async fn admin_api_needs_the_admin_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let body = json!({ "email": "a@example.com", "products": ["chatbot"] });
    let anonymous = app.post_json("/api/admin/licenses", &body).await;
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = app.post_as("/api/admin/licenses", "not-the-token", &body).await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A tenant's own token is not an admin token.
    let tenant = app.new_tenant(&["chatbot"]).await;
    let tenant_try = app.get_as("/api/admin/licenses", &tenant.token).await;
    expect_error(tenant_try, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn admin_api_is_off_without_a_token(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let mut config = test_config(database_url, backend);
    config.admin_token = None;
    let app = spawn_with(config).await;
    let response = app.get_as("/api/admin/licenses", "anything").await;
    expect_error(response, StatusCode::FORBIDDEN, "admin_disabled").await;
}

async fn license_orders_are_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    for (body, code) in [
        (json!({ "email": "bad", "products": ["chatbot"] }), "invalid_value"),
        (json!({ "email": "a@example.com", "products": [] }), "invalid_value"),
        (json!({ "email": "a@example.com", "products": ["flux-capacitor"] }), "invalid_value"),
        (json!({ "email": "a@example.com", "products": ["chatbot"], "tier": "platinum" }), "invalid_value"),
        (json!({ "email": "a@example.com" }), "invalid_json"),
    ] {
        let response = app.post_as("/api/admin/licenses", ADMIN_TOKEN, &body).await;
        expect_error(response, StatusCode::BAD_REQUEST, code).await;
    }
}

crate::on_both_stores!(
    admin_issues_lists_and_suspends_licenses,
    admin_api_needs_the_admin_token,
    admin_api_is_off_without_a_token,
    license_orders_are_validated,
);
