//! What an agent can do to a conversation, whichever transport asked (HTTP, Socket.IO): one path.

use super::{Post, Read, Registry, RegistryError, SetStatus, Typing};
use crate::domain::UserId;
use crate::domain::{
    parse_client_msg_id, parse_message_text, ConversationId, ConversationStatus, LicenseKey, MessageKind, ParseError,
    Sender,
};
use crate::store::{Appended, Conversation, NewMessage, StoreError};

/// Why an agent action failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No such conversation in the agent's license.
    #[error("conversation not found")]
    NotFound,
    /// Bad input.
    #[error("{0}")]
    Invalid(#[from] ParseError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The conversation's actor is restarting.
    #[error("the conversation is restarting; retry")]
    Unavailable,
}

impl From<RegistryError> for AgentError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::Store(e) => Self::Store(e),
            RegistryError::Unavailable => Self::Unavailable,
        }
    }
}

/// The conversation an agent names: a malformed id is answered like an unknown one (not found), so
/// callers learn nothing about which ids exist.
pub fn agent_conversation(raw: &str) -> Result<ConversationId, AgentError> {
    ConversationId::parse(raw).map_err(|_| AgentError::NotFound)
}

/// An agent's reply, checked before its conversation is looked up (bad text is reported first). A reply
/// without an author comes from the tenant's backend (a bot, through an API key).
pub fn agent_message(
    author_id: Option<&UserId>,
    text: &str,
    client_msg_id: Option<&str>,
) -> Result<NewMessage, AgentError> {
    Ok(NewMessage {
        sender: Sender::Agent,
        kind: MessageKind::Text,
        text: parse_message_text(text)?,
        client_msg_id: parse_client_msg_id(client_msg_id)?,
        author_id: author_id.cloned(),
        delivery: None,
    })
}

impl Registry {
    /// Stores an agent's reply (from [`agent_message`]) and delivers it on the conversation's channel.
    pub async fn agent_reply(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        message: NewMessage,
    ) -> Result<Appended, AgentError> {
        let post = Post { message, origin: None };
        Ok(self.send(license, conversation_id, post).await?.ok_or(AgentError::NotFound)??)
    }

    /// Closes or reopens a conversation.
    pub async fn agent_set_status(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        status: ConversationStatus,
    ) -> Result<Conversation, AgentError> {
        Ok(self.send(license, conversation_id, SetStatus(status)).await?.ok_or(AgentError::NotFound)??)
    }

    /// Marks the conversation read up to `seq` by the agents.
    pub async fn agent_read(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        seq: i64,
    ) -> Result<(), AgentError> {
        let read = Read { from: Sender::Agent, seq, origin: None };
        Ok(self.send(license, conversation_id, read).await?.ok_or(AgentError::NotFound)??)
    }

    /// Shows the visitor that an agent is (or stopped) typing.
    pub async fn agent_typing(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        is_typing: bool,
    ) -> Result<(), AgentError> {
        let typing = Typing { from: Sender::Agent, is_typing, origin: None };
        self.send(license, conversation_id, typing).await?.ok_or(AgentError::NotFound)
    }
}
