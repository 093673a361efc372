//! Conversations and their messages, whatever channel they arrive on.

use super::ids::UserId;
use super::{ConversationId, MessageId, ParseError};
use serde::{Deserialize, Serialize};

/// Longest message text accepted from any sender, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// The API schema's pattern for text that is not blank: one character outside Unicode's `White_Space`
/// (the same set as [`char::is_whitespace`]), spelled out rather than `\S` because regex dialects
/// disagree on it (ECMA's `\s` lacks U+0085, which [`str::trim`] removes). Each `#[schema(pattern)]`
/// writes it out again (utoipa takes only literals); an OpenAPI test checks they match.
pub const NON_BLANK_PATTERN: &str = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Longest client-chosen message id.
pub const MAX_CLIENT_MSG_ID_CHARS: usize = 100;

wire_enum!(
    /// Where a conversation's contact writes from.
    Channel("channel") {
        /// The website widget.
        Widget = "widget",
        /// Facebook Messenger.
        Messenger = "messenger",
        /// WhatsApp through Twilio.
        Whatsapp = "whatsapp",
    }
);

wire_enum!(
    /// Whether agents still expect to answer.
    ConversationStatus("conversation status") {
        /// Waiting for or in conversation.
        Open = "open",
        /// Done; a new visitor message reopens it.
        Closed = "closed",
    }
);

wire_enum!(
    /// Who wrote a message.
    Sender("sender") {
        /// The customer (widget visitor or channel contact).
        Visitor = "visitor",
        /// A dashboard user.
        Agent = "agent",
        /// The server itself.
        System = "system",
    }
);

wire_enum!(
    /// What a message carries.
    MessageKind("message kind") {
        /// Plain text.
        Text = "text",
        /// A button press (Messenger postback); the body is its payload.
        Postback = "postback",
        /// A file or media link; the body is its URL.
        Attachment = "attachment",
        /// A private note between team members: never shown to the visitor or sent out on a channel.
        Note = "note",
    }
);

wire_enum!(
    /// How far an outbound channel message has got.
    Delivery("delivery state") {
        /// Not yet accepted by the provider.
        Pending = "pending",
        /// Accepted by the provider.
        Sent = "sent",
        /// Reported delivered to the contact.
        Delivered = "delivered",
        /// Given up on.
        Failed = "failed",
        /// A provider call was made but its answer never recorded (its node stopped mid-call, or the
        /// provider did not answer in time): the contact may have it. Never resent automatically.
        Unknown = "unknown",
    }
);

wire_enum!(
    /// Whether a connected page or number is in use.
    IntegrationStatus("integration status") {
        /// Connected: its webhooks are accepted and replies go out through it.
        Connected = "connected",
    }
);

wire_enum!(
    /// What a dashboard notification is about.
    NotificationKind("notification kind") {
        /// A visitor or contact started a conversation.
        NewConversation = "new_conversation",
        /// The license used 80 % or all of its daily allowance.
        UsageWarning = "usage_warning",
        /// A teammate @mentioned the recipient in a note.
        Mention = "mention",
        /// A conversation was assigned to the recipient.
        Assigned = "assigned",
        /// An outgoing webhook endpoint kept failing and was disabled (sent to the license's admins).
        WebhookDisabled = "webhook_disabled",
    }
);

/// A stored message, as every API and socket shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// Server id.
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// Position in the conversation, from 1, assigned by the store.
    pub seq: i64,
    /// Who wrote it.
    pub sender: Sender,
    /// What it carries.
    pub kind: MessageKind,
    /// Text, postback payload or attachment URL.
    pub text: String,
    /// The sender's idempotency id, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// The agent who wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<UserId>,
    /// Outbound delivery state on Messenger and WhatsApp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

/// Validates message text: non-blank, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn parse_message_text(raw: &str) -> Result<String, ParseError> {
    if raw.trim().is_empty() {
        return Err(ParseError("the message text is empty".into()));
    }
    if raw.contains('\0') {
        // PostgreSQL cannot store U+0000 in text; refused here so it never reaches a batch.
        return Err(ParseError("the message text contains U+0000 (NUL)".into()));
    }
    if raw.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ParseError(format!("the message text is longer than {MAX_MESSAGE_CHARS} characters")));
    }
    Ok(raw.to_owned())
}

/// Validates an optional client message id.
pub fn parse_client_msg_id(raw: Option<&str>) -> Result<Option<String>, ParseError> {
    match raw {
        None => Ok(None),
        Some(id) if id.is_empty() || id.contains('\0') || id.chars().count() > MAX_CLIENT_MSG_ID_CHARS => {
            Err(ParseError(format!("client_msg_id must be 1 to {MAX_CLIENT_MSG_ID_CHARS} characters")))
        }
        Some(id) => Ok(Some(id.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_must_be_present_and_bounded() {
        assert!(parse_message_text("hi").is_ok());
        assert!(parse_message_text("  ").is_err());
        assert!(parse_message_text(&"x".repeat(MAX_MESSAGE_CHARS + 1)).is_err());
        assert!(parse_message_text("a\0b").is_err());
        assert!(parse_client_msg_id(Some("c\0")).is_err());
    }

    /// Decodes the pattern's one negated class (escapes `\t`, `\r`, `\xHH`, `\uHHHH`, ranges with `-`).
    fn blank_class() -> Vec<(char, char)> {
        let class = NON_BLANK_PATTERN.strip_prefix("[^").and_then(|p| p.strip_suffix(']')).unwrap();
        let mut tokens = Vec::new();
        let mut rest = class;
        while !rest.is_empty() {
            let (token, len) = match rest.as_bytes() {
                [b'\\', b't', ..] => (Some('\t'), 2),
                [b'\\', b'r', ..] => (Some('\r'), 2),
                [b'\\', b'x', ..] => (char::from_u32(u32::from_str_radix(&rest[2..4], 16).unwrap()), 4),
                [b'\\', b'u', ..] => (char::from_u32(u32::from_str_radix(&rest[2..6], 16).unwrap()), 6),
                [b'-', ..] => (None, 1),
                _ => (rest.chars().next(), rest.chars().next().unwrap().len_utf8()),
            };
            tokens.push(token);
            rest = &rest[len..];
        }
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let low = tokens[i].unwrap();
            match tokens.get(i + 1) {
                Some(None) => (ranges.push((low, tokens[i + 2].unwrap())), i += 3),
                _ => (ranges.push((low, low)), i += 1),
            };
        }
        ranges
    }

    #[test]
    fn the_non_blank_pattern_calls_blank_exactly_what_trim_removes() {
        let ranges = blank_class();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let blank = ranges.iter().any(|(low, high)| (*low..=*high).contains(&c));
            assert_eq!(blank, c.is_whitespace(), "U+{:04X}", c as u32);
        }
        assert!(parse_message_text("\u{85}").is_err(), "NEL alone is blank");
    }

    #[test]
    fn wire_names_round_trip() {
        for channel in [Channel::Widget, Channel::Messenger, Channel::Whatsapp] {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(channel));
        }
        assert!("pigeon".parse::<Channel>().is_err());
    }
}
