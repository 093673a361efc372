//! Typed values of the messaging domain. Parsing is validation: a value of these types is always well-formed.

#[macro_use]
mod wire_enum;
mod api_key;
mod audit;
mod business_hours;
mod business_time;
mod conversation;
mod csat;
mod email;
mod ids;
mod keys;
mod lead;
mod product;
mod security;
mod team;
mod webhook;
mod widget_command;
mod widget_config;

pub use api_key::{ApiKeySecret, Scope, Scopes, API_KEY_PREFIX};
pub use audit::{ActorKind, AuditAction};
pub use business_hours::BusinessHours;
pub use conversation::{
    parse_client_msg_id, parse_message_text, Channel, ConversationStatus, Delivery, IntegrationStatus, Message,
    MessageKind, NotificationKind, Sender, MAX_MESSAGE_CHARS, NON_BLANK_PATTERN,
};
pub use csat::{CsatReply, CSAT_QUESTION, CSAT_QUESTION_ID, MAX_CSAT_COMMENT_CHARS};
pub use email::Email;
pub use ids::{
    new_id, ApiKeyId, ContactId, ConversationId, MessageId, UserId, VisitorToken, WebhookDeliveryId, WebhookEndpointId,
};
pub use keys::{LicenseKey, ProductKey};
pub use lead::{Lead, LeadAnswers, LeadField, LeadForm, LeadRefusal};
pub use product::{LicenseStatus, Product, Tier};
pub use security::{client_address, IpAllowlist, PasswordRule, SecurityPolicy, SessionTimeout};
pub use team::{mentions, AutoAssignment, Availability, Permission, Role};
pub use webhook::{WebhookDeliveryStatus, WebhookEvent, WebhookSecret, WEBHOOK_SECRET_PREFIX};
pub use widget_command::{
    merge_json, CommandTarget, Empty, OpenChat, Priority, ShowNotification, TrackEvent, WidgetCommand,
    MAX_COMMAND_DATA_BYTES,
};
pub use widget_config::{Behavior, Position, ReplyTime, Theme, UtmCapture, WidgetConfig};

/// Why a raw value could not become a domain value; the message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// The UTC midnight at or before `millis` (epoch ms): where "today" starts for metrics and allowances.
pub fn start_of_utc_day(millis: i64) -> i64 {
    millis - millis.rem_euclid(DAY_MS)
}

/// Milliseconds since the Unix epoch: the one time representation, stored in every engine and sent in
/// every API answer, event and frame.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
