//! Group commit: posted messages queue up and one `Flush` hands them to the node's shared writer
//! ([`super::writer`]), which commits them with other conversations' batches in one transaction; the
//! flush waits under `ctx.wait`, so nothing else reaches the actor until the batch is stored and shown.

use super::ConversationActor;
use crate::domain::{Channel, Delivery, Message, MessageKind, Sender};
use crate::store::{Appended, ConversationAppend, NewMessage, StoreError, StoreResult};
use actix::prelude::*;
use std::time::Instant;
use tokio::sync::oneshot;

/// Most messages written in one transaction.
const MAX_BATCH: usize = 256;

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
pub(super) struct Pending {
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
        let outbound = post.message.sender != Sender::Visitor && post.message.kind != MessageKind::Note;
        if outbound && self.conversation.channel != Channel::Widget {
            // Goes out through the provider after the store has it (never a private note): agent
            // replies and the server's own messages (the out-of-hours auto-reply).
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
        metrics::histogram!(crate::telemetry::COMMIT_QUEUE).record(self.pending.len() as f64);
        let batch: Vec<Pending> = self.pending.drain(..take).collect();
        if !self.pending.is_empty() {
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
        let store = self.store.clone();
        let writer = self.writer.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let known = self.conversation.last_seq;
        let messages: Vec<NewMessage> = batch.iter().map(|p| p.post.message.clone()).collect();
        let reopen = messages.iter().any(|m| m.sender == Sender::Visitor);
        let channel = self.conversation.channel;
        let append = ConversationAppend { license: license.clone(), conversation_id: id.clone(), messages, reopen };
        let write = async move {
            let appended = writer.append(append).await.inspect_err(count_store_error)?;
            for stored in &appended {
                match stored {
                    Ok(stored) if !stored.duplicate => metrics::counter!(
                        crate::telemetry::MESSAGES_STORED,
                        "channel" => channel.as_str(),
                        "sender" => stored.message.sender.as_str()
                    )
                    .increment(1),
                    Ok(_) => {}
                    Err(err) => count_store_error(err),
                }
            }
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
            move |written: Result<(Vec<StoreResult<Appended>>, Vec<Message>), StoreError>, act, ctx| match written {
                Ok((appended, gap)) => {
                    for earlier in &gap {
                        act.show(earlier, None);
                    }
                    let mut visitor_wrote = false;
                    for (pending, appended) in batch.into_iter().zip(appended) {
                        if let Ok(appended) = &appended {
                            if !appended.duplicate {
                                visitor_wrote |= appended.message.sender == Sender::Visitor;
                                act.after_append(&appended.message, pending.post.origin);
                            }
                        }
                        let _ = pending.reply.send(appended);
                    }
                    if visitor_wrote {
                        ctx.notify(super::auto_reply::CheckHours);
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

/// Answers once every write queued before it is stored: writes run under `ctx.wait`, which holds the
/// mailbox, so the answer cannot overtake them. Shutdown uses it to settle pending group commits.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Settle;

impl Handler<Settle> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Settle, ctx: &mut Self::Context) {
        if !self.pending.is_empty() && !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
    }
}

/// Counts a failed store call by its kind.
fn count_store_error(err: &StoreError) {
    let kind = match err {
        StoreError::Unavailable { .. } => "unavailable",
        StoreError::Duplicate => "duplicate",
        StoreError::LicenseSuspended | StoreError::InvalidValue(_) => "refused",
        _ => "other",
    };
    metrics::counter!(crate::telemetry::STORE_ERRORS, "kind" => kind).increment(1);
}
