//! What travels on the bus: the live events dashboards receive, named as on the wire.

use crate::domain::{
    Availability, Channel, ContactId, ConversationId, Delivery, Message, MessageId, NotificationKind, Sender, UserId,
};
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
        conversation_id: ConversationId,
        /// Who types.
        from: Sender,
        /// Started (true) or stopped.
        is_typing: bool,
    },
    /// Someone read up to a message.
    #[serde(rename = "read")]
    Read {
        /// The conversation.
        conversation_id: ConversationId,
        /// Who read.
        from: Sender,
        /// Highest message number read.
        seq: i64,
    },
    /// The license's live numbers changed.
    #[serde(rename = "metrics:updated")]
    Metrics(Metrics),
    /// Something for the dashboard user's attention.
    #[serde(rename = "notification:new")]
    Notification(Notification),
    /// A team member's availability changed: `availability` is what the team sees (offline unless a
    /// dashboard of theirs is open somewhere, else the status they chose).
    #[serde(rename = "presence:updated")]
    PresenceUpdated {
        /// The member.
        member_id: UserId,
        /// Online, busy or offline.
        availability: Availability,
        /// Whether a dashboard socket of theirs is open on any node.
        connected: bool,
    },
    /// A session was revoked (`jti`), or every session of the license (`None`, on suspension): sockets
    /// opened with it close. Internal: never forwarded to clients.
    #[serde(rename = "session:revoked")]
    SessionRevoked {
        /// The revoked token id, or `None` for all of the license's sessions.
        jti: Option<String>,
    },
}

impl Event {
    /// Whether a socket authenticated with session `jti` must close because of this event.
    pub fn revokes(&self, jti: &str) -> bool {
        matches!(self, Self::SessionRevoked { jti: revoked } if revoked.as_deref().is_none_or(|r| r == jti))
    }

    /// Whether a dashboard of `member` should receive it (a notification may be for one member only).
    pub fn is_for(&self, member: &UserId) -> bool {
        match self {
            Self::Notification(notification) => notification.is_for(member),
            _ => true,
        }
    }

    /// The wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageNew { .. } => "message:new",
            Self::Activity(_) => "activity:new",
            Self::Typing { .. } => "typing",
            Self::Read { .. } => "read",
            Self::Metrics(_) => "metrics:updated",
            Self::Notification(_) => "notification:new",
            Self::PresenceUpdated { .. } => "presence:updated",
            Self::SessionRevoked { .. } => "session:revoked",
        }
    }
}

/// A license's live numbers, pushed on change at most once a second.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    /// Conversations not closed.
    pub open_conversations: i64,
    /// Visitors with at least one widget socket open.
    pub visitors_online: i64,
    /// Messages stored since midnight UTC.
    pub messages_today: i64,
    /// Median time from a conversation's first visitor message to the first agent answer, today.
    pub median_first_response_ms: Option<i64>,
    /// Satisfaction ratings given today.
    pub csat_responses: i64,
    /// Their average (1–5), rounded to two decimals.
    pub csat_average: Option<f64>,
    /// When the numbers were taken (epoch milliseconds).
    pub at: i64,
}

/// Something a dashboard user should notice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notification {
    /// What it is about.
    pub kind: NotificationKind,
    /// Short headline.
    pub title: String,
    /// One sentence.
    pub body: String,
    /// The conversation concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    /// The one member it is for; `None` for everyone in the license.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<UserId>,
    /// When (epoch milliseconds).
    pub at: i64,
}

impl Notification {
    /// Tells `assignee` a conversation is now theirs.
    pub fn assigned(assignee: &UserId, conversation_id: &ConversationId) -> Self {
        Self {
            kind: NotificationKind::Assigned,
            title: "Conversation assigned to you".into(),
            body: "A teammate assigned you a conversation.".into(),
            conversation_id: Some(conversation_id.clone()),
            recipient: Some(assignee.clone()),
            at: crate::domain::now_millis(),
        }
    }

    /// Tells `member` a teammate mentioned them in a note.
    pub fn mentioned(member: &UserId, conversation_id: &ConversationId, excerpt: &str) -> Self {
        Self {
            kind: NotificationKind::Mention,
            title: "You were mentioned".into(),
            body: excerpt.chars().take(140).collect(),
            conversation_id: Some(conversation_id.clone()),
            recipient: Some(member.clone()),
            at: crate::domain::now_millis(),
        }
    }

    /// Whether the member `user` should see it.
    pub fn is_for(&self, user: &UserId) -> bool {
        self.recipient.as_ref().is_none_or(|r| r == user)
    }
}

/// Activity feed entries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Activity {
    /// A new conversation started.
    ConversationOpened {
        /// The conversation.
        conversation_id: ConversationId,
        /// Its channel.
        channel: Channel,
    },
    /// A closed conversation was reopened (by an agent or a new visitor message).
    ConversationReopened {
        /// The conversation.
        conversation_id: ConversationId,
    },
    /// An agent closed a conversation.
    ConversationClosed {
        /// The conversation.
        conversation_id: ConversationId,
    },
    /// An outbound Messenger or WhatsApp message changed delivery state (`failed` means the channel gave up).
    DeliveryUpdated {
        /// The conversation.
        conversation_id: ConversationId,
        /// The message.
        message_id: MessageId,
        /// Its new state.
        delivery: Delivery,
        /// Why it failed, when it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A conversation was assigned to a member (`assignee_id`) or unassigned (`null`).
    Assigned {
        /// The conversation.
        conversation_id: ConversationId,
        /// The new assignee.
        assignee_id: Option<UserId>,
        /// Who made the change; `null` for auto-assignment.
        by: Option<UserId>,
    },
    /// The visitor rated a closed conversation.
    CsatReceived {
        /// The conversation.
        conversation_id: ConversationId,
        /// 1 to 5.
        rating: i64,
        /// What the visitor added.
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// The visitor sent the widget's lead form; `lead` is what they gave (name, email, phone, fields).
    LeadCaptured {
        /// The conversation.
        conversation_id: ConversationId,
        /// The validated answers.
        lead: serde_json::Value,
    },
    /// A contact was erased (right to deletion, or the retention period): these conversations and
    /// everything in them are gone; dashboards drop them, every node stops their live actors.
    ConversationsErased {
        /// The erased contact, when one was erased on request (`null` for retention).
        contact_id: Option<ContactId>,
        /// The conversations deleted.
        conversation_ids: Vec<ConversationId>,
    },
    /// A conversation's labels changed; `labels` is the whole new set.
    LabelsChanged {
        /// The conversation.
        conversation_id: ConversationId,
        /// Its labels now, by name.
        labels: Vec<String>,
    },
    /// The license's business hours were saved (`GET /api/team/business-hours` has them).
    BusinessHoursUpdated {},
    /// Visitors came online (their first widget connection opened) or went offline (their last one
    /// closed); a burst of them is announced once a second per license, not once per visitor.
    VisitorPresence {
        /// Visitors now online.
        online: Vec<String>,
        /// Visitors now offline.
        offline: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_their_wire_names() -> serde_json::Result<()> {
        let event = Event::Activity(Activity::VisitorPresence { online: vec!["v1".into()], offline: Vec::new() });
        let json = serde_json::to_value(&event)?;
        assert_eq!(json["event"], "activity:new");
        assert_eq!(json["data"]["type"], "visitor_presence");
        assert_eq!(serde_json::from_value::<Event>(json)?, event);
        Ok(())
    }
}
