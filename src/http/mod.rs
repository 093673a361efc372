//! actix-web handlers. Each is thin: parse → authorize → call the store or an actor → respond.

mod admin;
mod auth;
mod body_guard;
mod conversations;
mod error;
mod health;
mod identity;
mod integrations;
mod product_keys;
mod request_log;
mod webhooks;
mod widget;

pub use body_guard::check_body;
pub use error::ApiError;
pub use identity::{bearer_token, client_ip, AdminAccess, DashboardUser, SESSION_COOKIE};
pub use request_log::{record_license, trace_request};
pub use widget::{public_base, resolve_widget_key};

use crate::actors::Registry;
use crate::auth::Authenticator;
use crate::channels::messenger::MessengerConfig;
use crate::channels::twilio::TwilioConfig;
use crate::licenses::Licenses;
use crate::limits::RateLimits;
use crate::shutdown::Shutdown;
use crate::store::Store;
use actix_web::web;
use std::sync::Arc;

/// Largest JSON or form body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach, shared across workers.
pub struct AppState {
    /// The durable store.
    pub store: Store,
    /// Token issue and validation.
    pub auth: Authenticator,
    /// Bearer token of the admin API; `None` disables it.
    pub admin_token: Option<String>,
    /// Whether the session cookie is marked `Secure`.
    pub cookie_secure: bool,
    /// The live actors.
    pub registry: Registry,
    /// Issue, suspend and reinstate licenses (the same operations as the CLI).
    pub licenses: Licenses,
    /// Widget rate limits, per visitor and per license.
    pub limits: Arc<RateLimits>,
    /// The URL the outside world reaches this server at (`PUBLIC_URL`), if configured.
    pub public_url: Option<String>,
    /// Messenger webhook settings; `None` disables the channel.
    pub messenger: Option<MessengerConfig>,
    /// Twilio webhook settings; `None` disables WhatsApp.
    pub twilio: Option<TwilioConfig>,
    /// The stop signal: sockets close and `/readyz` answers 503 once it fires.
    pub shutdown: Shutdown,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_x_forwarded_for: bool,
    /// Largest widget frame or message.
    pub widget_max_frame_bytes: usize,
    /// Largest provider webhook body.
    pub webhook_max_body_bytes: usize,
    /// Bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
}

/// Registers every route and the extractor error handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(error::json_error))
        .app_data(web::FormConfig::default().limit(MAX_BODY_BYTES).error_handler(error::form_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/ws/widget", web::get().to(crate::ws::widget::connect))
        .route("/ws/dashboard", web::get().to(crate::ws::dashboard::connect))
        .configure(widget::public_routes)
        .service(
            web::scope("/api")
                .configure(auth::routes)
                .configure(product_keys::routes)
                .configure(widget::routes)
                .configure(conversations::routes)
                .configure(integrations::routes)
                .configure(webhooks::routes)
                .configure(admin::routes),
        )
        .default_service(web::to(error::route_not_found));
}
