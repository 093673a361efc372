//! The widget's public side (config, the seed's `load-config`, `widget.js`; CORS-open) and the
//! dashboard's `POST /api/products/chatbot/configure`.

use super::product_keys::issue_product_key;
use super::{user_event, ApiError, DashboardUser};
use crate::actors::WidgetTeamStatus;
use crate::domain::{AuditAction, LicenseKey, LicenseStatus};
use crate::domain::{CommandTarget, Permission, Product, ProductKey, WidgetConfig};
use crate::state::AppState;
use crate::store::{ProductKeyRecord, Store};
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// The widget script, served as is: small, dependency-free, no build step.
const WIDGET_JS: &str = include_str!("../../assets/widget.js");

/// Mounts the dashboard's widget route under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/products/chatbot/configure", web::post().to(configure));
}

/// Mounts what any website may fetch: answers (errors included) carry `Access-Control-Allow-Origin: *`.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    let cors = || middleware::DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*"));
    cfg.service(web::resource("/widget.js").wrap(cors()).route(web::get().to(widget_js)))
        .service(web::resource("/api/widget/config").wrap(cors()).route(web::get().to(public_config)))
        .service(web::resource("/api/load-config").wrap(cors()).route(web::get().to(load_config)));
}

#[utoipa::path(
    get,
    path = "/widget.js",
    tag = "widget",
    responses((status = 200, description = "the embeddable widget script", body = String, content_type = "application/javascript"))
)]
async fn widget_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(WIDGET_JS)
}

/// Resolves a key that a widget presents: it must be an active `chat_` key of an active license.
pub async fn resolve_widget_key(store: &Store, key: &ProductKey) -> Result<ProductKeyRecord, ApiError> {
    if key.product() != Product::Chatbot {
        return Err(ApiError::bad_request("wrong_product", "the widget needs a chat_ product key"));
    }
    let (record, license_status) =
        store.product_key_and_license_status(key).await?.ok_or(ApiError::NotFound("product key"))?;
    if !record.is_active() {
        return Err(ApiError::forbidden("product_key_revoked", "this product key has been revoked"));
    }
    if license_status != LicenseStatus::Active {
        return Err(ApiError::forbidden("license_suspended", "this license is suspended"));
    }
    Ok(record)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfigureRequest {
    /// The whole configuration (it replaces the stored one).
    #[serde(default)]
    config: WidgetConfig,
}

#[utoipa::path(
    post,
    path = "/api/products/chatbot/configure",
    tag = "widget",
    request_body = ConfigureRequest,
    responses((status = 200, description = "the stored configuration and embed snippet", body = serde_json::Value), (status = 201, description = "the same, with a newly issued chat_ key", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn configure(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<ConfigureRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let config = body.into_inner().config.validate()?;
    let (key, created) = match state.store.active_product_key(&user.license, Product::Chatbot).await? {
        Some(key) => (key, false),
        None => (issue_product_key(&req, &state, &user, Product::Chatbot).await?, true),
    };
    let config_json = serde_json::to_value(&config).map_err(anyhow::Error::from)?;
    state.store.save_widget_config(&user.license, &config_json).await?;
    let event = user_event(&req, &state, &user, AuditAction::SettingsUpdated)
        .target("widget_config")
        .metadata(json!({ "config": config_json }));
    state.audit.record(event).await;
    // Live widgets take the saved configuration at once, on every node (their count is not the answer's business).
    let (hub, license, frame) =
        (state.widget_hub.clone(), user.license.clone(), super::widget_commands::config_frame(&config_json));
    actix_web::rt::spawn(async move { hub.push(&license, CommandTarget::All, frame).await });
    let base = public_base(&req, state.public_url.as_deref());
    let body = json!({
        "product_key": key.product_key,
        "config": config_json,
        "embed_snippet": format!(
            r#"<script src="{base}/widget.js" data-product-key="{}" async></script>"#,
            key.product_key
        ),
        "widget_url": format!("{base}/widget.js"),
    });
    Ok(if created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(body))
}

/// The URL the outside world reaches this server at: `PUBLIC_URL`, or what the request says.
pub fn public_base(req: &HttpRequest, public_url: Option<&str>) -> String {
    match public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

async fn widget_config_for(state: &AppState, raw_key: &str) -> Result<(ProductKeyRecord, serde_json::Value), ApiError> {
    let key = ProductKey::parse(raw_key)?;
    let record = resolve_widget_key(&state.store, &key).await?;
    let config = stored_config(state, &record.license_key).await?;
    Ok((record, config))
}

/// The license's saved configuration with every field present: one saved before a field existed gets its
/// default (a config that no longer parses is handed out as saved).
pub async fn stored_config(state: &AppState, license: &LicenseKey) -> Result<serde_json::Value, ApiError> {
    let config = match state.store.widget_config(license).await? {
        Some(saved) => match serde_json::from_value::<WidgetConfig>(saved.clone()) {
            Ok(config) => serde_json::to_value(config).unwrap_or(saved),
            Err(_) => saved,
        },
        None => serde_json::to_value(WidgetConfig::default()).map_err(anyhow::Error::from)?,
    };
    Ok(config)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PublicConfigQuery {
    #[param(pattern = r"^chat_[a-z0-9]{16}$")]
    product_key: String,
}

#[utoipa::path(
    get,
    path = "/api/widget/config",
    tag = "widget",
    params(PublicConfigQuery),
    responses((status = 200, description = "a widget's public configuration", body = serde_json::Value))
)]
async fn public_config(
    state: web::Data<AppState>,
    query: web::Query<PublicConfigQuery>,
) -> Result<HttpResponse, ApiError> {
    let (record, config) = widget_config_for(&state, &query.product_key).await?;
    let team = state.registry.tenant(&record.license_key).send(WidgetTeamStatus).await.unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({
        "product_key": record.product_key,
        "config": config,
        "agents_available": team.agents_available,
        "open_now": team.open_now,
        "offline_message": team.offline_message,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LoadConfigQuery {
    #[serde(rename = "siteId")]
    #[param(rename = "siteId", pattern = r"^chat_[a-z0-9]{16}$")]
    site_id: String,
}

/// The seed's `GET /api/load-config?siteId=…`: the site id is the `chat_` key.
#[utoipa::path(
    get,
    path = "/api/load-config",
    tag = "widget",
    params(LoadConfigQuery),
    responses((status = 200, description = "the seed's load-config shape", body = serde_json::Value))
)]
async fn load_config(state: web::Data<AppState>, query: web::Query<LoadConfigQuery>) -> Result<HttpResponse, ApiError> {
    let (record, config) = widget_config_for(&state, &query.site_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "siteId": record.product_key,
        "clientName": config.get("title").cloned().unwrap_or_default(),
        "config": config,
        "source": "switchboard",
    })))
}
