//! The audit trail, as the operations write it: each operation that changes who may do what (logins,
//! keys, licenses, integrations, settings) records one event as it happens, through [`Audit::record`].
//!
//! ```ignore
//! state.audit.record(AuditEvent::new(AuditAction::ApiKeyRevoked, Actor::user(&user.claims.sub))
//!     .license(&user.license).target(id.as_str()).from(origin)).await;
//! ```
//!
//! Recording happens after the operation succeeded; a failed write is logged and counted but does not
//! undo or fail the operation, whose effect the caller already relies on.

use crate::domain::{ActorKind, AuditAction, LicenseKey, UserId};
use crate::store::{NewAuditEntry, Store};
use serde_json::json;

/// Longest `User-Agent` kept; the rest is cut (clients choose it, and it lands in every export).
const MAX_USER_AGENT_CHARS: usize = 512;

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The kind of principal.
    pub kind: ActorKind,
    /// Which one, when known.
    pub id: Option<String>,
}

impl Actor {
    /// A dashboard user.
    pub fn user(id: &UserId) -> Self {
        Self { kind: ActorKind::User, id: Some(id.as_str().to_owned()) }
    }

    /// Someone not (yet) identified as a user, e.g. a failed login for an unknown address.
    pub fn anonymous_user() -> Self {
        Self { kind: ActorKind::User, id: None }
    }

    /// A tenant's backend, through its API key `id`.
    pub fn api_key(id: &crate::domain::ApiKeyId) -> Self {
        Self { kind: ActorKind::ApiKey, id: Some(id.as_str().to_owned()) }
    }

    /// The server itself (e.g. disabling a webhook endpoint that keeps failing).
    pub fn system() -> Self {
        Self { kind: ActorKind::System, id: None }
    }

    /// The operator, through `via` (`admin_api`, `cli`).
    pub fn admin(via: &str) -> Self {
        Self { kind: ActorKind::Admin, id: Some(via.to_owned()) }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`, cut to a sane length.
    pub user_agent: Option<String>,
}

impl Origin {
    /// An origin from a request's address and `User-Agent` header.
    pub fn new(ip: impl ToString, user_agent: Option<&str>) -> Self {
        let user_agent =
            user_agent.filter(|ua| !ua.is_empty()).map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
        Self { ip: Some(ip.to_string()), user_agent }
    }
}

/// One event to record, built up from what the operation knows.
#[derive(Debug, Clone)]
pub struct AuditEvent(NewAuditEntry);

impl AuditEvent {
    /// `actor` did `action`; everything else is optional.
    pub fn new(action: AuditAction, actor: Actor) -> Self {
        Self(NewAuditEntry {
            license_key: None,
            actor_kind: actor.kind,
            actor_id: actor.id,
            action,
            target: None,
            ip: None,
            user_agent: None,
            metadata: json!({}),
        })
    }

    /// The tenant the event belongs to.
    pub fn license(mut self, license: &LicenseKey) -> Self {
        self.0.license_key = Some(license.clone());
        self
    }

    /// What the action was done to.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.0.target = Some(target.into());
        self
    }

    /// Where the request came from.
    pub fn from(mut self, origin: Origin) -> Self {
        self.0.ip = origin.ip;
        self.0.user_agent = origin.user_agent;
        self
    }

    /// Details particular to the action (a JSON object).
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.0.metadata = metadata;
        self
    }
}

/// Appends events to the store's audit trail.
#[derive(Clone, Debug)]
pub struct Audit {
    store: Store,
}

impl Audit {
    /// An audit trail in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Appends `event`; a failure is logged and counted, never returned (see the module docs).
    pub async fn record(&self, event: AuditEvent) {
        let entry = event.0;
        if let Err(err) = self.store.record_audit(&entry).await {
            metrics::counter!(crate::telemetry::STORE_ERRORS, "kind" => "audit").increment(1);
            tracing::error!(error = %err, action = entry.action.as_str(), "could not record an audit event");
        }
    }
}
