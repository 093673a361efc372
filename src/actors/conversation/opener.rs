//! The shared opener: one per node, it writes the conversations asked for meanwhile in one commit.
//!
//! A conversation's row is written before its first message is (its actor is spawned from the row). Alone,
//! each was a transaction of its own, on SQLite a sync of the journal each, one after another: a burst of
//! new visitors (a campaign link, or a load test's 8,000 visitors all writing in the same second) queued
//! on the pool until some waited past its timeout and were refused. While a commit is in flight, requests
//! queue, and the next commit writes all of them, like [`super::SharedWriter`] does for messages; up to
//! [`Store::parallel_commits`] run at once. Alone, a request is committed at once.

use crate::store::{Conversation, NewConversation, Store, StoreError, StoreResult};
use actix::ArbiterHandle;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most conversations in one commit: a commit is a statement or two each, and the requests behind it wait.
const MAX_OPENED: usize = 256;
/// Requests waiting for the opener; beyond it, senders wait for room (none is dropped).
const QUEUE: usize = 4096;

/// A conversation waiting for the next commit.
struct Request {
    new: NewConversation,
    reply: oneshot::Sender<StoreResult<Conversation>>,
}

/// A cheap-to-clone handle on the node's shared opener.
#[derive(Clone)]
pub struct SharedOpener {
    queue: mpsc::Sender<Request>,
}

impl SharedOpener {
    /// Starts the opener on `arbiter`; it stops once every handle is dropped and its queue is written.
    pub fn start(store: Store, arbiter: &ArbiterHandle) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        arbiter.spawn(run(store, requests));
        Self { queue }
    }

    /// Writes `new` in the next commit; answers once that commit is done ([`StoreError::Duplicate`]
    /// when its visitor already has a conversation).
    pub async fn open(&self, new: NewConversation) -> StoreResult<Conversation> {
        ask(&self.queue, |reply| Request { new, reply }, "opener").await
    }
}

/// Queues the request `with` makes around a reply channel and waits for the answer; an error naming the
/// shared `task` if it stopped first.
pub(super) async fn ask<R, A>(
    queue: &mpsc::Sender<R>,
    with: impl FnOnce(oneshot::Sender<StoreResult<A>>) -> R,
    task: &str,
) -> StoreResult<A> {
    let stopped = || StoreError::Corrupt(format!("the shared {task} stopped before storing"));
    let (reply, answer) = oneshot::channel();
    if queue.send(with(reply)).await.is_err() {
        return Err(stopped());
    }
    answer.await.unwrap_or_else(|_| Err(stopped()))
}

/// The opener's loop: once a lane is free, take every queued request (up to [`MAX_OPENED`]) and commit
/// them together on that lane.
async fn run(store: Store, mut requests: mpsc::Receiver<Request>) {
    let lanes = Arc::new(Semaphore::new(store.parallel_commits()));
    loop {
        let Ok(lane) = lanes.clone().acquire_owned().await else { return };
        let mut batch = Vec::new();
        if requests.recv_many(&mut batch, MAX_OPENED).await == 0 {
            return;
        }
        let store = store.clone();
        tokio::spawn(async move {
            let (news, replies): (Vec<NewConversation>, Vec<_>) = batch.into_iter().map(|r| (r.new, r.reply)).unzip();
            for (reply, answer) in replies.into_iter().zip(commit(&store, &news).await) {
                let _ = reply.send(answer);
            }
            drop(lane);
        });
    }
}

/// Writes `news` in one transaction; if that fails for a reason other than an outage, each on its own,
/// so one that the engine refuses fails alone.
async fn commit(store: &Store, news: &[NewConversation]) -> Vec<StoreResult<Conversation>> {
    let err = match store.create_conversations(news).await {
        Ok(answers) => return answers,
        Err(err) => err,
    };
    if news.len() == 1 {
        return vec![Err(err)];
    }
    if matches!(err, StoreError::Unavailable { .. }) {
        return news.iter().map(|_| Err(err.for_another_waiter())).collect();
    }
    tracing::warn!(%err, conversations = news.len(), "a shared open failed; opening each conversation alone");
    let mut answers = Vec::with_capacity(news.len());
    for new in news {
        answers.push(match store.create_conversations(std::slice::from_ref(new)).await {
            Ok(mut answer) => {
                answer.pop().unwrap_or_else(|| Err(StoreError::Corrupt("an open answered nothing".into())))
            }
            Err(err) => Err(err),
        });
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, ContactId, Product, Tier, VisitorToken};
    use crate::store::{test_stores, NewLicense};

    /// Every visitor opens twice, all at once: the opens share commits, each is answered, and each
    /// visitor gets exactly one conversation (its other open answered `Duplicate`, in the same commit
    /// or a later one), the one the store finds by its token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_opens_are_each_answered_and_a_visitor_gets_one_conversation() -> anyhow::Result<()> {
        for (engine, store) in test_stores().await? {
            let new_license =
                NewLicense { email: "o@example.com".into(), products: vec![Product::Chatbot], tier: Tier::Enterprise };
            let license = store.create_license(&new_license).await?.license_key;
            let (queue, requests) = mpsc::channel(QUEUE);
            tokio::spawn(run(store.clone(), requests));
            let opener = SharedOpener { queue };
            let tokens: Vec<VisitorToken> = (0..300).map(|_| VisitorToken::generate()).collect();
            let open = |token: &VisitorToken| {
                opener.open(NewConversation {
                    license: license.clone(),
                    channel: Channel::Widget,
                    contact_id: ContactId::from(format!("v-{}", token.as_str())),
                    visitor_token: Some(token.clone()),
                    metadata: serde_json::json!({}),
                })
            };
            let answers = futures_util::future::join_all(tokens.iter().chain(&tokens).map(open)).await;
            let (firsts, seconds) = answers.split_at(tokens.len());
            for ((token, first), second) in tokens.iter().zip(firsts).zip(seconds) {
                let opened = match (first, second) {
                    (Ok(opened), Err(StoreError::Duplicate)) | (Err(StoreError::Duplicate), Ok(opened)) => opened,
                    other => panic!("{engine}: one open stores the conversation, the other is a duplicate: {other:?}"),
                };
                let stored = store.conversation_by_visitor(&license, token).await?;
                assert_eq!(stored.map(|c| c.id), Some(opened.id.clone()), "{engine}");
            }
        }
        Ok(())
    }
}
