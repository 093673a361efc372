//! The other writes of a conversation: close or reopen it, assign it, read receipts, page metadata. Each runs
//! its store call as an `AtomicResponse` (or awaits it) so the live state changes only once stored.

use super::{ConversationActor, ConversationUpdate};
use crate::actors::{AgentError, Teammate};
use crate::bus::{Activity, Event, Notification};
use crate::domain::{ConversationStatus, Lead, Permission, Sender, UserId};
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
                move |stored, act, ctx| {
                    let stored = stored?.ok_or_else(|| StoreError::Corrupt("live conversation vanished".into()))?;
                    act.conversation.updated_at = stored.updated_at;
                    act.apply_status(status, true);
                    if status == ConversationStatus::Closed {
                        act.ask_rating(ctx);
                    }
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
    type Result = ResponseFuture<Result<(), StoreError>>;

    fn handle(&mut self, read: Read, ctx: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let seq = read.seq.clamp(0, self.conversation.last_seq);
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let addr = ctx.address();
        // Stored on its own task, like the auto-reply check: a future of the actor's own would stop being
        // polled while a group commit holds the mailbox (`ctx.wait`), and if it held SQLite's only
        // connection at that moment, the commit would wait for it forever.
        let stored = tokio::spawn(async move {
            store.mark_read(&license, &id, read.from, seq).await?;
            addr.do_send(ReadStored { from: read.from, seq, origin: read.origin });
            Ok(())
        });
        Box::pin(async move {
            stored.await.unwrap_or_else(|_| Err(StoreError::Corrupt("storing a read receipt stopped".into())))
        })
    }
}

/// A read receipt is stored: show it to the other side and the dashboards.
#[derive(Message)]
#[rtype(result = "()")]
struct ReadStored {
    from: Sender,
    seq: i64,
    origin: Option<u64>,
}

impl Handler<ReadStored> for ConversationActor {
    type Result = ();

    fn handle(&mut self, ReadStored { from, seq, origin }: ReadStored, _: &mut Self::Context) {
        self.note_read(from, seq);
        self.fan_out(ConversationUpdate::Read { from, seq }, origin);
        self.publish(Event::Read { conversation_id: self.conversation.id.clone(), from, seq });
    }
}

impl ConversationActor {
    /// Keeps the live snapshot's read marks: a widget resuming now is told how far the team has read.
    pub(super) fn note_read(&mut self, from: Sender, seq: i64) {
        let held = match from {
            Sender::Visitor => &mut self.conversation.visitor_read_seq,
            Sender::Agent | Sender::System => &mut self.conversation.agent_read_seq,
        };
        *held = (*held).max(seq);
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

/// Assign the conversation to a member, or unassign it (`None`). Taking it oneself or letting go of
/// one's own needs `answer`; anything touching another member's assignment needs `assign`.
#[derive(Message, Clone)]
#[rtype(result = "Result<Conversation, AgentError>")]
pub struct SetAssignee {
    /// The new assignee.
    pub assignee: Option<UserId>,
    /// Who asks; `None` is auto-assignment.
    pub by: Option<Teammate>,
}

impl Handler<SetAssignee> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Conversation, AgentError>>;

    fn handle(&mut self, change: SetAssignee, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        if let Some(by) = &change.by {
            let others = |who: &Option<UserId>| who.as_ref().is_some_and(|w| *w != by.id);
            let touches_others = others(&change.assignee) || others(&self.conversation.assignee_id);
            let needed = if touches_others { Permission::Assign } else { Permission::Answer };
            if let Err(refused) = by.require(needed) {
                return AtomicResponse::new(Box::pin(fut::ready(Err(refused))));
            }
        }
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let assignee = change.assignee.clone();
        let by = change.by.map(|t| t.id);
        AtomicResponse::new(Box::pin(
            async move { store.assign_conversation(&license, &id, assignee.as_ref()).await }.into_actor(self).map(
                move |stored, act, _| {
                    // No row: the assignee is not an active member of this license.
                    let stored = stored?.ok_or(AgentError::UnknownMember)?;
                    let changed = act.conversation.assignee_id != stored.assignee_id;
                    act.conversation.assignee_id = stored.assignee_id.clone();
                    if changed {
                        act.publish(Event::Activity(Activity::Assigned {
                            conversation_id: stored.id.clone(),
                            assignee_id: stored.assignee_id.clone(),
                            by: by.clone(),
                        }));
                        if let Some(assignee) = stored.assignee_id.as_ref().filter(|a| Some(*a) != by.as_ref()) {
                            act.publish(Event::Notification(Notification::assigned(assignee, &stored.id)));
                        }
                    }
                    Ok(act.conversation.clone())
                },
            ),
        ))
    }
}

/// The visitor sent the lead form: stored on the conversation (with its `lead_capture` webhook event),
/// then shown to the team as `activity:new` `lead_captured`. Answers the conversation as stored.
#[derive(Message, Clone)]
#[rtype(result = "Result<Conversation, StoreError>")]
pub struct CaptureLead(pub Lead);

impl Handler<CaptureLead> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Conversation, StoreError>>;

    fn handle(&mut self, CaptureLead(lead): CaptureLead, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        AtomicResponse::new(Box::pin(
            async move { store.capture_lead(&license, &id, &lead).await }.into_actor(self).map(|stored, act, _| {
                let stored = stored?.ok_or_else(|| StoreError::Corrupt("live conversation vanished".into()))?;
                act.conversation.lead = stored.lead.clone();
                act.publish(Event::Activity(Activity::LeadCaptured {
                    conversation_id: stored.id.clone(),
                    lead: stored.lead.clone().unwrap_or_default(),
                }));
                Ok(act.conversation.clone())
            }),
        ))
    }
}

/// The conversation was erased from the store (on this node or another): its watchers' sockets are told
/// and closed, and the actor stops, so no live state outlives the data.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Erase;

impl Handler<Erase> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Erase, ctx: &mut Self::Context) {
        self.fan_out(ConversationUpdate::Erased, None);
        self.watchers.clear();
        self.pending.clear();
        ctx.stop();
    }
}
