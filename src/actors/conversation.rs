//! `ConversationActor`: the single writer of one conversation. It handles one message at a time
//! (`AtomicResponse`), so the order the store numbers messages in is the order watchers see them.

use super::registry::Registry;
use super::{Destination, Dispatch};
use crate::bus::{Activity, Event, SharedBus};
use crate::domain::{Channel, ConversationStatus, Delivery, LicenseKey, Message, Sender};
use crate::store::{Appended, Conversation, NewMessage, Store, StoreError, StoreResult};
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Updates a watcher can fall behind by before it is cut off as a slow consumer.
pub const WATCHER_QUEUE: usize = 256;

/// Most messages written in one transaction.
const MAX_BATCH: usize = 256;

/// What a watching widget socket receives.
#[derive(Debug, Clone)]
pub enum ConversationUpdate {
    /// A stored message from someone else.
    Message(Arc<Message>),
    /// The other side is typing.
    Typing {
        /// Who.
        from: Sender,
        /// Started or stopped.
        is_typing: bool,
    },
    /// The other side read up to `seq`.
    Read {
        /// Who.
        from: Sender,
        /// Highest number read.
        seq: i64,
    },
    /// The conversation was closed or reopened.
    Status(ConversationStatus),
}

/// The live state of one conversation.
pub struct ConversationActor {
    conversation: Conversation,
    store: Store,
    bus: SharedBus,
    dispatch: Arc<dyn Dispatch>,
    registry: Registry,
    watchers: HashMap<u64, mpsc::Sender<ConversationUpdate>>,
    pending: VecDeque<Pending>,
    flush_scheduled: bool,
    last_active: Instant,
    idle_after: Duration,
}

impl ConversationActor {
    /// An actor for `conversation`, as loaded from the store.
    pub fn new(conversation: Conversation, registry: Registry, idle_after: Duration) -> Self {
        Self {
            conversation,
            store: registry.store().clone(),
            bus: registry.bus().clone(),
            dispatch: registry.dispatch().clone(),
            registry,
            watchers: HashMap::new(),
            pending: VecDeque::new(),
            flush_scheduled: false,
            last_active: Instant::now(),
            idle_after,
        }
    }

    /// Sends `update` to every watcher but `except`; a watcher whose queue is full is dropped,
    /// which closes its socket with a "too slow" reason instead of buffering without bound.
    fn fan_out(&mut self, update: ConversationUpdate, except: Option<u64>) {
        self.watchers.retain(|id, tx| {
            if Some(*id) == except {
                return true;
            }
            match tx.try_send(update.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(watcher = id, "widget socket too slow; disconnecting it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    fn publish(&self, event: Event) {
        self.bus.publish(&self.conversation.license_key, event);
    }

    /// Shows watchers a stored message if it is the next one, keeping their view in conversation order.
    /// Returns false for one they have already seen.
    fn show(&mut self, message: &Message, origin: Option<u64>) -> bool {
        if message.seq <= self.conversation.last_seq {
            return false;
        }
        self.conversation.last_seq = message.seq;
        self.conversation.updated_at = message.created_at;
        if message.sender == Sender::Visitor {
            self.apply_status(ConversationStatus::Open, false);
        }
        self.fan_out(ConversationUpdate::Message(Arc::new(message.clone())), origin);
        true
    }

    /// After this node stored `message`: show it, announce it on the bus and, for Messenger/WhatsApp,
    /// send it out.
    fn after_append(&mut self, message: &Message, origin: Option<u64>) {
        if message.sender == Sender::Visitor && self.conversation.status == ConversationStatus::Closed {
            self.apply_status(ConversationStatus::Open, true);
        }
        self.show(message, origin);
        self.publish(Event::MessageNew { channel: self.conversation.channel, message: message.clone() });
        if message.delivery == Some(Delivery::Pending) {
            self.dispatch.dispatch(Destination::of(&self.conversation), message.clone());
        }
    }

    /// Moves to `status`, telling watchers and, when this node made the change, the bus.
    fn apply_status(&mut self, status: ConversationStatus, announce: bool) {
        if self.conversation.status == status {
            return;
        }
        self.conversation.status = status;
        self.fan_out(ConversationUpdate::Status(status), None);
        if announce {
            let conversation_id = self.conversation.id.clone();
            self.publish(Event::Activity(match status {
                ConversationStatus::Open => Activity::ConversationReopened { conversation_id },
                ConversationStatus::Closed => Activity::ConversationClosed { conversation_id },
            }));
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let check_every = (self.idle_after / 2).max(Duration::from_millis(200));
        ctx.run_interval(check_every, |act, ctx| {
            act.watchers.retain(|_, tx| !tx.is_closed());
            if act.watchers.is_empty() && act.pending.is_empty() && act.last_active.elapsed() >= act.idle_after {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.registry.forget_conversation(&self.conversation.id, &ctx.address());
    }
}

/// Store and deliver a message. Answers with the stored message (or the earlier copy of a resend).
#[derive(Message, Clone)]
#[rtype(result = "Result<Appended, StoreError>")]
pub struct Post {
    /// The message.
    pub message: NewMessage,
    /// The socket it came from, which gets an ack instead of an echo.
    pub origin: Option<u64>,
}

/// A posted message waiting for the next group commit, and who waits for its answer.
struct Pending {
    post: Post,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Writes the queued messages: everything posted while the previous write was in flight goes in one
/// transaction (group commit), so a busy conversation pays one commit per batch, not per message.
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

impl Handler<Post> for ConversationActor {
    type Result = ResponseFuture<Result<Appended, StoreError>>;

    fn handle(&mut self, mut post: Post, ctx: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        if post.message.sender == Sender::Agent && self.conversation.channel != Channel::Widget {
            // Goes out through the provider after the store has it.
            post.message.delivery = Some(Delivery::Pending);
        }
        let (reply, answer) = oneshot::channel();
        self.pending.push_back(Pending { post, reply });
        if !self.flush_scheduled {
            // Queued behind the messages already in the mailbox, so they join this batch.
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| Err(StoreError::Corrupt("the conversation stopped before storing".into())))
        })
    }
}

impl Handler<Flush> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) {
        self.flush_scheduled = false;
        let take = self.pending.len().min(MAX_BATCH);
        if take == 0 {
            return;
        }
        let batch: Vec<Pending> = self.pending.drain(..take).collect();
        if !self.pending.is_empty() {
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let known = self.conversation.last_seq;
        let messages: Vec<NewMessage> = batch.iter().map(|p| p.post.message.clone()).collect();
        let reopen = messages.iter().any(|m| m.sender == Sender::Visitor);
        let write = async move {
            let appended = commit(&store, &license, &id, &messages, reopen).await?;
            // Another node may have stored messages since we last looked: fetch them so watchers
            // see the conversation in the store's order.
            let first_new = appended.iter().flatten().filter(|a| !a.duplicate).map(|a| a.message.seq).min();
            let gap = match first_new {
                Some(first) if first > known + 1 => {
                    store.messages_after(&license, &id, known, first - known - 1).await?
                }
                _ => Vec::new(),
            };
            Ok((appended, gap))
        };
        // The mailbox waits for the write, so everything after it sees the new state.
        ctx.wait(write.into_actor(self).map(
            move |written: Result<(Vec<StoreResult<Appended>>, Vec<Message>), StoreError>, act, _| match written {
                Ok((appended, gap)) => {
                    for earlier in &gap {
                        act.show(earlier, None);
                    }
                    for (pending, appended) in batch.into_iter().zip(appended) {
                        if let Ok(appended) = &appended {
                            if !appended.duplicate {
                                act.after_append(&appended.message, pending.post.origin);
                            }
                        }
                        let _ = pending.reply.send(appended);
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, conversation = %act.conversation.id, "storing a batch failed");
                    for pending in batch {
                        let _ = pending.reply.send(Err(err.for_another_waiter()));
                    }
                }
            },
        ));
    }
}

/// Stores a batch in one transaction. If the batch fails for a reason tied to its content (not an
/// outage, not a suspended license), each message is stored on its own, in order, so one bad message
/// fails alone and its neighbours are still stored. `Err` only when nothing could be tried.
async fn commit(
    store: &Store,
    license: &LicenseKey,
    id: &str,
    messages: &[NewMessage],
    reopen: bool,
) -> StoreResult<Vec<StoreResult<Appended>>> {
    let vanished = || StoreError::Corrupt("live conversation vanished".into());
    match store.append_messages(license, id, messages, reopen).await {
        Ok(appended) => Ok(appended.ok_or_else(vanished)?.into_iter().map(Ok).collect()),
        Err(err @ (StoreError::Unavailable(_) | StoreError::LicenseSuspended)) => Err(err),
        Err(err) if messages.len() == 1 => Ok(vec![Err(err)]),
        Err(err) => {
            tracing::warn!(%err, conversation = id, "a batch failed; storing its messages one by one");
            let mut answers = Vec::with_capacity(messages.len());
            for message in messages {
                let one = store.append_messages(license, id, std::slice::from_ref(message), reopen).await;
                answers.push(match one {
                    Ok(Some(mut appended)) => appended.pop().ok_or_else(vanished),
                    Ok(None) => Err(vanished()),
                    Err(err) => Err(err),
                });
            }
            Ok(answers)
        }
    }
}

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

/// Someone is typing; goes to the other side, not to the store.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Typing {
    /// Who types.
    pub from: Sender,
    /// Started or stopped.
    pub is_typing: bool,
    /// The socket it came from.
    pub origin: Option<u64>,
}

impl Handler<Typing> for ConversationActor {
    type Result = ();

    fn handle(&mut self, typing: Typing, _: &mut Self::Context) {
        self.last_active = Instant::now();
        self.fan_out(ConversationUpdate::Typing { from: typing.from, is_typing: typing.is_typing }, typing.origin);
        self.publish(Event::Typing {
            conversation_id: self.conversation.id.clone(),
            from: typing.from,
            is_typing: typing.is_typing,
        });
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

/// A widget socket starts receiving this conversation's updates. Answers with the current state.
#[derive(Message, Clone)]
#[rtype(result = "Conversation")]
pub struct Watch {
    /// The socket.
    pub socket_id: u64,
    /// Its bounded queue.
    pub tx: mpsc::Sender<ConversationUpdate>,
}

impl Handler<Watch> for ConversationActor {
    type Result = MessageResult<Watch>;

    fn handle(&mut self, watch: Watch, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        self.watchers.insert(watch.socket_id, watch.tx);
        MessageResult(self.conversation.clone())
    }
}

/// A widget socket went away.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Unwatch(pub u64);

impl Handler<Unwatch> for ConversationActor {
    type Result = ();

    fn handle(&mut self, Unwatch(socket_id): Unwatch, _: &mut Self::Context) {
        self.last_active = Instant::now();
        self.watchers.remove(&socket_id);
    }
}

/// An event another node published about this conversation.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Remote(pub Event);

impl Handler<Remote> for ConversationActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, Remote(event): Remote, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let message = match event {
            Event::MessageNew { message, .. } => message,
            Event::Typing { from, is_typing, .. } => {
                self.fan_out(ConversationUpdate::Typing { from, is_typing }, None);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Read { from, seq, .. } => {
                self.fan_out(ConversationUpdate::Read { from, seq }, None);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Activity(Activity::ConversationClosed { .. }) => {
                self.apply_status(ConversationStatus::Closed, false);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Activity(Activity::ConversationReopened { .. }) => {
                self.apply_status(ConversationStatus::Open, false);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            _ => return AtomicResponse::new(Box::pin(fut::ready(()))),
        };
        if message.seq <= self.conversation.last_seq + 1 {
            self.show(&message, None);
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        // Messages before this one have not reached us yet: read them from the store, in order.
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let known = self.conversation.last_seq;
        AtomicResponse::new(Box::pin(
            async move { store.messages_after(&license, &id, known, message.seq - known).await }.into_actor(self).map(
                |fetched, act, _| match fetched {
                    Ok(messages) => {
                        for message in &messages {
                            act.show(message, None);
                        }
                    }
                    Err(err) => tracing::warn!(%err, "could not fill a gap in a conversation"),
                },
            ),
        ))
    }
}
