//! What travels on the bus: the live events dashboards receive, named as on the wire.

use crate::domain::{Channel, Message, Sender};
use serde::{Deserialize, Serialize};

/// One live event of a license. Serialises as `{"event": "<name>", "data": {…}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", content = "data")]
pub enum Event {
    /// A message was stored (visitor, channel contact or agent).
    #[serde(rename = "message:new")]
    MessageNew {
        /// Where the conversation runs.
        channel: Channel,
        /// The stored message (carries its conversation id).
        message: Message,
    },
    /// Something happened that an activity feed shows.
    #[serde(rename = "activity:new")]
    Activity(Activity),
    /// Someone started or stopped typing.
    #[serde(rename = "typing")]
    Typing {
        /// The conversation.
        conversation_id: String,
        /// Who types.
        from: Sender,
        /// Started (true) or stopped.
        is_typing: bool,
    },
    /// Someone read up to a message.
    #[serde(rename = "read")]
    Read {
        /// The conversation.
        conversation_id: String,
        /// Who read.
        from: Sender,
        /// Highest message number read.
        seq: i64,
    },
}

/// Activity feed entries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Activity {
    /// A new conversation started.
    ConversationOpened {
        /// The conversation.
        conversation_id: String,
        /// Its channel.
        channel: Channel,
    },
    /// A closed conversation was reopened (by an agent or a new visitor message).
    ConversationReopened {
        /// The conversation.
        conversation_id: String,
    },
    /// An agent closed a conversation.
    ConversationClosed {
        /// The conversation.
        conversation_id: String,
    },
    /// A visitor's first widget connection opened.
    VisitorOnline {
        /// The visitor.
        visitor_id: String,
    },
    /// A visitor's last widget connection closed.
    VisitorOffline {
        /// The visitor.
        visitor_id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_their_wire_names() -> serde_json::Result<()> {
        let event = Event::Activity(Activity::VisitorOnline {
            visitor_id: "v1".into(),
        });
        let json = serde_json::to_value(&event)?;
        assert_eq!(json["event"], "activity:new");
        assert_eq!(json["data"]["type"], "visitor_online");
        assert_eq!(serde_json::from_value::<Event>(json)?, event);
        Ok(())
    }
}
