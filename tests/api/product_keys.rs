use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

async fn owner_creates_lists_and_revokes_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot", "sales-agent", "data-enrichment", "setup-agent"]).await;
    for (product, prefix) in
        [("chatbot", "chat_"), ("sales-agent", "sale_"), ("data-enrichment", "data_"), ("setup-agent", "agnt_")]
    {
        let created = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": product })).await;
        let body = expect_status(created, StatusCode::CREATED).await;
        let key = body["product_key"].as_str().expect("product_key");
        let suffix = key.strip_prefix(prefix).expect("prefix matches the product");
        assert_eq!(suffix.len(), 16);
        assert!(suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{key}");
    }
    let listed = expect_status(app.get_as("/api/products/keys", &tenant.token).await, StatusCode::OK).await;
    let keys = listed["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4);

    // One active key per product; revoking frees the slot.
    let again = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": "chatbot" })).await;
    expect_error(again, StatusCode::CONFLICT, "product_key_exists").await;
    let chat_key = keys.iter().find(|k| k["product"] == "chatbot").expect("chat key")["product_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let revoked = app.delete_as(&format!("/api/products/keys/{chat_key}"), &tenant.token).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let revoked_again = app.delete_as(&format!("/api/products/keys/{chat_key}"), &tenant.token).await;
    expect_error(revoked_again, StatusCode::NOT_FOUND, "not_found").await;
    let fresh = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": "chatbot" })).await;
    let fresh = expect_status(fresh, StatusCode::CREATED).await;
    assert_ne!(fresh["product_key"], chat_key.as_str());
}

async fn keys_only_for_bought_products(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let response = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": "sales-agent" })).await;
    expect_error(response, StatusCode::FORBIDDEN, "product_not_licensed").await;
    let response = app.post_as("/api/products/keys", &tenant.token, &json!({ "product": "teleporter" })).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_value").await;
}

async fn foreign_license_gets_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let alice = app.new_tenant(&["chatbot"]).await;
    let bob = app.new_tenant(&["chatbot"]).await;
    let created = app.post_as("/api/products/keys", &alice.token, &json!({ "product": "chatbot" })).await;
    let key = expect_status(created, StatusCode::CREATED).await["product_key"].as_str().expect("key").to_owned();

    let bobs_view = expect_status(app.get_as("/api/products/keys", &bob.token).await, StatusCode::OK).await;
    assert_eq!(bobs_view["keys"], json!([]), "bob sees none of alice's keys");
    let response = app.delete_as(&format!("/api/products/keys/{key}"), &bob.token).await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // Alice's key survived bob's attempt.
    let alices = expect_status(app.get_as("/api/products/keys", &alice.token).await, StatusCode::OK).await;
    assert_eq!(alices["keys"][0]["status"], "active");
}

async fn malformed_keys_are_400(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    for bad in ["chat_SHOUTING0000000000", "nope", "chat_short"] {
        let response = app.delete_as(&format!("/api/products/keys/{bad}"), &tenant.token).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_value").await;
    }
}

crate::on_both_stores!(
    owner_creates_lists_and_revokes_keys,
    keys_only_for_bought_products,
    foreign_license_gets_404,
    malformed_keys_are_400,
);
