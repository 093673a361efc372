//! Messaging channels beyond the widget: Facebook Messenger and WhatsApp through Twilio.
//! Each module verifies and parses its provider's webhooks and sends replies through its HTTP API.
//! Credentials are the operator's (environment); tenants only name their page or number.

pub mod messenger;
pub mod outbound;
pub mod token_box;
pub mod twilio;

use crate::domain::{ContactId, MessageKind};

/// A message a contact sent through a provider, already verified and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// The tenant's page id or WhatsApp number the contact wrote to.
    pub account_id: String,
    /// The contact: Messenger PSID or WhatsApp number.
    pub contact_id: ContactId,
    /// The provider's message id: redeliveries carry the same one.
    pub provider_msg_id: String,
    /// Text, postback or attachment.
    pub kind: MessageKind,
    /// Text, postback payload or attachment URL.
    pub body: String,
}

/// Compares secrets in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
