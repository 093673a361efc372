//! The other writes of a conversation: close or reopen it, read receipts, page metadata. Each runs
//! its store call as an `AtomicResponse` (or awaits it) so the live state changes only once stored.

use super::{ConversationActor, ConversationUpdate};
use crate::bus::Event;
use crate::domain::{ConversationStatus, Sender};
use crate::store::{Conversation, StoreError};
use actix::prelude::*;
use std::time::Instant;

/// Close or reopen the conversation. Answers with its new state.
#[derive(Message, Clone)]
#[rtype(result = "Result<Conversation, StoreError>")]
pub struct SetStatus(pub ConversationStatus);

impl Handler<SetStatus> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Conversation, StoreError>>;

    fn handle(&mut self, SetStatus(status): SetStatus, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        AtomicResponse::new(Box::pin(
            async move { store.set_conversation_status(&license, &id, status).await }.into_actor(self).map(
                move |stored, act, _| {
                    let stored = stored?.ok_or_else(|| StoreError::Corrupt("live conversation vanished".into()))?;
                    act.conversation.updated_at = stored.updated_at;
                    act.apply_status(status, true);
                    Ok(act.conversation.clone())
                },
            ),
        ))
    }
}

/// A read receipt: stored as the reader's mark and shown to the other side.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Read {
    /// Who read.
    pub from: Sender,
    /// Highest number read.
    pub seq: i64,
    /// The socket it came from.
    pub origin: Option<u64>,
}

impl Handler<Read> for ConversationActor {
    type Result = ResponseActFuture<Self, Result<(), StoreError>>;

    fn handle(&mut self, read: Read, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let seq = read.seq.clamp(0, self.conversation.last_seq);
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        Box::pin(async move { store.mark_read(&license, &id, read.from, seq).await }.into_actor(self).map(
            move |stored, act, _| {
                stored?;
                act.fan_out(ConversationUpdate::Read { from: read.from, seq }, read.origin);
                act.publish(Event::Read { conversation_id: act.conversation.id.clone(), from: read.from, seq });
                Ok(())
            },
        ))
    }
}

/// Adds UTM parameters and page context to the conversation's metadata.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct MergeMetadata(pub serde_json::Map<String, serde_json::Value>);

impl Handler<MergeMetadata> for ConversationActor {
    type Result = AtomicResponse<Self, Result<(), StoreError>>;

    fn handle(&mut self, MergeMetadata(fields): MergeMetadata, _: &mut Self::Context) -> Self::Result {
        let mut merged = match &self.conversation.metadata {
            serde_json::Value::Object(existing) => existing.clone(),
            _ => serde_json::Map::new(),
        };
        merged.extend(fields);
        let merged = serde_json::Value::Object(merged);
        self.conversation.metadata = merged.clone();
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        AtomicResponse::new(Box::pin(
            async move { store.set_conversation_metadata(&license, &id, &merged).await }.into_actor(self),
        ))
    }
}
