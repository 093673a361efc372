//! `ConversationActor`: the single writer of one conversation, and what its watchers see.
//!
//! Ordering: posted messages queue up and one `Flush` writes them as a batch; the flush runs its store
//! write under `ctx.wait`, which holds back every other message of the actor until the batch is stored
//! and shown. So the order the store numbers messages in is the order watchers see them, and a status
//! change or a remote event never slips between a write and its fan-out.
//!
//! - [`commit`]: posting and the group commit (`Post`, `Flush`).
//! - [`writer`]: the node's shared writer, which commits many conversations' batches in one transaction.
//! - [`changes`]: the other writes (status, read receipts, metadata).
//! - [`csat`]: satisfaction ratings, and the question Messenger and WhatsApp contacts get on close.
//! - [`watchers`]: widget sockets watching, and typing.
//! - [`remote`]: other nodes' events, with gap filling from the store.

mod auto_reply;
mod changes;
mod commit;
mod csat;
mod opener;
mod remote;
mod watchers;
mod writer;

pub use changes::{CaptureLead, Erase, MergeMetadata, Read, SetAssignee, SetStatus};
pub use commit::{Post, Settle};
pub use csat::{Rate, RateReply};
pub use opener::SharedOpener;
pub use remote::Remote;
pub use watchers::{Typing, Unwatch, Watch};
pub use writer::SharedWriter;

use super::registry::Registry;
use super::{Destination, Dispatch};
use crate::bus::{Activity, Event, SharedBus};
use crate::domain::{ConversationStatus, Delivery, Message, Sender};
use crate::store::{Conversation, Store};
use actix::prelude::*;
use commit::Pending;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Updates a watcher can fall behind by before it is cut off as a slow consumer.
pub const WATCHER_QUEUE: usize = 256;

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
    /// The conversation was erased: the socket closes, the visitor's data is gone.
    Erased,
    /// The conversation was closed or reopened; `rated` says whether the visitor has rated it.
    Status {
        /// Open or closed.
        status: ConversationStatus,
        /// Whether it carries a satisfaction rating already.
        rated: bool,
    },
}

/// The live state of one conversation.
pub struct ConversationActor {
    conversation: Conversation,
    store: Store,
    writer: SharedWriter,
    bus: SharedBus,
    dispatch: Arc<dyn Dispatch>,
    registry: Registry,
    watchers: HashMap<u64, flume::Sender<ConversationUpdate>>,
    pending: VecDeque<Pending>,
    flush_scheduled: bool,
    last_active: Instant,
    idle_after: Duration,
    /// The license's business hours, as last read (for the auto-reply).
    hours: auto_reply::CachedHours,
}

impl ConversationActor {
    /// An actor for `conversation`, as loaded from the store.
    pub fn new(conversation: Conversation, registry: Registry, idle_after: Duration) -> Self {
        Self {
            conversation,
            store: registry.store().clone(),
            writer: registry.writer().clone(),
            bus: registry.bus().clone(),
            dispatch: registry.dispatch().clone(),
            registry,
            watchers: HashMap::new(),
            pending: VecDeque::new(),
            flush_scheduled: false,
            last_active: Instant::now(),
            idle_after,
            hours: None,
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
                Err(flume::TrySendError::Full(_)) => {
                    tracing::info!(watcher = id, "widget socket too slow; disconnecting it");
                    false
                }
                Err(flume::TrySendError::Disconnected(_)) => false,
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
        self.registry.note_stored();
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
        let rated = self.conversation.csat_rating.is_some();
        self.fan_out(ConversationUpdate::Status { status, rated }, None);
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
        metrics::gauge!(crate::telemetry::ACTORS_LIVE, "kind" => "conversation").increment(1.0);
        let check_every = (self.idle_after / 2).max(Duration::from_millis(200));
        ctx.run_interval(check_every, |act, ctx| {
            act.watchers.retain(|_, tx| !tx.is_disconnected());
            if act.watchers.is_empty() && act.pending.is_empty() && act.last_active.elapsed() >= act.idle_after {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!(crate::telemetry::ACTORS_LIVE, "kind" => "conversation").decrement(1.0);
        self.registry.forget_conversation(&self.conversation.id, &ctx.address());
    }
}
