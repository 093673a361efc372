//! Typed identity: one newtype per kind of id, so a conversation id can never be passed where a message id
//! or a user id is expected.
//!
//! Every id is text on the wire and in the store; serde reads and writes the bare string, so the JSON wire
//! format is the same as when these were `String`s. Ids the server makes ([`new_id`]: 32 lowercase hex
//! digits, users: a hyphenated UUID) are checked on parse; contact ids come from the outside world and are
//! only checked for being non-empty text.
//!
//! Contacts: a widget visitor's public id (`v_` and 16 hex digits, derived from the secret [`VisitorToken`])
//! and a provider's contact id (Messenger PSID, WhatsApp number) fill the same `contact_id` column and play
//! the same role in a conversation, so they share one type, [`ContactId`]; the conversation's channel says
//! which kind it is.

use super::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// 32 lowercase hex digits: what [`new_id`] makes.
fn is_hex32(raw: &str) -> bool {
    raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A hyphenated lowercase UUID (`8-4-4-4-12` hex digits): what user ids are.
fn is_hyphenated_uuid(raw: &str) -> bool {
    raw.len() == 36 && uuid::Uuid::try_parse(raw).is_ok() && !raw.bytes().any(|b| b.is_ascii_uppercase())
}

/// Declares an id newtype: private field, `parse`, `as_str`, `Display`, `FromStr`, and serde as a bare string
/// (reading one validates it like `parse`).
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $valid:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// Accepts only a well-formed id; the error names what was expected.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                if $valid(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(ParseError(format!("not a {} (expected {})", stringify!($name), $what)))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(raw: &str) -> Result<Self, ParseError> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(raw: String) -> Result<Self, ParseError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

text_id!(
    /// A conversation's server id.
    ConversationId,
    "32 lowercase hex digits",
    is_hex32
);

text_id!(
    /// A stored message's server id.
    MessageId,
    "32 lowercase hex digits",
    is_hex32
);

text_id!(
    /// An API key's id (not its secret): what lists show and `DELETE` takes.
    ApiKeyId,
    "32 lowercase hex digits",
    is_hex32
);

text_id!(
    /// An outgoing webhook endpoint's id.
    WebhookEndpointId,
    "32 lowercase hex digits",
    is_hex32
);

text_id!(
    /// One delivery of one event to one webhook endpoint (the `X-Switchboard-Delivery` header).
    WebhookDeliveryId,
    "32 lowercase hex digits",
    is_hex32
);

text_id!(
    /// A dashboard user's id: the `sub` claim of their tokens.
    UserId,
    "a lowercase hyphenated UUID",
    is_hyphenated_uuid
);

/// Who a conversation is with: a widget visitor's public id (`v_…`) or a provider's contact id. The
/// provider chooses its ids, so any text is taken as it comes (there is no format to check).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactId(String);

impl ContactId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for ContactId {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

impl From<ContactId> for String {
    fn from(id: ContactId) -> Self {
        id.0
    }
}

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_id!(
    /// The secret a widget keeps to resume its conversation; never shown to dashboards.
    VisitorToken,
    "32 lowercase hex digits",
    is_hex32
);

/// A fresh opaque id (32 lowercase hex digits) for conversations, messages and visitor tokens.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl ConversationId {
    /// A fresh id for a new conversation.
    pub fn generate() -> Self {
        Self(new_id())
    }
}

impl MessageId {
    /// A fresh id for a new message: time-ordered (a UUIDv7, in the same 32 hex digits), so a commit's
    /// messages land at the end of the id index instead of on a random page each. With random ids, a
    /// shared commit of 2,000 messages rewrote about as many index pages (measured: the WAL grew by
    /// ~7 MB a commit and SQLite checkpointed after every one).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }
}

impl ApiKeyId {
    /// A fresh id for a new API key.
    pub fn generate() -> Self {
        Self(new_id())
    }
}

impl UserId {
    /// A fresh id for a new user.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The nil UUID: no user has it (ids are random v4), so it stands for "nobody in the team".
    pub fn nobody() -> Self {
        Self(uuid::Uuid::nil().to_string())
    }
}

impl VisitorToken {
    /// A fresh secret for a new visitor.
    pub fn generate() -> Self {
        Self(new_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let conversation = ConversationId::generate();
        assert_eq!(ConversationId::parse(conversation.as_str()), Ok(conversation));
        let message = MessageId::generate();
        assert_eq!(message.to_string().parse::<MessageId>(), Ok(message));
        let user = UserId::generate();
        assert_eq!(UserId::parse(user.as_str()), Ok(user));
        let token = VisitorToken::generate();
        assert_eq!(VisitorToken::parse(token.as_str()), Ok(token));
    }

    #[test]
    fn server_id_shapes_are_strict() {
        for bad in ["", "abc", &"A".repeat(32), &"g".repeat(32), &"a".repeat(33), "../../etc/passwd"] {
            assert!(ConversationId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(UserId::parse(&uuid::Uuid::new_v4().to_string().to_uppercase()).is_err());
        assert!(UserId::parse(&new_id()).is_err());
    }

    #[test]
    fn contact_ids_are_bare_strings_on_the_wire() {
        let psid = ContactId::from("1254459154682919".to_owned());
        assert_eq!(serde_json::to_value(&psid).ok(), Some(serde_json::json!("1254459154682919")));
    }

    #[test]
    fn ids_are_bare_strings_on_the_wire() {
        let id = ConversationId::generate();
        assert_eq!(serde_json::to_value(&id).ok(), Some(serde_json::Value::String(id.to_string())));
        assert_eq!(serde_json::from_value::<ConversationId>(serde_json::json!(id.as_str())).ok(), Some(id));
        assert!(serde_json::from_value::<ConversationId>(serde_json::json!("nope")).is_err());
    }
}
