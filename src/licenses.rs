//! License operations — issue, list, suspend, reinstate — shared by the admin API and the CLI, so both
//! do exactly the same thing. Suspension reaches running servers: the session rows are revoked in the
//! store, the shared session cache forgets them, and `session:revoked` on the bus closes open sockets.

use crate::audit::{Actor, Audit, AuditEvent, Origin};
use crate::auth::SessionCache;
use crate::bus::{Event, SharedBus};
use crate::domain::{AuditAction, Email, LicenseKey, LicenseStatus, ParseError, Product, Tier};
use crate::store::{License, NewLicense, Store, StoreError};
use serde::Deserialize;
use serde_json::json;

/// Why a license operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// No license with that key.
    #[error("license not found")]
    NotFound,
    /// A malformed key or order.
    #[error(transparent)]
    Invalid(#[from] ParseError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A license order as the admin API and the CLI take it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseOrder {
    /// Purchaser's address.
    pub email: String,
    /// Product names.
    pub products: Vec<String>,
    /// Tier name; `basic` when absent.
    pub tier: Option<String>,
}

impl LicenseOrder {
    /// Validates the order into what the store takes.
    pub fn parse(&self) -> Result<NewLicense, ParseError> {
        let email = Email::parse(&self.email)?;
        let mut products: Vec<Product> = Vec::new();
        for name in &self.products {
            let product = name.parse()?;
            if !products.contains(&product) {
                products.push(product);
            }
        }
        if products.is_empty() {
            return Err(ParseError("a license needs at least one product".into()));
        }
        let tier = match &self.tier {
            Some(t) => t.parse::<Tier>()?,
            None => Tier::default(),
        };
        Ok(NewLicense { email: email.as_str().to_owned(), products, tier })
    }
}

/// The operator who asks for a license operation (admin API or CLI), for the audit trail.
#[derive(Debug, Clone)]
pub struct Operator {
    /// `admin_api` or `cli`.
    pub actor: Actor,
    /// Where the admin API request came from (nothing for the CLI).
    pub origin: Origin,
}

/// The license operations, over the store, the shared session cache and the bus; each is audited.
#[derive(Clone)]
pub struct Licenses {
    store: Store,
    sessions: SessionCache,
    bus: SharedBus,
    audit: Audit,
}

impl Licenses {
    /// Operations on `store` that reach live servers through `sessions` and `bus`.
    pub fn new(store: Store, sessions: SessionCache, bus: SharedBus) -> Self {
        let audit = Audit::new(store.clone());
        Self { store, sessions, bus, audit }
    }

    /// Issues a license for a validated order.
    pub async fn issue(&self, order: &LicenseOrder, by: &Operator) -> Result<License, LicenseError> {
        let license = self.store.create_license(&order.parse()?).await?;
        tracing::info!(license = %license.license_key, "license issued");
        let details = json!({ "tier": license.tier, "products": license.products });
        self.record(AuditAction::LicenseCreated, &license, by, details).await;
        Ok(license)
    }

    /// Every license.
    pub async fn list(&self) -> Result<Vec<License>, LicenseError> {
        Ok(self.store.licenses().await?)
    }

    /// Suspends a license: logins are refused from now on, every session is revoked on every node and
    /// the dashboard sockets opened with them close.
    pub async fn suspend(&self, raw_key: &str, by: &Operator) -> Result<License, LicenseError> {
        let license = self.set_status(raw_key, LicenseStatus::Suspended).await?;
        let key = &license.license_key;
        self.store.revoke_license_sessions(key).await?;
        self.sessions.forget_license(key).await;
        self.bus.publish(key, Event::SessionRevoked { jti: None });
        tracing::info!(license = %key, "license suspended; its sessions are revoked");
        self.record(AuditAction::LicenseSuspended, &license, by, json!({})).await;
        Ok(license)
    }

    /// Reinstates a suspended license; its users log in again.
    pub async fn activate(&self, raw_key: &str, by: &Operator) -> Result<License, LicenseError> {
        let license = self.set_status(raw_key, LicenseStatus::Active).await?;
        self.record(AuditAction::LicenseActivated, &license, by, json!({})).await;
        Ok(license)
    }

    async fn record(&self, action: AuditAction, license: &License, by: &Operator, details: serde_json::Value) {
        let event = AuditEvent::new(action, by.actor.clone())
            .license(&license.license_key)
            .target(license.license_key.as_str())
            .from(by.origin.clone())
            .metadata(details);
        self.audit.record(event).await;
    }

    async fn set_status(&self, raw_key: &str, status: LicenseStatus) -> Result<License, LicenseError> {
        let key = LicenseKey::parse(raw_key)?;
        self.store.set_license_status(&key, status).await?.ok_or(LicenseError::NotFound)
    }
}

/// The API (and CLI) shape of a license.
pub fn license_json(license: &License) -> serde_json::Value {
    json!({
        "license_key": license.license_key,
        "email": license.email,
        "products": license.products,
        "tier": license.tier,
        "status": license.status,
        "created_at": license.created_at,
    })
}
