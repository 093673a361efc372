//! The actors' side of outbound delivery: where a conversation's replies go, and the one call that
//! hands a stored reply to the delivery worker (`crate::delivery`). Actors never talk to providers.

use crate::domain::{Channel, ContactId, LicenseKey, Message};
use crate::store::Conversation;

/// Sends stored agent replies out through the conversation's provider, in the background.
pub trait Dispatch: Send + Sync + 'static {
    /// Starts delivering `message` to `destination`; the outcome is stored and announced by the worker.
    fn dispatch(&self, destination: Destination, message: Message);
}

/// Where one outbound message goes.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The tenant.
    pub license: LicenseKey,
    /// Messenger or WhatsApp.
    pub channel: Channel,
    /// The tenant's page id or number.
    pub account_id: String,
    /// The contact.
    pub contact_id: ContactId,
}

impl Destination {
    /// Where a conversation's outbound messages go: the tenant's page or number to the contact.
    pub fn of(conversation: &Conversation) -> Self {
        let account_id = conversation.metadata.get("account_id").and_then(|v| v.as_str()).unwrap_or_default();
        Self {
            license: conversation.license_key.clone(),
            channel: conversation.channel,
            account_id: account_id.to_owned(),
            contact_id: conversation.contact_id.clone(),
        }
    }
}
