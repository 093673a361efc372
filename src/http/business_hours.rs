//! `/api/team/business-hours`: when the team is open. Everyone reads it; admins change it.

use super::{user_event, ApiError, DashboardUser};
use crate::actors::HoursChanged;
use crate::bus::{Activity, Event};
use crate::domain::{AuditAction, BusinessHours, Permission};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::schema::{Array, ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};

/// Mounts the business-hours routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/team/business-hours", web::get().to(show)).route("/team/business-hours", web::put().to(save));
}

/// The request's shape, for the OpenAPI document; [`BusinessHours::parse`] is what checks it.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HoursBody {
    enabled: bool,
    /// IANA time zone.
    #[schema(schema_with = zone_schema)]
    timezone: String,
    weekly: WeeklyBody,
    #[serde(default)]
    #[schema(schema_with = holidays_schema)]
    holidays: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\x00]*$")]
    offline_message: String,
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\x00]*$")]
    auto_reply: String,
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WeeklyBody {
    #[serde(default)]
    #[schema(max_items = 8)]
    mon: Vec<IntervalBody>,
    #[serde(default)]
    #[schema(max_items = 8)]
    tue: Vec<IntervalBody>,
    #[serde(default)]
    #[schema(max_items = 8)]
    wed: Vec<IntervalBody>,
    #[serde(default)]
    #[schema(max_items = 8)]
    thu: Vec<IntervalBody>,
    #[serde(default)]
    #[schema(max_items = 8)]
    fri: Vec<IntervalBody>,
    #[serde(default)]
    #[schema(max_items = 8)]
    sat: Vec<IntervalBody>,
    #[serde(default)]
    #[schema(max_items = 8)]
    sun: Vec<IntervalBody>,
}

/// `HH:MM` local time; `close` before `open` runs past midnight, equal is all day.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IntervalBody {
    #[schema(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    open: String,
    #[schema(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    close: String,
}

/// An IANA time zone: one of the names the server knows.
fn zone_schema() -> Object {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(zones)).examples(["Europe/Paris"]).build()
}

/// Closed days: up to 366 dates, `YYYY-MM-DD` (local).
fn holidays_schema() -> Array {
    let day = ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)));
    ArrayBuilder::new().items(day).max_items(Some(366)).build()
}

#[utoipa::path(get, path = "/api/team/business-hours", tag = "team",
    responses((status = 200, description = "the business hours and whether the team is open now", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn show(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::Read)?;
    let hours = state.store.business_hours(&user.license).await?;
    let open_now = hours.is_open(chrono::Utc::now());
    Ok(HttpResponse::Ok().json(json!({ "business_hours": hours, "open_now": open_now })))
}

#[utoipa::path(put, path = "/api/team/business-hours", tag = "team", request_body = HoursBody,
    responses((status = 200, description = "the saved business hours and whether the team is open now", body = serde_json::Value)),
    security(("bearer" = [])))]
async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<HoursBody>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let raw = serde_json::to_value(body.into_inner()).map_err(anyhow::Error::from)?;
    let hours = BusinessHours::parse(raw)?;
    state.store.save_business_hours(&user.license, &hours).await?;
    // This node's widgets see the change at once; other nodes' tenant actors hear it on the bus.
    let _ = state.registry.tenant(&user.license).send(HoursChanged).await;
    state.bus.publish(&user.license, Event::Activity(Activity::BusinessHoursUpdated {}));
    let event =
        user_event(&req, &state, &user, AuditAction::SettingsUpdated).target("business_hours").metadata(json!(hours));
    state.audit.record(event).await;
    let open_now = hours.is_open(chrono::Utc::now());
    Ok(HttpResponse::Ok().json(json!({ "business_hours": hours, "open_now": open_now })))
}
