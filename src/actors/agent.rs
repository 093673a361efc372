//! What an agent can do to a conversation, whichever transport asked (HTTP, Socket.IO): one path.

use super::{Post, Read, Registry, RegistryError, SetAssignee, SetStatus, Typing};
use crate::bus::{Event, Notification};
use crate::domain::{
    mentions, parse_client_msg_id, parse_message_text, ConversationId, ConversationStatus, LicenseKey, Message,
    MessageKind, ParseError, Permission, Role, Sender, UserId,
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
    /// The member named is not an active member of the license.
    #[error("no such active member in this team")]
    UnknownMember,
    /// The caller's role lacks this permission.
    #[error("this needs the {} role or higher", .0.least_role().as_str())]
    NotAllowed(Permission),
}

impl From<RegistryError> for AgentError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::Store(e) => Self::Store(e),
            RegistryError::Unavailable => Self::Unavailable,
        }
    }
}

/// A team member acting on conversations, as a transport authenticated them.
#[derive(Debug, Clone)]
pub struct Teammate {
    /// Their license: every action stays inside it.
    pub license: LicenseKey,
    /// Who they are.
    pub id: UserId,
    /// What they may do.
    pub role: Role,
}

impl Teammate {
    /// The tenant's own backend acting through an API key (its scopes were checked at the edge): it
    /// answers like a member and is nobody in the team (the nil id matches no member).
    pub fn backend(license: &LicenseKey) -> Self {
        Self { license: license.clone(), id: UserId::nobody(), role: Role::Member }
    }

    /// Refuses an action their role does not allow.
    pub fn require(&self, permission: Permission) -> Result<(), AgentError> {
        if self.role.can(permission) {
            Ok(())
        } else {
            Err(AgentError::NotAllowed(permission))
        }
    }
}

/// The conversation an agent names: a malformed id is answered like an unknown one (not found), so
/// callers learn nothing about which ids exist.
pub fn agent_conversation(raw: &str) -> Result<ConversationId, AgentError> {
    ConversationId::parse(raw).map_err(|_| AgentError::NotFound)
}

/// The member an agent names; a malformed id is answered like an unknown one.
pub fn agent_member(raw: &str) -> Result<UserId, AgentError> {
    UserId::parse(raw).map_err(|_| AgentError::UnknownMember)
}

/// An agent's reply (or, with `private`, a note for the team only), checked before its conversation is
/// looked up (bad text is reported first). A reply without an author comes from the tenant's backend
/// (a bot, through an API key).
pub fn agent_message(
    author_id: Option<&UserId>,
    text: &str,
    client_msg_id: Option<&str>,
    private: bool,
) -> Result<NewMessage, AgentError> {
    Ok(NewMessage {
        sender: Sender::Agent,
        kind: if private { MessageKind::Note } else { MessageKind::Text },
        text: parse_message_text(text)?,
        client_msg_id: parse_client_msg_id(client_msg_id)?,
        author_id: author_id.cloned(),
        delivery: None,
    })
}

impl Registry {
    /// Stores an agent's reply or note (from [`agent_message`]); a reply is delivered on the
    /// conversation's channel.
    pub async fn agent_reply(
        &self,
        who: &Teammate,
        conversation_id: &ConversationId,
        message: NewMessage,
    ) -> Result<Appended, AgentError> {
        who.require(Permission::Answer)?;
        let post = Post { message, origin: None };
        let appended = self.send(&who.license, conversation_id, post).await?.ok_or(AgentError::NotFound)??;
        if appended.message.kind == MessageKind::Note && !appended.duplicate {
            self.notify_mentions(who, &appended.message).await?;
        }
        Ok(appended)
    }

    /// Sends `notification:new` to each active member a note @mentions (by e-mail or its local part).
    async fn notify_mentions(&self, who: &Teammate, note: &Message) -> Result<(), AgentError> {
        if !note.text.contains('@') {
            return Ok(());
        }
        for member in self.store().members(&who.license).await? {
            if member.id != who.id && member.status == "active" && mentions(&note.text, &member.email) {
                let notification = Notification::mentioned(&member.id, &note.conversation_id, &note.text);
                self.bus().publish(&who.license, Event::Notification(notification));
            }
        }
        Ok(())
    }

    /// Closes or reopens a conversation.
    pub async fn agent_set_status(
        &self,
        who: &Teammate,
        conversation_id: &ConversationId,
        status: ConversationStatus,
    ) -> Result<Conversation, AgentError> {
        who.require(Permission::Answer)?;
        Ok(self.send(&who.license, conversation_id, SetStatus(status)).await?.ok_or(AgentError::NotFound)??)
    }

    /// Assigns the conversation to `assignee`, or unassigns it.
    pub async fn agent_assign(
        &self,
        who: &Teammate,
        conversation_id: &ConversationId,
        assignee: Option<UserId>,
    ) -> Result<Conversation, AgentError> {
        who.require(Permission::Answer)?;
        let change = SetAssignee { assignee, by: Some(who.clone()) };
        self.send(&who.license, conversation_id, change).await?.ok_or(AgentError::NotFound)?
    }

    /// Marks the conversation read up to `seq` by the agents.
    pub async fn agent_read(
        &self,
        who: &Teammate,
        conversation_id: &ConversationId,
        seq: i64,
    ) -> Result<(), AgentError> {
        who.require(Permission::Answer)?;
        let read = Read { from: Sender::Agent, seq, origin: None };
        Ok(self.send(&who.license, conversation_id, read).await?.ok_or(AgentError::NotFound)??)
    }

    /// Shows the visitor that an agent is (or stopped) typing.
    pub async fn agent_typing(
        &self,
        who: &Teammate,
        conversation_id: &ConversationId,
        is_typing: bool,
    ) -> Result<(), AgentError> {
        who.require(Permission::Answer)?;
        let typing = Typing { from: Sender::Agent, is_typing, origin: None };
        self.send(&who.license, conversation_id, typing).await?.ok_or(AgentError::NotFound)
    }
}
