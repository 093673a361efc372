//! Outgoing tenant webhooks: the events a tenant may subscribe to, the signing secret, and where one
//! delivery of an event to one endpoint stands.

use super::api_key::random_alphanumeric;
use super::ParseError;

/// Every signing secret starts with this (Stripe's convention), so a leaked one is easy to recognise.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
const SECRET_LEN: usize = 32;

wire_enum!(
    /// What happened: the `event` field of every webhook body and the `X-Switchboard-Event` header.
    WebhookEvent("webhook event") {
        /// A conversation started, or a closed one was reopened by an agent (`data.reopened`).
        ChatOpened = "chat_opened",
        /// A conversation was closed.
        ChatClosed = "chat_closed",
        /// A visitor, contact, agent or the server wrote a message (private notes are never sent).
        MessageCreated = "message_created",
        /// A conversation's assignee changed (`data.assignee_id`, `null` when unassigned).
        ConversationAssigned = "conversation_assigned",
        /// An outbound Messenger or WhatsApp message changed delivery state.
        DeliveryUpdated = "delivery_updated",
        /// The visitor rated a closed conversation (`data.rating` 1–5, `data.comment`).
        CsatReceived = "csat_received",
        /// The visitor filled in the widget's pre-chat or offline form (`data.lead`: name, email, phone, fields).
        LeadCapture = "lead_capture",
        /// The license's API calls today reached an alert threshold (`data`: percent, calls, limit, date).
        UsageAlert = "usage_alert",
        /// Sent by `POST /api/webhook-endpoints/{id}/test` to that endpoint only; never subscribed to.
        Test = "test",
    }
);

impl WebhookEvent {
    /// The events an endpoint may subscribe to ([`WebhookEvent::Test`] is sent on request only).
    pub fn subscribable() -> impl Iterator<Item = Self> {
        Self::ALL.iter().copied().filter(|event| *event != Self::Test)
    }
}

wire_enum!(
    /// Where one delivery (one event to one endpoint) stands.
    WebhookDeliveryStatus("webhook delivery status") {
        /// Waiting for its first attempt or its next retry.
        Pending = "pending",
        /// The endpoint answered 2xx.
        Succeeded = "succeeded",
        /// Given up on: a 4xx other than 408/429, a refused address, or retries ran out.
        Failed = "failed",
    }
);

/// An endpoint's signing secret: `whsec_` and 32 letters and digits. Shown at creation and rotation only.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// A fresh secret.
    pub fn generate() -> Self {
        Self(format!("{WEBHOOK_SECRET_PREFIX}{}", random_alphanumeric(SECRET_LEN)))
    }

    /// A stored secret; anything without the prefix is refused.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw.strip_prefix(WEBHOOK_SECRET_PREFIX) {
            Some(rest) if !rest.is_empty() => Ok(Self(raw.to_owned())),
            _ => Err(ParseError(format!("a webhook secret starts with {WEBHOOK_SECRET_PREFIX}"))),
        }
    }

    /// The secret itself: the HMAC key, and what creation and rotation show.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_the_prefix_and_parse_back() {
        let secret = WebhookSecret::generate();
        assert!(secret.expose().starts_with("whsec_") && secret.expose().len() == 6 + 32);
        assert_eq!(WebhookSecret::parse(secret.expose()).ok(), Some(secret.clone()));
        assert!(WebhookSecret::parse("sk_live_x").is_err());
        assert!(!format!("{secret:?}").contains(secret.expose()), "never in logs");
    }

    #[test]
    fn the_test_event_cannot_be_subscribed_to() {
        assert!(WebhookEvent::subscribable().all(|e| e != WebhookEvent::Test));
        assert_eq!(WebhookEvent::subscribable().count(), WebhookEvent::ALL.len() - 1);
    }
}
