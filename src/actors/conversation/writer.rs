//! The shared writer: one per node, it commits the batches of every conversation actor together.
//!
//! Each conversation actor gathers what was posted to it while its previous write was in flight; with
//! many conversations of a message or two each, that alone was still a transaction per message. The
//! writer gathers across conversations the same way: while one commit is in flight the next batches
//! queue, and the next commit writes all of them in one transaction ([`Store::append_shared`]), at a
//! fixed number of statements. Each requester is answered after that commit, so acks still follow
//! durability, and each conversation keeps its order because its actor waits for the answer before it
//! sends the next batch.

use crate::domain::ConversationId;
use crate::store::{AppendOutcome, Appended, ConversationAppend, Store, StoreError, StoreResult};
use actix::ArbiterHandle;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

/// Most messages in one shared commit: keeps every statement well under the engines' parameter limits
/// and a commit short enough that the batches queued behind it wait little.
const MAX_SHARED_MESSAGES: usize = 2048;
/// What a commit that would run beside another gathers before it starts ([`fill`]).
const SECOND_LANE_MESSAGES: usize = 128;
/// The longest a commit that would run beside another waits to fill up ([`fill`]).
const SECOND_LANE_WAIT: Duration = Duration::from_millis(6);
/// Batches waiting for the writer. A conversation has at most one at a time, so only a burst of more
/// live conversations than this makes senders wait for room (never drops one).
const QUEUE: usize = 4096;

/// A batch's answers, one per message in order, or why none of it was stored.
pub(super) type BatchAnswer = StoreResult<Vec<StoreResult<Appended>>>;

/// A conversation's batch waiting for the next shared commit.
struct Request {
    append: ConversationAppend,
    reply: oneshot::Sender<BatchAnswer>,
}

/// A cheap-to-clone handle on the node's shared writer.
#[derive(Clone)]
pub struct SharedWriter {
    queue: mpsc::Sender<Request>,
}

impl SharedWriter {
    /// Starts the writer on SQLite's writer thread (where its commits then run without a hand-off between
    /// threads), or on `arbiter` (PostgreSQL); it stops once every handle is dropped and its queue is
    /// written.
    pub fn start(store: Store, arbiter: &ArbiterHandle) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        if let Err(lane) = store.clone().spawn_on_writer(run(store, requests)) {
            arbiter.spawn(lane);
        }
        Self { queue }
    }

    /// Stores `append` in the next shared commit; answers once that commit is done.
    pub(super) async fn append(&self, append: ConversationAppend) -> BatchAnswer {
        super::opener::ask(&self.queue, |reply| Request { append, reply }, "writer").await
    }
}

/// The writer's loop: wait for a batch, gather every batch queued meanwhile, commit them together.
/// Up to [`Store::parallel_commits`] commits run at once (each on its own connection, each over other
/// conversations); while all are busy, batches queue and the next commit to start takes them all. A
/// commit that would run beside another first fills up ([`fill`]).
async fn run(store: Store, mut requests: mpsc::Receiver<Request>) {
    let lanes = Lanes::new(store.parallel_commits());
    let mut held_over = Vec::new();
    loop {
        let Ok(lane) = lanes.free.clone().acquire_owned().await else { return };
        if held_over.is_empty() {
            match requests.recv().await {
                Some(first) => held_over.push(first),
                None => return,
            }
        }
        fill(&mut held_over, &mut requests, &lanes).await;
        let (batch, rest) = gather(std::mem::take(&mut held_over), &mut requests);
        held_over = rest;
        let (store, finished) = (store.clone(), lanes.finished.clone());
        tokio::spawn(async move {
            commit_and_answer(&store, batch).await;
            drop(lane);
            finished.notify_waiters();
        });
    }
}

/// The commit lanes: how many, which are free, and a signal each time a commit ends.
struct Lanes {
    count: usize,
    free: Arc<Semaphore>,
    finished: Arc<Notify>,
}

impl Lanes {
    fn new(count: usize) -> Self {
        Self { count, free: Arc::new(Semaphore::new(count)), finished: Arc::new(Notify::new()) }
    }

    /// Whether a commit other than the one starting (which holds its lane) is in flight.
    fn another_in_flight(&self) -> bool {
        self.free.available_permits() + 1 < self.count
    }
}

/// While another commit is in flight, lets the one starting gather until it holds
/// [`SECOND_LANE_MESSAGES`], the others are done, or [`SECOND_LANE_WAIT`] passed. A commit's cost is
/// mostly per commit, not per message: at 10,000 widget messages a second on PostgreSQL, two lanes each
/// starting the moment they were free ran ~3,200 commits of ~60 messages and PostgreSQL used 17.5–17.9
/// CPU-s for 200,000 messages, ack p99 62–101 ms; filling first, 14.2–15.6 CPU-s, p99 39–63 ms, p50 the
/// same (issue 14). A commit with no other in flight starts at once, so a quiet node adds no wait; on
/// SQLite (one lane) this never waits.
async fn fill(held: &mut Vec<Request>, requests: &mut mpsc::Receiver<Request>, lanes: &Lanes) {
    let deadline = tokio::time::Instant::now() + SECOND_LANE_WAIT;
    let mut queued: usize = held.iter().map(|r| r.append.messages.len()).sum();
    while queued < SECOND_LANE_MESSAGES {
        // Made before the check, so an end notified between the two still wakes it.
        let finished = lanes.finished.notified();
        if !lanes.another_in_flight() {
            return;
        }
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) => {
                    queued += request.append.messages.len();
                    held.push(request);
                }
                None => return,
            },
            () = finished => {}
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

/// The next shared commit: `waiting` (held over from the last round, in order), then whatever is queued,
/// up to [`MAX_SHARED_MESSAGES`]. A conversation's second batch (an actor restarted while its first was
/// queued) waits for the next round, so one commit numbers each conversation once and in order.
fn gather(waiting: Vec<Request>, requests: &mut mpsc::Receiver<Request>) -> (Vec<Request>, Vec<Request>) {
    let mut next = Gathering::default();
    for request in waiting {
        next.offer(request);
    }
    while next.messages < MAX_SHARED_MESSAGES {
        let Ok(request) = requests.try_recv() else { break };
        if !next.offer(request) {
            break;
        }
    }
    (next.batch, next.later)
}

/// A shared commit being gathered.
#[derive(Default)]
struct Gathering {
    batch: Vec<Request>,
    later: Vec<Request>,
    conversations: HashSet<ConversationId>,
    messages: usize,
}

impl Gathering {
    /// Takes `request` into this commit, or holds it over; false once the commit is full.
    fn offer(&mut self, request: Request) -> bool {
        let size = request.append.messages.len();
        let fits = self.batch.is_empty() || self.messages + size <= MAX_SHARED_MESSAGES;
        if fits && self.conversations.insert(request.append.conversation_id.clone()) {
            self.messages += size;
            self.batch.push(request);
        } else {
            self.later.push(request);
        }
        fits
    }
}

/// Commits `batch` and answers each requester.
async fn commit_and_answer(store: &Store, batch: Vec<Request>) {
    let started = std::time::Instant::now();
    let (appends, replies): (Vec<ConversationAppend>, Vec<_>) = batch.into_iter().map(|r| (r.append, r.reply)).unzip();
    let answers = commit(store, &appends).await;
    metrics::histogram!(crate::telemetry::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
    let messages: usize = appends.iter().map(|a| a.messages.len()).sum();
    metrics::histogram!(crate::telemetry::COMMIT_BATCH).record(messages as f64);
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

/// Stores the batches in one transaction. If it fails for a reason tied to its content (not an outage),
/// each conversation is stored on its own and, within a failing one, each message on its own, so one bad
/// message fails alone and every other message is still stored. A suspended license fails only its own
/// conversations' batches.
async fn commit(store: &Store, appends: &[ConversationAppend]) -> Vec<BatchAnswer> {
    let err = match store.append_shared(appends).await {
        Ok(outcomes) => return outcomes.into_iter().map(answer_of).collect(),
        Err(err) => err,
    };
    if matches!(err, StoreError::Unavailable { .. }) {
        return appends.iter().map(|_| Err(err.for_another_waiter())).collect();
    }
    if let [append] = appends {
        return vec![one_by_one(store, append, err).await];
    }
    tracing::warn!(%err, conversations = appends.len(), "a shared commit failed; storing each conversation alone");
    let mut answers = Vec::with_capacity(appends.len());
    for append in appends {
        answers.push(match store.append_shared(std::slice::from_ref(append)).await {
            Ok(mut outcomes) => answer_of(outcomes.pop().unwrap_or(Ok(None))),
            Err(err @ StoreError::Unavailable { .. }) => Err(err),
            Err(err) => one_by_one(store, append, err).await,
        });
    }
    answers
}

/// A conversation's batch that failed on its own (`err`): its messages stored one by one, in order.
async fn one_by_one(store: &Store, append: &ConversationAppend, err: StoreError) -> BatchAnswer {
    if append.messages.len() == 1 {
        return Ok(vec![Err(err)]);
    }
    tracing::warn!(%err, conversation = %append.conversation_id, "a batch failed; storing its messages one by one");
    let mut answers = Vec::with_capacity(append.messages.len());
    for message in &append.messages {
        let one = std::slice::from_ref(message);
        let answer = match store.append_messages(&append.license, &append.conversation_id, one, append.reopen).await {
            Ok(Some(mut appended)) => {
                appended.pop().ok_or_else(|| StoreError::Corrupt("an append answered nothing".into()))
            }
            Ok(None) => Err(StoreError::Corrupt("live conversation vanished".into())),
            Err(err) => Err(err),
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// A conversation's outcome as its batch's answer.
fn answer_of(outcome: AppendOutcome) -> BatchAnswer {
    match outcome? {
        Some(appended) => Ok(appended.into_iter().map(Ok).collect()),
        None => Err(StoreError::Corrupt("live conversation vanished".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, ContactId, LicenseKey, LicenseStatus, MessageKind, Product, Sender, Tier};
    use crate::store::{test_stores, NewLicense, NewMessage};

    fn visitor_says(text: &str, client_msg_id: &str) -> NewMessage {
        NewMessage {
            sender: Sender::Visitor,
            kind: MessageKind::Text,
            text: text.into(),
            client_msg_id: Some(client_msg_id.into()),
            author_id: None,
            delivery: None,
        }
    }

    async fn conversation(store: &Store, license: &LicenseKey, messages: Vec<NewMessage>) -> ConversationAppend {
        let contact = ContactId::from(uuid::Uuid::new_v4().simple().to_string());
        let created = store.create_conversation(license, Channel::Widget, &contact, None, &serde_json::json!({})).await;
        let conversation_id = created.map(|c| c.id).unwrap_or_else(|e| panic!("conversation: {e}"));
        ConversationAppend { license: license.clone(), conversation_id, messages, reopen: true }
    }

    fn seqs(answer: &BatchAnswer) -> Vec<Option<i64>> {
        match answer {
            Ok(answers) => answers.iter().map(|a| a.as_ref().ok().map(|a| a.message.seq)).collect(),
            Err(err) => panic!("the batch failed whole: {err}"),
        }
    }

    /// Alone, a commit starts with what it holds; beside one in flight, it takes queued batches until it
    /// holds [`SECOND_LANE_MESSAGES`] and leaves the rest queued.
    #[tokio::test]
    async fn a_commit_beside_another_fills_up_and_a_lone_one_takes_nothing_more() {
        let license = LicenseKey::parse("INTL-TEST-FILL-LANE").unwrap();
        let request = || Request {
            append: ConversationAppend {
                license: license.clone(),
                conversation_id: crate::domain::ConversationId::generate(),
                messages: vec![visitor_says("hi", "a")],
                reopen: false,
            },
            reply: oneshot::channel().0,
        };
        let (queue, mut requests) = mpsc::channel(QUEUE);
        for _ in 0..200 {
            queue.send(request()).await.unwrap();
        }
        let lanes = Lanes::new(2);
        let _ours = lanes.free.clone().acquire_owned().await.unwrap();
        let mut held = vec![request()];
        fill(&mut held, &mut requests, &lanes).await;
        assert_eq!(held.len(), 1, "no other commit in flight: nothing more taken");
        let _other = lanes.free.clone().acquire_owned().await.unwrap();
        fill(&mut held, &mut requests, &lanes).await;
        assert_eq!(held.len(), SECOND_LANE_MESSAGES, "beside another: filled to the threshold");
        assert_eq!(requests.len(), 200 - (SECOND_LANE_MESSAGES - 1), "the rest stay queued");
    }

    /// PostgreSQL refuses U+0000 (the edge refuses it too; here it stands for any message the engine
    /// refuses): in a shared commit only that message fails, every other conversation's and its
    /// neighbours' are stored; a suspended license fails its own conversation only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_message_fails_alone_and_a_suspension_fails_its_own_license_only() -> anyhow::Result<()> {
        for (engine, store) in test_stores().await? {
            let new_license = || NewLicense {
                email: "owner@example.com".into(),
                products: vec![Product::Chatbot],
                tier: Tier::Enterprise,
            };
            let (active, suspended) =
                (store.create_license(&new_license()).await?, store.create_license(&new_license()).await?);
            let (active, suspended) = (active.license_key, suspended.license_key);
            let bad = vec![visitor_says("one", "a"), visitor_says("bad \u{0}", "b"), visitor_says("three", "c")];
            let appends = vec![
                conversation(&store, &active, bad).await,
                conversation(&store, &active, vec![visitor_says("hello", "a"), visitor_says("again", "a")]).await,
                conversation(&store, &suspended, vec![visitor_says("refused", "a")]).await,
            ];
            store.set_license_status(&suspended, LicenseStatus::Suspended).await?;
            let answers = commit(&store, &appends).await;
            match engine {
                "postgres" => assert_eq!(seqs(&answers[0]), [Some(1), None, Some(2)], "{engine}"),
                _ => assert_eq!(seqs(&answers[0]), [Some(1), Some(2), Some(3)], "{engine}: SQLite takes any text"),
            }
            // The same client id twice in one conversation: stored once, the repeat answered with it.
            assert_eq!(seqs(&answers[1]), [Some(1), Some(1)], "{engine}");
            assert!(matches!(answers[2], Err(StoreError::LicenseSuspended)), "{engine}");
        }
        Ok(())
    }
}
