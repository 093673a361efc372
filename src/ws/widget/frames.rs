//! The widget socket's JSON frames, both ways. Documented in the README's widget protocol table.

use crate::domain::{ConversationStatus, Message, Sender};
use serde::{Deserialize, Serialize};

/// Frame types a visitor may send.
pub const CLIENT_FRAME_TYPES: &[&str] = &["message", "typing", "read", "context", "csat", "ping"];

/// A frame from the visitor's browser.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// A chat message; `client_msg_id` makes resends idempotent.
    Message {
        /// What the visitor wrote.
        text: String,
        /// The browser's id for this message.
        client_msg_id: Option<String>,
    },
    /// The visitor started or stopped typing.
    Typing {
        /// Started (true) or stopped.
        is_typing: bool,
    },
    /// The visitor has read up to `seq`.
    Read {
        /// Highest message number shown.
        seq: i64,
    },
    /// UTM parameters and page context, stored in the conversation's metadata.
    Context {
        /// Flat JSON object.
        metadata: serde_json::Map<String, serde_json::Value>,
    },
    /// The visitor rates the closed conversation, once.
    Csat {
        /// 1 to 5.
        rating: i64,
        /// Up to 1,000 characters.
        comment: Option<String>,
    },
    /// Application-level keep-alive.
    Ping,
}

/// A frame to the visitor's browser.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// First frame: who the visitor is and where their conversation stands.
    Welcome {
        /// Secret to resume with; keep it in the browser.
        visitor_token: &'a str,
        /// Public visitor id.
        visitor_id: &'a str,
        /// The conversation, once there is one.
        conversation_id: Option<&'a str>,
        /// Its status.
        status: Option<ConversationStatus>,
        /// Highest message number in the conversation.
        last_seq: i64,
        /// Whether a team member shows `online`: live chat, or the offline form.
        agents_available: bool,
        /// Whether the team is within its business hours.
        open_now: bool,
        /// What to show while closed (empty when none is set).
        offline_message: &'a str,
        /// Whether the visitor rated the conversation already.
        rated: bool,
        /// The team has read the visitor's messages up to this number (read ticks after a reload).
        agent_read_seq: i64,
    },
    /// The visitor's message is stored.
    Ack {
        /// Server id.
        id: &'a str,
        /// Position in the conversation.
        seq: i64,
        /// The browser's id, echoed.
        client_msg_id: Option<&'a str>,
        /// The conversation (new on the first message).
        conversation_id: &'a str,
        /// Store time, epoch milliseconds.
        created_at: i64,
        /// True when this was a resend of a stored message.
        duplicate: bool,
    },
    /// A stored message, in conversation order.
    Message {
        /// Who wrote it (`agent`, or `visitor` from another tab).
        from: Sender,
        /// The message.
        #[serde(flatten)]
        message: &'a Message,
    },
    /// The agent is typing.
    Typing {
        /// Who.
        from: Sender,
        /// Started or stopped.
        is_typing: bool,
    },
    /// The agent has read up to `seq`.
    Read {
        /// Who.
        from: Sender,
        /// Highest number read.
        seq: i64,
    },
    /// The conversation was closed or reopened.
    Status {
        /// New status.
        status: ConversationStatus,
        /// Whether the visitor rated it already: a closed, unrated conversation asks for a rating.
        rated: bool,
    },
    /// The visitor's rating is stored.
    CsatSaved,
    /// Answer to `ping`.
    Pong,
    /// A frame was refused; the socket stays open.
    Error {
        /// Stable code: invalid_json, unknown_type, invalid_frame, invalid_value, rate_limited, unavailable.
        code: &'a str,
        /// What is wrong.
        message: String,
        /// The refused message's id, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
    },
}

impl ServerFrame<'_> {
    /// Serialises the frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","code":"internal","message":"frame serialisation failed: {e}"}}"#)
        })
    }
}

/// Why a frame could not be parsed: a code and a message for the error frame.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, (&'static str, String)> {
    // A good frame parses in one pass (every widget message comes through here); only a bad one pays for
    // the second, through a JSON tree, which tells bad JSON, an unknown type and a bad field apart.
    if let Ok(frame) = serde_json::from_str(text) {
        return Ok(frame);
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ("invalid_json", format!("the frame is not JSON: {e}")))?;
    let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
    if !CLIENT_FRAME_TYPES.contains(&kind.as_str()) {
        return Err((
            "unknown_type",
            format!("unknown frame type '{kind}' (expected one of {})", CLIENT_FRAME_TYPES.join(", ")),
        ));
    }
    serde_json::from_value(value).map_err(|e| ("invalid_frame", format!("invalid '{kind}' frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_frames_and_names_the_problem_otherwise() {
        assert!(matches!(
            parse_client_frame(r#"{"type":"message","text":"hi","client_msg_id":"c1"}"#),
            Ok(ClientFrame::Message { .. })
        ));
        // What the one-pass parse refuses still gets the tree's reading: a repeated key, the last one wins.
        assert!(matches!(
            parse_client_frame(r#"{"type":"message","text":"a","text":"b"}"#),
            Ok(ClientFrame::Message { text, .. }) if text == "b"
        ));
        assert_eq!(parse_client_frame("{nope").err().map(|e| e.0), Some("invalid_json"));
        assert_eq!(parse_client_frame(r#"{"type":"dance"}"#).err().map(|e| e.0), Some("unknown_type"));
        assert_eq!(parse_client_frame(r#"{"type":"message","text":5}"#).err().map(|e| e.0), Some("invalid_frame"));
    }
}
