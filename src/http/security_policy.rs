//! `/api/security/policy`: the license's account-security policy — second factor required, session
//! timeout, password rule, IP allow-list — read and replaced by admins. Enforcement lives where each rule
//! bites: login and [`crate::auth::Authenticator::admit`] (every request and socket), the password checks.

use super::{client_ip, user_event, ApiError, DashboardUser};
use crate::domain::{AuditAction, IpAllowlist, PasswordRule, Permission, SecurityPolicy, SessionTimeout};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Mounts the policy routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/security/policy", web::get().to(show)).route("/security/policy", web::put().to(replace));
}

/// The policy as the API shows it, with the session lifetime it gives on this server.
fn policy_json(state: &AppState, policy: &SecurityPolicy) -> serde_json::Value {
    json!({
        "require_two_factor": policy.require_two_factor,
        "session_timeout_minutes": policy.session_timeout.map(SessionTimeout::minutes),
        "password_min_length": policy.password.min_length,
        "password_require_mixed": policy.password.require_mixed,
        "ip_allowlist": policy.ip_allowlist.entries(),
        "session_seconds": state.auth.session_seconds(policy),
    })
}

#[utoipa::path(
    get,
    path = "/api/security/policy",
    tag = "security",
    responses((status = 200, description = "the license's policy (defaults if never set) and `session_seconds`, the lifetime of a session opened now", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn show(state: web::Data<AppState>, user: DashboardUser) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let policy = state.auth.policy(&user.license).await?;
    Ok(HttpResponse::Ok().json(policy_json(&state, &policy)))
}

/// The whole policy: fields left out take their defaults.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    /// Members must log in with a second factor; needs the caller's own session to have used one.
    #[serde(default)]
    require_two_factor: bool,
    /// Lifetime of sessions opened from now on, in minutes (at most `JWT_TTL_SECONDS`); `null`: the TTL.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 43200)]
    session_timeout_minutes: Option<Whole>,
    /// Shortest password members may set (default 8).
    #[schema(value_type = Option<i64>, minimum = 8, maximum = 128)]
    password_min_length: Option<Whole>,
    /// New passwords need letters and digits.
    #[serde(default)]
    password_require_mixed: bool,
    /// Networks members may log in and connect from (IPv4 or IPv6, CIDR or single address); empty: any.
    /// Must hold the caller's own address.
    #[serde(default)]
    #[schema(
        max_items = 100,
        pattern = r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?$"
    )]
    ip_allowlist: Vec<String>,
}

/// A whole number, written `7` or `7.0` (JSON Schema's `integer` allows both).
#[derive(Deserialize, Clone, Copy)]
struct Whole(#[serde(deserialize_with = "super::json_object::whole_number")] i64);

/// Replaces the policy. Refused when it would lock the caller out: an allow-list without their address
/// (409 `allowlist_excludes_caller`), or requiring two-factor from a session opened without it
/// (409 `caller_lacks_two_factor`). Applies on every node within seconds.
#[utoipa::path(
    put,
    path = "/api/security/policy",
    tag = "security",
    request_body = PolicyBody,
    responses((status = 200, description = "the stored policy", body = serde_json::Value)),
    security(("bearer" = []))
)]
async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: DashboardUser,
    body: web::Json<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    user.require(Permission::ManageSettings)?;
    let invalid = |e: crate::domain::ParseError| ApiError::bad_request("invalid_policy", e.0);
    let policy = SecurityPolicy {
        require_two_factor: body.require_two_factor,
        session_timeout: body
            .session_timeout_minutes
            .map(|m| SessionTimeout::from_minutes(m.0))
            .transpose()
            .map_err(invalid)?,
        password: PasswordRule::new(body.password_min_length.map_or(8, |n| n.0), body.password_require_mixed)
            .map_err(invalid)?,
        ip_allowlist: IpAllowlist::parse(&body.ip_allowlist)
            .map_err(|e| ApiError::bad_request("invalid_ip_allowlist", e.0))?,
    };
    let source = client_ip(&req, state.trust_x_forwarded_for);
    if !policy.ip_allowlist.allows(source) {
        return Err(ApiError::conflict(
            "allowlist_excludes_caller",
            format!("the allow-list must include your own address ({source}), or you would be locked out"),
        ));
    }
    if policy.require_two_factor && !user.claims.mfa {
        return Err(ApiError::conflict(
            "caller_lacks_two_factor",
            "log in with your own second factor before requiring one from every member",
        ));
    }
    state.store.put_security_policy(&user.license, &policy, &user.claims.sub).await?;
    state.auth.policy_changed(&user.license);
    let event = user_event(&req, &state, &user, AuditAction::SecurityPolicyUpdated)
        .target("security_policy")
        .metadata(policy_json(&state, &policy));
    state.audit.record(event).await;
    Ok(HttpResponse::Ok().json(policy_json(&state, &policy)))
}
