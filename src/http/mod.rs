//! actix-web handlers. Each is thin: parse → authorize → call the store or an actor → respond.

mod admin;
mod api_keys;
mod app_assets;
mod assignment;
mod audit_export;
mod audit_logs;
mod auth;
mod body_guard;
mod business_hours;
mod caller;
mod connection;
mod conversations;
mod data_protection;
mod error;
mod handover;
mod health;
mod identity;
mod integrations;
mod invitations;
mod json_object;
mod labels;
mod leads;
mod message_delivery;
mod metering;
mod openapi;
mod password;
mod product_keys;
mod request_log;
mod security_policy;
mod server;
mod sockets;
mod team;
mod two_factor;
mod usage;
mod webhook_deliveries;
mod webhook_endpoints;
mod webhooks;
mod widget;
mod widget_commands;

pub use body_guard::check_body;
pub use caller::{caller_event, origin, user_event, Caller};
pub use connection::OpenConnections;
pub use error::ApiError;
pub use identity::{bearer_token, client_ip, AdminAccess, DashboardUser, SetupSession, SESSION_COOKIE};
pub use json_object::JsonObject;
pub use request_log::{record_license, trace_request};
pub use server::{serve, Limits};
pub use widget::{public_base, resolve_widget_key};

use actix_web::{middleware, web};

/// Largest JSON or form body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers every route and the extractor error handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(error::json_error))
        .app_data(web::FormConfig::default().limit(MAX_BODY_BYTES).error_handler(error::form_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .configure(openapi::routes)
        .configure(app_assets::routes)
        .configure(sockets::routes)
        .configure(widget::public_routes)
        .configure(leads::public_routes)
        .service(
            web::scope("/api")
                .wrap(middleware::from_fn(metering::meter_usage))
                .configure(auth::routes)
                .configure(password::routes)
                .configure(two_factor::routes)
                .configure(security_policy::routes)
                .configure(data_protection::routes)
                .configure(product_keys::routes)
                .configure(widget::routes)
                .configure(widget_commands::routes)
                .configure(conversations::routes)
                .configure(assignment::routes)
                .configure(message_delivery::routes)
                .configure(team::routes)
                .configure(business_hours::routes)
                .configure(invitations::routes)
                .configure(labels::routes)
                .configure(integrations::routes)
                .configure(webhooks::routes)
                .configure(admin::routes)
                .configure(api_keys::routes)
                .configure(audit_logs::routes)
                .configure(usage::routes)
                .configure(webhook_endpoints::routes)
                .configure(webhook_deliveries::routes),
        )
        .default_service(web::to(error::route_not_found));
}
