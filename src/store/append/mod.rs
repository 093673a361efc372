//! Appending messages: the batches of many conversations in one transaction (a shared commit).
//!
//! Whatever the number of conversations, a commit costs the same few statements: one read of stored
//! copies (idempotent client ids), one UPDATE that numbers every conversation's messages, reads their
//! status and refuses suspended licenses, one multi-row INSERT and the outbox's few statements (plus one
//! UPDATE when a visitor wrote to a closed conversation, which reopens it). So the engine's per-statement
//! and per-commit costs (on SQLite a round trip to its worker thread each, and one fsync) are paid once
//! for all the conversations that wrote meanwhile.

mod statements;

use super::messages::{message_from_row, Appended, NewMessage, MESSAGE_COLUMNS};
use super::outbox::ConversationChanges;
use super::webhook_payload::EventData;
use super::{Context, Store, StoreError, StoreResult};
use crate::domain::WebhookEvent;
use crate::domain::{now_millis, ConversationId, LicenseKey, Message, MessageKind, Sender};
use serde_json::{json, Value};
use sqlx::AnyConnection;
use statements::{insert, joined, json_rows, number, reopen, suspended_licenses};
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
type ClientKey = (String, Sender, String);

fn client_key(append: &ConversationAppend, message: &NewMessage) -> Option<ClientKey> {
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
        // Everything on one connection, in the transaction: each checkout of a pooled connection costs
        // two more round trips (sqlx pings it when it is acquired and again when it is returned). On
        // SQLite the transaction takes the write lock at once: it reads before it writes, and a deferred
        // one would fail (busy snapshot) if another connection of a bigger pool committed in between.
        let tx = match self.postgres {
            true => self.pool().begin().await,
            false => self.pool().begin_with("BEGIN IMMEDIATE").await,
        };
        let mut tx = tx.context("append_shared")?;
        let mut copies = stored_copies(&mut tx, self.postgres, appends).await.context("append_shared")?;
        // Fresh: no stored copy, and the first of its client id in the commit.
        let mut taken = HashSet::new();
        let fresh: Vec<Vec<bool>> = appends
            .iter()
            .map(|append| {
                let mut first =
                    |m: &NewMessage| client_key(append, m).is_none_or(|k| !copies.contains_key(&k) && taken.insert(k));
                append.messages.iter().map(&mut first).collect()
            })
            .collect();
        let counts: Vec<i64> =
            fresh.iter().map(|f| i64::try_from(f.iter().filter(|x| **x).count()).unwrap_or(i64::MAX)).collect();
        let now = now_millis();
        let numbered = number(&mut tx, self.postgres, appends, &counts, now).await.context("append_shared")?;
        // A visitor's message to a closed conversation reopens it: `chat_opened` (reopened) goes out
        // before that message's `message_created`, in this transaction.
        let reopens =
            |a: &ConversationAppend| a.reopen && numbered.get(a.conversation_id.as_str()).is_some_and(|n| n.closed);
        let reopening: Vec<&ConversationAppend> = appends.iter().filter(|a| reopens(a)).collect();
        reopen(&mut tx, self.postgres, &reopening).await.context("append_shared")?;
        let unnumbered: Vec<&LicenseKey> =
            appends.iter().filter(|a| !numbered.contains_key(a.conversation_id.as_str())).map(|a| &a.license).collect();
        // Either no such conversation or a suspended license: only the second is an error.
        let suspended = suspended_licenses(&mut tx, &unnumbered).await.context("append_shared")?;
        let mut rows = Vec::new();
        for ((append, fresh), count) in appends.iter().zip(&fresh).zip(&counts) {
            let Some(last) = numbered.get(append.conversation_id.as_str()).map(|n| n.last_seq) else { continue };
            let new = append.messages.iter().zip(fresh).filter(|(_, f)| **f).map(|(m, _)| m);
            rows.extend((last - count + 1..).zip(new).map(|(seq, m)| (append, seq, m)));
        }
        let mut stored = insert(&mut tx, self.postgres, &rows, now).await.context("append_shared")?;
        // A license without webhooks has no outbox to write: its conversations are left out.
        let changes: Vec<ConversationChanges> = appends
            .iter()
            .filter(|a| numbered.get(a.conversation_id.as_str()).is_some_and(|n| n.hooked))
            .map(|a| {
                let id = a.conversation_id.as_str();
                let reopened = reopens(a).then(|| {
                    (WebhookEvent::ChatOpened, EventData::Ready(json!({ "reopened": true, "by": "visitor" })))
                });
                // Private notes stay inside the team: never an event.
                let created = stored.get(id).into_iter().flatten().filter(|m| m.kind != MessageKind::Note);
                let created = created.map(|m| (WebhookEvent::MessageCreated, EventData::Message(m)));
                ConversationChanges {
                    license: &a.license,
                    conversation_id: &a.conversation_id,
                    changes: reopened.into_iter().chain(created).collect(),
                }
            })
            .collect();
        let announced = self.announce_shared(&mut tx, &changes).await?;
        tx.commit().await.context("append_shared")?;
        if announced {
            self.outbox_committed();
        }
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
        Ok(answers.collect())
    }

    /// Writes the outbox events of a shared commit on its transaction; see [`Self::announce`].
    async fn announce_shared(
        &self,
        conn: &mut AnyConnection,
        conversations: &[ConversationChanges<'_>],
    ) -> StoreResult<bool> {
        super::outbox::enqueue_many(conn, conversations, self.webhook_retry_ms).await
    }
}

/// The stored messages that share a client id with the commit, keyed by (conversation, sender, client
/// id): one query, its keys in one JSON parameter.
async fn stored_copies(
    conn: &mut AnyConnection,
    postgres: bool,
    appends: &[ConversationAppend],
) -> StoreResult<HashMap<ClientKey, Message>> {
    let keys: Vec<Value> = appends
        .iter()
        .flat_map(|a| a.messages.iter().filter_map(move |m| client_key(a, m)))
        .map(|(conversation, sender, id)| json!([conversation, sender.as_str(), id]))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        // Every column of the partial index, and its condition: the planner seeks it for each key
        // (measured: a scan of the conversation was the hottest path).
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE client_msg_id IS NOT NULL AND (conversation_id, sender, client_msg_id) IN
             (SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2 FROM {})",
        json_rows(postgres)
    );
    let rows = joined(&sql, postgres).bind(Value::Array(keys).to_string()).fetch_all(&mut *conn).await?;
    let mut copies = HashMap::new();
    for row in &rows {
        let message = message_from_row(row)?;
        if let Some(id) = message.client_msg_id.clone() {
            copies.insert((message.conversation_id.as_str().to_owned(), message.sender, id), message);
        }
    }
    Ok(copies)
}
