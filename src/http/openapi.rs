//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and request
//! types, served at `/openapi.json`; `/docs` renders it with a vendored ReDoc (no CDN: the box may be
//! offline). Every operation also lists the error answers any handler can give, with their body.

use actix_web::{web, HttpResponse};
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// The code and its explanation.
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a message for people.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case code, e.g. `invalid_value`, `not_found`, `rate_limited`.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Real-time customer messaging: widget, Messenger and WhatsApp channels, live dashboards."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::auth::register,
        super::auth::login,
        super::auth::me,
        super::auth::logout,
        super::password::change,
        super::two_factor::setup,
        super::two_factor::enable,
        super::two_factor::disable,
        super::security_policy::show,
        super::security_policy::replace,
        super::data_protection::show_retention,
        super::data_protection::set_retention,
        super::data_protection::export_contact,
        super::data_protection::erase_contact,
        super::product_keys::list,
        super::product_keys::create,
        super::product_keys::revoke,
        super::widget::configure,
        super::widget::widget_js,
        super::widget::public_config,
        super::widget::load_config,
        super::leads::submit_lead,
        super::widget_commands::send,
        super::widget_commands::signed,
        super::conversations::list,
        super::conversations::show,
        super::conversations::messages,
        super::conversations::reply,
        super::conversations::close,
        super::conversations::reopen,
        super::conversations::read,
        super::message_delivery::show,
        super::assignment::assign,
        super::assignment::unassign,
        super::assignment::add_label,
        super::assignment::remove_label,
        super::team::list,
        super::team::change,
        super::team::change_me,
        super::team::deactivate,
        super::team::metrics,
        super::team::settings,
        super::team::save_settings,
        super::business_hours::show,
        super::business_hours::save,
        super::invitations::invite,
        super::invitations::list,
        super::invitations::revoke,
        super::invitations::accept,
        super::labels::list_labels,
        super::labels::create_label,
        super::labels::delete_label,
        super::labels::list_canned,
        super::labels::create_canned,
        super::labels::update_canned,
        super::labels::delete_canned,
        super::integrations::list,
        super::integrations::create,
        super::integrations::delete,
        super::webhooks::messenger_handshake,
        super::webhooks::messenger_events,
        super::webhooks::whatsapp_message,
        super::webhooks::whatsapp_status,
        super::sockets::widget,
        super::sockets::dashboard,
        super::admin::create,
        super::admin::list,
        super::admin::suspend,
        super::admin::activate,
        super::admin::stats,
        super::audit_logs::tenant_logs,
        super::audit_logs::admin_logs,
        super::api_keys::create,
        super::api_keys::list,
        super::api_keys::revoke,
        super::usage::today,
        super::usage::history,
        super::usage::limits,
        super::usage::alerts,
        super::webhook_endpoints::create,
        super::webhook_endpoints::list,
        super::webhook_endpoints::show,
        super::webhook_endpoints::update,
        super::webhook_endpoints::delete,
        super::webhook_endpoints::rotate,
        super::webhook_endpoints::test,
        super::webhook_deliveries::log,
        super::webhook_deliveries::redeliver,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecuritySchemes, &ErrorAnswers, &StrictVariants)
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(description))
                    .build(),
            )
        };
        components
            .add_security_scheme("bearer", bearer("a dashboard token from /api/auth/login (or the sb_token cookie)"));
        components.add_security_scheme("admin", bearer("the operator's ADMIN_TOKEN"));
        components.add_security_scheme("metrics", bearer("METRICS_TOKEN, when it is set"));
        let header = |name: &str, description: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, description)))
        };
        components.add_security_scheme(
            "api_key",
            header("X-API-Key", "an API key from /api/security/api-keys (sk_live_…), for the tenant's backend"),
        );
        components.add_security_scheme(
            "messenger_signature",
            header("X-Hub-Signature-256", "sha256=<HMAC-SHA256 of the raw body with MESSENGER_APP_SECRET>"),
        );
        components.add_security_scheme(
            "twilio_signature",
            header("X-Twilio-Signature", "base64 HMAC-SHA1 of PUBLIC_URL + path + sorted form parameters"),
        );
    }
}

/// utoipa drops `deny_unknown_fields` on the variants of a tagged enum: say it in the schema too,
/// so the document promises what the server does (unknown fields are refused).
struct StrictVariants;

impl Modify for StrictVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(components) = openapi.components.as_mut() else { return };
        for name in ["Connect", "WidgetCommandRequest", "Recipient"] {
            if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(name) {
                for item in &mut one_of.items {
                    if let RefOr::T(Schema::Object(object)) = item {
                        object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                    }
                }
            }
        }
    }
}

/// A closed set of wire names (a `wire_enum!`) as a string enum schema: the derive would not see the
/// names the macro gives its variants.
fn wire_names(names: impl Iterator<Item = &'static str>) -> RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).into()
}

impl utoipa::PartialSchema for crate::domain::Scope {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        wire_names(Self::ALL.iter().map(|s| s.as_str()))
    }
}

impl ToSchema for crate::domain::Scope {}

impl utoipa::PartialSchema for crate::domain::AuditAction {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        wire_names(Self::ALL.iter().map(|a| a.as_str()))
    }
}

impl ToSchema for crate::domain::AuditAction {}

impl utoipa::PartialSchema for crate::domain::WebhookEvent {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        wire_names(Self::subscribable().map(Self::as_str))
    }
}

impl ToSchema for crate::domain::WebhookEvent {}

/// The error answers any operation may give; each is `ErrorBody`.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "malformed input: invalid_json, invalid_value (including U+0000), invalid_query, invalid_path, weak_password, \
         invalid_policy, invalid_ip_allowlist, two_factor_storage_disabled",
    ),
    ("401", "unauthorized: no valid token; two_factor_required, invalid_two_factor (login)"),
    (
        "403",
        "forbidden: license_suspended, product_not_licensed, admin_disabled, invalid_signature, insufficient_role, \
         ip_not_allowed, two_factor_setup_required, invalid_two_factor, wrong_password",
    ),
    ("404", "not_found: absent, or another tenant's"),
    ("405", "method_not_allowed"),
    (
        "409",
        "conflict: license_taken, already_registered, product_key_exists, already_claimed, allowlist_excludes_caller, \
         caller_lacks_two_factor, two_factor_enabled, two_factor_not_set_up, two_factor_required_by_policy, too_many_endpoints",
    ),
    ("413", "payload_too_large: bodies over 64 KiB (webhooks: WEBHOOK_MAX_BODY_BYTES)"),
    ("415", "unsupported_media_type"),
    ("429", "rate_limited, too_many_sockets, too_many_connections, daily_limit_exceeded (Retry-After)"),
    ("503", "unavailable (store down, Retry-After), shutting_down, channel_disabled"),
];

struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| -> RefOr<Response> {
            let content = ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"))))
                .build();
            RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
        };
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 5] =
                [&mut item.get, &mut item.post, &mut item.delete, &mut item.put, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                for (status, description) in ERRORS {
                    operation.responses.responses.entry((*status).to_owned()).or_insert_with(|| error(description));
                }
            }
        }
    }
}

/// The methods the documented path matching `path` takes (`GET, POST`), or `None` for an unknown path.
pub(super) fn allowed_methods(path: &str) -> Option<String> {
    static TABLE: OnceLock<Vec<(Vec<String>, String)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let doc = ApiDoc::openapi();
        doc.paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .iter()
                .filter(|(_, present)| *present)
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ");
                (segments, methods)
            })
            .collect()
    });
    let asked: Vec<&str> = path.split('/').collect();
    table.iter().find_map(|(segments, methods)| {
        let matches = segments.len() == asked.len()
            && segments.iter().zip(&asked).all(|(s, a)| s == a || (s.starts_with('{') && !a.is_empty()));
        matches.then(|| methods.clone())
    })
}

/// The document, rendered once.
fn document() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}")))
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}

async fn docs() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/docs/redoc.js"></script></body></html>"#,
    )
}

async fn redoc_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(include_str!("../../assets/vendor/redoc/redoc.standalone.js"))
}

/// Mounts `/openapi.json`, `/docs` and the viewer's script.
pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi_json))
        .route("/docs", web::get().to(docs))
        .route("/docs/redoc.js", web::get().to(redoc_js));
}

#[cfg(test)]
mod tests;
