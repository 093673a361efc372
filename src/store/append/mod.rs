//! Appending messages: the batches of many conversations in one transaction (a shared commit).
//!
//! Whatever the number of conversations, a commit costs the same few statements: one read of stored
//! copies (idempotent client ids), one UPDATE that numbers every conversation's messages, reads their
//! status and refuses suspended licenses, one multi-row INSERT and the outbox's few statements (plus one
//! UPDATE when a visitor wrote to a closed conversation, which reopens it). So the engine's per-statement
//! and per-commit costs (one fsync) are paid once for all the conversations that wrote meanwhile. On
//! SQLite a commit runs whole on the writer's thread ([`sqlite_writer`]): one hand-off there and one back.

mod search_index;
mod session;
mod sqlite_writer;
mod statements;

pub(crate) use sqlite_writer::SqliteWriter;

use super::messages::{Appended, NewMessage};
use super::outbox::ConversationChanges;
use super::statement::{Done, Run, Statement};
use super::webhook_payload::EventData;
use super::{Context, Store, StoreError, StoreResult};
use crate::domain::WebhookEvent;
use crate::domain::{now_millis, ConversationId, LicenseKey, Message, MessageKind, Sender};
use futures_util::FutureExt;
use serde_json::json;
use session::Session;
use statements::Numbered;
use std::collections::{HashMap, HashSet};

/// One conversation's batch in a shared commit.
#[derive(Debug, Clone)]
pub struct ConversationAppend {
    /// The conversation's license: another tenant's conversation is not found.
    pub license: LicenseKey,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its messages, in the order they are to be numbered.
    pub messages: Vec<NewMessage>,
    /// Whether a visitor wrote, which reopens a closed conversation.
    pub reopen: bool,
}

/// What one conversation's batch came to: one answer per message in batch order (the stored copy for a
/// client id stored before, or earlier in the batch), `None` when the license has no such conversation,
/// `Err(LicenseSuspended)` when its license is suspended (nothing of it was stored).
pub type AppendOutcome = StoreResult<Option<Vec<Appended>>>;

/// (conversation, sender, client id): what makes a message idempotent.
pub(super) type ClientKey = (String, Sender, String);

pub(super) fn client_key(append: &ConversationAppend, message: &NewMessage) -> Option<ClientKey> {
    let id = message.client_msg_id.clone()?;
    Some((append.conversation_id.as_str().to_owned(), message.sender, id))
}

impl Store {
    /// Appends the batches of several conversations (each at most once) in one transaction: one commit,
    /// one fsync, and each conversation's messages numbered consecutively in their order. Outcomes are per
    /// conversation, in the order given. `Err` when the transaction failed as a whole: an outage, or a
    /// message the engine refused (the caller retries smaller to find it).
    pub async fn append_shared(&self, appends: &[ConversationAppend]) -> StoreResult<Vec<AppendOutcome>> {
        match self.try_append_shared(appends).await {
            // A concurrent writer (another node) stored one of the client ids meanwhile; the retry sees it.
            Err(StoreError::Duplicate) => self.try_append_shared(appends).await,
            other => other,
        }
    }

    /// How many shared commits may run at once: one on SQLite (one write lock; more would only queue in
    /// its busy loop). On PostgreSQL half the pool (the rest stays for reads and other writes), at most one
    /// per CPU of this node: more lanes than cores only split the queue into thinner commits that contend
    /// (measured at 10k widget messages a second on 2 cores: 5 lanes ack p50 192–238 / p99 913–1,384 ms,
    /// 2 lanes 52–144 / 186–365 ms, 1 lane 106–124 / 301–325 ms).
    pub fn parallel_commits(&self) -> usize {
        if !self.postgres {
            return 1;
        }
        let half_pool = usize::try_from(self.pool().options().get_max_connections() / 2).unwrap_or(1);
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        half_pool.min(cpus).max(1)
    }

    /// Runs `future` (the node's commit lane) on SQLite's writer thread, where the shared commits it asks
    /// for run at once instead of being handed to that thread and back; on PostgreSQL gives it back.
    pub fn spawn_on_writer<F>(&self, future: F) -> Result<(), F>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => {
                writer.spawn(future);
                Ok(())
            }
            None => Err(future),
        }
    }

    /// Appends one conversation's batch in a transaction of its own (an [`Self::append_shared`] of one).
    /// `None` if the license has no such conversation.
    pub async fn append_messages(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        batch: &[NewMessage],
        reopen: bool,
    ) -> StoreResult<Option<Vec<Appended>>> {
        let append = ConversationAppend {
            license: license.clone(),
            conversation_id: conversation_id.clone(),
            messages: batch.to_vec(),
            reopen,
        };
        self.append_shared(std::slice::from_ref(&append)).await?.pop().unwrap_or(Ok(None))
    }

    async fn try_append_shared(&self, appends: &[ConversationAppend]) -> StoreResult<Vec<AppendOutcome>> {
        let settings = Settings { postgres: self.postgres, webhook_retry_ms: self.webhook_retry_ms };
        let committed = match &self.writer {
            None => {
                let tx = self.pool().begin().await.context("append_shared")?;
                commit(settings, Session::Postgres(tx), appends).await
            }
            Some(writer) => match writer.transaction_here(|session| at_once(commit(settings, session, appends))) {
                Some(committed) => committed,
                // Not on the writer's thread (the commit lane is; a benchmark or test may not be).
                None => {
                    let appends = appends.to_vec();
                    writer.transaction(move |session| at_once(commit(settings, session, &appends))).await
                }
            },
        };
        let (outcomes, announced) = committed.context("append_shared")?;
        if announced {
            self.outbox_committed();
        }
        Ok(outcomes)
    }
}

/// What a shared commit needs of its store, on whichever thread it runs.
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// PostgreSQL rather than SQLite.
    postgres: bool,
    /// How long (ms) a webhook delivery is retried after its event was written.
    webhook_retry_ms: i64,
}

/// Runs, on SQLite's writer thread, a future that never waits: its statements are calls into SQLite there.
fn at_once<T>(future: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
    future.now_or_never().unwrap_or_else(|| Err(StoreError::Corrupt("a SQLite commit waited".into())))
}

/// Writes `appends` and commits; each conversation's outcome, and whether the outbox was written.
async fn commit(
    settings: Settings,
    mut session: Session<'_>,
    appends: &[ConversationAppend],
) -> StoreResult<(Vec<AppendOutcome>, bool)> {
    let written = write(settings, &mut session, appends).await?;
    let Written { mut copies, fresh, numbered, suspended, mut stored, insert, announced } = written;
    let inserted = session.commit(insert.as_slice()).await?;
    all_inserted(&inserted, stored.values().map(Vec::len).sum())?;
    let answers = appends.iter().zip(fresh).map(|(append, fresh)| {
        let id = append.conversation_id.as_str();
        if !numbered.contains_key(id) {
            return match suspended.contains(append.license.as_str()) {
                true => Err(StoreError::LicenseSuspended),
                false => Ok(None),
            };
        }
        let mut new = stored.remove(id).unwrap_or_default().into_iter();
        let mut answers = Vec::with_capacity(append.messages.len());
        for (message, fresh) in append.messages.iter().zip(fresh) {
            let key = client_key(append, message);
            let answer = if fresh {
                let stored = new.next().ok_or_else(|| StoreError::Corrupt("batch insert lost a row".into()))?;
                if let Some(key) = key {
                    copies.insert(key, stored.clone());
                }
                Appended { message: stored, duplicate: false }
            } else {
                let copy = key.and_then(|k| copies.get(&k).cloned());
                let copy = copy.ok_or_else(|| StoreError::Corrupt("repeat without a copy".into()))?;
                Appended { message: copy, duplicate: true }
            };
            answers.push(answer);
        }
        Ok(Some(answers))
    });
    Ok((answers.collect(), announced))
}

/// Everything of a shared commit up to its INSERT, which is left for [`Session::commit`] to run before
/// the `COMMIT` (unless someone listens by webhook: then the outbox is written after it, here).
async fn write(settings: Settings, session: &mut Session<'_>, appends: &[ConversationAppend]) -> StoreResult<Written> {
    let postgres = settings.postgres;
    // Numbered before the stored copies are known, without waiting for them: a message is numbered if
    // it is the first of its client id in the commit, and the numbers of those already stored (a
    // client's retry: rare) are given back by one more statement.
    let mut taken = HashSet::new();
    let first: Vec<Vec<bool>> = appends
        .iter()
        .map(|append| {
            let mut first = |m: &NewMessage| client_key(append, m).is_none_or(|k| taken.insert(k));
            append.messages.iter().map(&mut first).collect()
        })
        .collect();
    let count = |flags: &[bool]| i64::try_from(flags.iter().filter(|x| **x).count()).unwrap_or(i64::MAX);
    let now = now_millis();
    let mut opening: Vec<Statement> = statements::copies(postgres, appends).into_iter().collect();
    opening.push(statements::number(postgres, appends, &first.iter().map(|f| count(f)).collect::<Vec<_>>(), now));
    let done = session.run(&opening).await?;
    let (copies, numbering) = match done.as_slice() {
        [copies, numbering] => (statements::read_copies(copies)?, numbering),
        [numbering] => (HashMap::new(), numbering),
        _ => return Err(StoreError::Corrupt("the numbering answered nothing".into())),
    };
    let mut numbered = statements::read_numbered(numbering)?;
    // Fresh: the first of its client id in the commit, and no stored copy.
    let fresh: Vec<Vec<bool>> = appends
        .iter()
        .zip(&first)
        .map(|(append, first)| {
            let stored = |m: &NewMessage| client_key(append, m).is_some_and(|k| copies.contains_key(&k));
            append.messages.iter().zip(first).map(|(m, first)| *first && !stored(m)).collect()
        })
        .collect();
    let counts: Vec<i64> = fresh.iter().map(|f| count(f)).collect();
    let returned: Vec<(&ConversationAppend, i64)> = appends
        .iter()
        .zip(first.iter().zip(&counts))
        .map(|(append, (first, fresh))| (append, count(first) - fresh))
        .filter(|(append, n)| *n > 0 && numbered.contains_key(append.conversation_id.as_str()))
        .collect();
    // A visitor's message to a closed conversation reopens it: `chat_opened` (reopened) goes out
    // before that message's `message_created`, in this transaction.
    let reopening: Vec<&ConversationAppend> = appends
        .iter()
        .filter(|a| a.reopen && numbered.get(a.conversation_id.as_str()).is_some_and(|n| n.closed))
        .collect();
    let reopened: HashSet<&str> = reopening.iter().map(|a| a.conversation_id.as_str()).collect();
    let unnumbered: Vec<&LicenseKey> =
        appends.iter().filter(|a| !numbered.contains_key(a.conversation_id.as_str())).map(|a| &a.license).collect();
    // Rare statements, run only when due: numbers given back, reopening, and
    // which licenses are suspended (a conversation the numbering skipped either does not exist or
    // has a suspended license: only the second is an error).
    let rare = [
        (!returned.is_empty()).then(|| statements::unnumber(postgres, &returned)),
        (!reopening.is_empty()).then(|| statements::reopen(postgres, &reopening)),
        (!unnumbered.is_empty()).then(|| statements::suspended_licenses(&unnumbered)),
    ];
    let due: Vec<Statement> = rare.iter().flatten().cloned().collect();
    let mut answered = session.run(&due).await?.into_iter();
    let mut answer = |asked: &Option<Statement>| asked.as_ref().and_then(|_| answered.next());
    let (unnumbering, _, suspending) = (answer(&rare[0]), answer(&rare[1]), answer(&rare[2]));
    if let Some(done) = unnumbering {
        statements::read_unnumbered(&done, &mut numbered)?;
    }
    let suspended = suspending.map(|done| statements::read_suspended(&done)).transpose()?.unwrap_or_default();
    let mut rows = Vec::new();
    for ((append, fresh), count) in appends.iter().zip(&fresh).zip(&counts) {
        let Some(last) = numbered.get(append.conversation_id.as_str()).map(|n| n.last_seq) else { continue };
        let new = append.messages.iter().zip(fresh).filter(|(_, f)| **f).map(|(m, _)| m);
        rows.extend((last - count + 1..).zip(new).map(|(seq, m)| (append, seq, m)));
    }
    let (messages, insert) = statements::insert(postgres, &rows, now)?;
    let mut stored: HashMap<String, Vec<Message>> = HashMap::new();
    for message in messages {
        stored.entry(message.conversation_id.as_str().to_owned()).or_default().push(message);
    }
    let insert = (!rows.is_empty()).then_some(insert);
    // A license without webhooks has no outbox to write: its conversations are left out.
    let hooked: Vec<&ConversationAppend> =
        appends.iter().filter(|a| numbered.get(a.conversation_id.as_str()).is_some_and(|n| n.hooked)).collect();
    if hooked.is_empty() {
        return Ok(Written { copies, fresh, numbered, suspended, stored, insert, announced: false });
    }
    all_inserted(&session.run(insert.as_slice()).await?, rows.len())?;
    let changes = webhook_changes(&hooked, &reopened, &stored);
    let announced = super::outbox::enqueue_many(session, &changes, settings.webhook_retry_ms).await?;
    Ok(Written { copies, fresh, numbered, suspended, stored, insert: None, announced })
}

/// `Err` unless the INSERT (the first of `done`, if it ran) stored all `rows`.
fn all_inserted(done: &[Done], rows: usize) -> StoreResult<()> {
    match done.first() {
        Some(insert) if usize::try_from(insert.affected).ok() != Some(rows) => {
            Err(StoreError::Corrupt("batch insert lost a row".into()))
        }
        _ => Ok(()),
    }
}

/// What the webhook outbox hears of the `hooked` conversations' commit: `chat_opened` (reopened by the
/// visitor) before the `message_created` of their messages, private notes left out (they stay inside
/// the team).
fn webhook_changes<'a>(
    hooked: &[&'a ConversationAppend],
    reopened: &HashSet<&str>,
    stored: &'a HashMap<String, Vec<Message>>,
) -> Vec<ConversationChanges<'a>> {
    hooked
        .iter()
        .map(|a| {
            let id = a.conversation_id.as_str();
            let reopened = reopened
                .contains(id)
                .then(|| (WebhookEvent::ChatOpened, EventData::Ready(json!({ "reopened": true, "by": "visitor" }))));
            let created = stored.get(id).into_iter().flatten().filter(|m| m.kind != MessageKind::Note);
            let created = created.map(|m| (WebhookEvent::MessageCreated, EventData::Message(m)));
            ConversationChanges {
                license: &a.license,
                conversation_id: &a.conversation_id,
                changes: reopened.into_iter().chain(created).collect(),
            }
        })
        .collect()
}

/// A shared commit written up to its last statement.
struct Written {
    /// The stored messages that share a client id with the commit.
    copies: HashMap<ClientKey, Message>,
    /// Per conversation, per message: whether it is stored by this commit.
    fresh: Vec<Vec<bool>>,
    /// The conversations numbered (existing, license active).
    numbered: HashMap<String, Numbered>,
    /// The suspended licenses among those of the conversations not numbered.
    suspended: HashSet<String>,
    /// The messages stored, by conversation id, in numbering order.
    stored: HashMap<String, Vec<Message>>,
    /// The INSERT still to run before `COMMIT` (none when nothing is new, or already run).
    insert: Option<Statement>,
    /// Whether the outbox was written.
    announced: bool,
}
