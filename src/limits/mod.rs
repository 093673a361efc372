//! Limits on what clients may take: widget frames per visitor, per source address and per license;
//! new conversations per source; login attempts per address and per e-mail; bursts of API calls and of
//! inbound provider messages per license and of Socket.IO emits per member; sockets per visitor and
//! connections per source ([`slots`]).
//!
//! Each node enforces a GCRA (governor) locally; with Redis, a per-second counter per visitor and per
//! license also caps the widget total across nodes (`shared`: claimed in leases, so a busy counter
//! costs a round trip every tenth of its frames). If Redis fails, the local limits still hold (the
//! shared check fails open, logged). The per-source and login budgets are per node: an abuser spread
//! over N nodes gets N budgets, still bounded.

mod admitted;
mod shared;
pub mod slots;

pub use admitted::Admitted;
pub use shared::SharedCounters;
pub use slots::SlotTable;

use crate::domain::LicenseKey;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// Limits for one deployment.
pub struct RateLimits {
    visitor: DefaultKeyedRateLimiter<String>,
    license: DefaultKeyedRateLimiter<LicenseKey>,
    source: DefaultKeyedRateLimiter<IpAddr>,
    new_conversations: DefaultKeyedRateLimiter<IpAddr>,
    login_per_source: DefaultKeyedRateLimiter<IpAddr>,
    login_per_email: DefaultKeyedRateLimiter<String>,
    api_calls: DefaultKeyedRateLimiter<LicenseKey>,
    webhook_ingest: DefaultKeyedRateLimiter<LicenseKey>,
    emits: DefaultKeyedRateLimiter<String>,
    shared: Option<SharedCounters>,
    /// Open widget sockets per visitor token.
    pub visitor_sockets: Arc<SlotTable<String>>,
    /// Open long-lived connections (WebSockets, Socket.IO) per source address.
    pub source_connections: Arc<SlotTable<IpAddr>>,
}

/// The budgets a [`RateLimits`] enforces; each count is per second unless named otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Sustained frames per visitor.
    pub visitor_rate: NonZeroU32,
    /// Burst of frames per visitor.
    pub visitor_burst: NonZeroU32,
    /// Frames of all visitors of one license (bursts of twice that).
    pub license_rate: NonZeroU32,
    /// Frames from one source address, whatever the visitor token (bursts of twice that).
    pub source_rate: NonZeroU32,
    /// New conversations one source address may open per minute.
    pub new_conversations_per_minute: NonZeroU32,
    /// Login or register attempts per source address per minute.
    pub logins_per_source_per_minute: NonZeroU32,
    /// Login attempts per e-mail address per minute.
    pub logins_per_email_per_minute: NonZeroU32,
    /// Open widget sockets per visitor token (0: no cap).
    pub sockets_per_visitor: usize,
    /// Open long-lived connections per source address (0: no cap).
    pub connections_per_source: usize,
    /// Authenticated API calls per license (bursts of twice that).
    pub api_rate: NonZeroU32,
    /// Inbound provider messages per license (bursts of twice that).
    pub webhook_ingest_rate: NonZeroU32,
    /// Socket.IO emits per member (bursts of twice that).
    pub emit_rate: NonZeroU32,
}

/// Which login budget refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// Too many attempts from this address.
    Source,
    /// Too many attempts for this e-mail.
    Email,
}

impl RateLimits {
    /// Limits with `budgets`; `shared` adds the cross-node widget counters.
    pub fn new(budgets: Budgets, shared: Option<SharedCounters>) -> Self {
        let twice = |rate: NonZeroU32| rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let per_second_bursting = |rate: NonZeroU32| Quota::per_second(rate).allow_burst(twice(rate));
        let per_minute = |n: NonZeroU32| Quota::per_minute(n).allow_burst(n);
        Self {
            visitor: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(budgets.visitor_rate).allow_burst(budgets.visitor_burst),
            ),
            license: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(budgets.license_rate).allow_burst(twice(budgets.license_rate)),
            ),
            source: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(budgets.source_rate).allow_burst(twice(budgets.source_rate)),
            ),
            new_conversations: DefaultKeyedRateLimiter::keyed(per_minute(budgets.new_conversations_per_minute)),
            login_per_source: DefaultKeyedRateLimiter::keyed(per_minute(budgets.logins_per_source_per_minute)),
            login_per_email: DefaultKeyedRateLimiter::keyed(per_minute(budgets.logins_per_email_per_minute)),
            api_calls: DefaultKeyedRateLimiter::keyed(per_second_bursting(budgets.api_rate)),
            webhook_ingest: DefaultKeyedRateLimiter::keyed(per_second_bursting(budgets.webhook_ingest_rate)),
            emits: DefaultKeyedRateLimiter::keyed(per_second_bursting(budgets.emit_rate)),
            shared,
            visitor_sockets: SlotTable::new(budgets.sockets_per_visitor),
            source_connections: SlotTable::new(budgets.connections_per_source),
        }
    }

    /// Whether `source` may send another widget frame now (whatever visitor token it uses), so one
    /// client minting fresh tokens cannot spend the whole license's budget.
    pub fn allow_source_frame(&self, source: IpAddr) -> bool {
        counted(self.source.check_key(&source).is_ok(), "source")
    }

    /// Whether `source` may open another conversation now.
    pub fn allow_new_conversation(&self, source: IpAddr) -> bool {
        counted(self.new_conversations.check_key(&source).is_ok(), "new_conversation")
    }

    /// Whether a login (or register, with no e-mail budget) attempt may be tried now.
    pub fn allow_login(&self, source: IpAddr, email: Option<&str>) -> Result<(), LoginRefused> {
        if !counted(self.login_per_source.check_key(&source).is_ok(), "login") {
            return Err(LoginRefused::Source);
        }
        match email {
            Some(email) if !counted(self.login_per_email.check_key(&email.to_ascii_lowercase()).is_ok(), "login") => {
                Err(LoginRefused::Email)
            }
            _ => Ok(()),
        }
    }

    /// Whether a visitor's frame may pass now.
    pub async fn allow_visitor_frame(&self, license: &LicenseKey, visitor_id: &str) -> bool {
        let visitor_key = format!("{license}/{visitor_id}");
        if !counted(self.visitor.check_key(&visitor_key).is_ok(), "visitor")
            || !counted(self.license.check_key(license).is_ok(), "license")
        {
            return false;
        }
        match &self.shared {
            None => true,
            Some(shared) => shared.allow(license, visitor_id).await,
        }
    }

    /// Whether the license may make another authenticated API call now (its burst limit).
    pub fn allow_api_call(&self, license: &LicenseKey) -> bool {
        counted(self.api_calls.check_key(license).is_ok(), "api")
    }

    /// Whether the license may take another inbound Messenger/WhatsApp message now.
    pub fn allow_webhook_ingest(&self, license: &LicenseKey) -> bool {
        counted(self.webhook_ingest.check_key(license).is_ok(), "webhook_ingest")
    }

    /// Whether a member (of `license`) may send another Socket.IO emit now.
    pub fn allow_emit(&self, license: &LicenseKey, member: &str) -> bool {
        counted(self.emits.check_key(&format!("{license}/{member}")).is_ok(), "socketio_emit")
    }

    /// Forgets keys that have been quiet long enough to be back at full allowance.
    pub fn sweep(&self) {
        self.visitor.retain_recent();
        self.license.retain_recent();
        self.source.retain_recent();
        self.new_conversations.retain_recent();
        self.login_per_source.retain_recent();
        self.login_per_email.retain_recent();
        self.api_calls.retain_recent();
        self.webhook_ingest.retain_recent();
        self.emits.retain_recent();
        if let Some(shared) = &self.shared {
            shared.sweep();
        }
    }
}

/// Passes `allowed` through, counting a refusal by `limit`.
fn counted(allowed: bool, limit: &'static str) -> bool {
    if !allowed {
        metrics::counter!(crate::telemetry::RATE_LIMITED, "limit" => limit).increment(1);
    }
    allowed
}
