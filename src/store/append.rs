//! Appending messages: the batches of many conversations in one transaction (a shared commit).
//!
//! Whatever the number of conversations, a commit costs the same few statements: one read of stored
//! copies (idempotent client ids), one UPDATE that reopens closed conversations, one UPDATE that numbers
//! every conversation's messages and refuses suspended licenses, one multi-row INSERT and the outbox's
//! few statements. So the engine's per-statement and per-commit costs (on SQLite a round trip to its
//! worker thread each, and one fsync) are paid once for all the conversations that wrote meanwhile.

use super::messages::{message_from_row, Appended, NewMessage, MESSAGE_COLUMNS};
use super::outbox::ConversationChanges;
use super::{values_placeholders, Context, Placeholders, Store, StoreError, StoreResult};
use crate::domain::WebhookEvent;
use crate::domain::{now_millis, ConversationId, Delivery, LicenseKey, Message, MessageId, MessageKind, Sender};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row INSERT of messages (11 parameters a row): under both engines' parameter limits.
const ROWS_PER_INSERT: usize = 500;
/// (conversation, sender) groups per read of stored copies: with up to a batch of client ids each,
/// still under SQLite's 32,766 parameters.
const GROUPS_PER_READ: usize = 100;
/// The license check every write of a conversation makes in its own statement.
const LICENSE_ACTIVE: &str = "EXISTS (SELECT 1 FROM licenses
    WHERE licenses.license_key = conversations.license_key AND licenses.status = 'active')";

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

/// `(license_key = $a AND id = $b) OR …` for `n` conversations, and the values to bind, in order.
fn conversation_keys(binds: &mut Placeholders, n: usize) -> String {
    let keys: Vec<String> =
        (0..n).map(|_| format!("(license_key = {} AND id = {})", binds.next(), binds.next())).collect();
    keys.join(" OR ")
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
        let mut copies = self.stored_copies(appends).await.context("append_shared")?;
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
        let mut tx = self.pool().begin().await.context("append_shared")?;
        // A visitor's message to a closed conversation reopens it: `chat_opened` (reopened) goes out
        // before that message's `message_created`, in this transaction.
        let reopened = reopen(&mut tx, appends).await.context("append_shared")?;
        let last_seqs = number(&mut tx, appends, &counts, now).await.context("append_shared")?;
        let unnumbered: Vec<&LicenseKey> = appends
            .iter()
            .filter(|a| !last_seqs.contains_key(a.conversation_id.as_str()))
            .map(|a| &a.license)
            .collect();
        // Either no such conversation or a suspended license: only the second is an error.
        let suspended = suspended_licenses(&mut tx, &unnumbered).await.context("append_shared")?;
        let mut rows = Vec::new();
        for ((append, fresh), count) in appends.iter().zip(&fresh).zip(&counts) {
            let Some(last) = last_seqs.get(append.conversation_id.as_str()) else { continue };
            let new = append.messages.iter().zip(fresh).filter(|(_, f)| **f).map(|(m, _)| m);
            rows.extend((last - count + 1..).zip(new).map(|(seq, m)| (append, seq, m)));
        }
        let mut stored = insert(&mut tx, &rows, now).await.context("append_shared")?;
        let changes: Vec<ConversationChanges> = appends
            .iter()
            .filter(|a| last_seqs.contains_key(a.conversation_id.as_str()))
            .map(|a| {
                let id = a.conversation_id.as_str();
                let reopening = reopened
                    .contains(id)
                    .then(|| (WebhookEvent::ChatOpened, json!({ "reopened": true, "by": "visitor" })));
                // Private notes stay inside the team: never an event.
                let created = stored.get(id).into_iter().flatten().filter(|m| m.kind != MessageKind::Note);
                let created = created.map(|m| (WebhookEvent::MessageCreated, json!({ "message": m })));
                ConversationChanges {
                    license: &a.license,
                    conversation_id: &a.conversation_id,
                    changes: reopening.into_iter().chain(created).collect(),
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
            if !last_seqs.contains_key(id) {
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

    /// The stored messages that share a client id with the commit, keyed by (conversation, sender,
    /// client id): one query per [`GROUPS_PER_READ`] conversations.
    async fn stored_copies(&self, appends: &[ConversationAppend]) -> StoreResult<HashMap<ClientKey, Message>> {
        let mut groups: HashMap<(&str, Sender), Vec<&String>> = HashMap::new();
        for append in appends {
            for message in &append.messages {
                if let Some(id) = &message.client_msg_id {
                    groups.entry((append.conversation_id.as_str(), message.sender)).or_default().push(id);
                }
            }
        }
        let groups: Vec<_> = groups.into_iter().collect();
        let mut copies = HashMap::new();
        for chunk in groups.chunks(GROUPS_PER_READ) {
            let mut binds = Placeholders::default();
            // Every column of the partial index, and its condition, in each term: the planner seeks the
            // index for each (measured: a scan of the conversation was the hottest path).
            let terms: Vec<String> = chunk
                .iter()
                .map(|(_, ids)| {
                    format!(
                        "(conversation_id = {} AND sender = {} AND client_msg_id IS NOT NULL AND client_msg_id IN ({}))",
                        binds.next(),
                        binds.next(),
                        binds.list(ids.len())
                    )
                })
                .collect();
            let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {}", terms.join(" OR "));
            let mut query = sqlx::query(&sql);
            for ((conversation, sender), ids) in chunk {
                query = query.bind((*conversation).to_owned()).bind(sender.as_str());
                for id in ids {
                    query = query.bind((*id).clone());
                }
            }
            for row in &query.fetch_all(self.pool()).await.context("stored_copies")? {
                let message = message_from_row(row)?;
                if let Some(id) = message.client_msg_id.clone() {
                    copies.insert((message.conversation_id.as_str().to_owned(), message.sender, id), message);
                }
            }
        }
        Ok(copies)
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

/// Opens the closed conversations a visitor wrote to (of active licenses): one UPDATE. Returns their ids.
async fn reopen(conn: &mut AnyConnection, appends: &[ConversationAppend]) -> StoreResult<HashSet<String>> {
    let reopening: Vec<&ConversationAppend> = appends.iter().filter(|a| a.reopen).collect();
    if reopening.is_empty() {
        return Ok(HashSet::new());
    }
    let keys = conversation_keys(&mut Placeholders::default(), reopening.len());
    let sql = format!(
        "UPDATE conversations SET status = 'open' WHERE status = 'closed' AND ({keys}) AND {LICENSE_ACTIVE} RETURNING id"
    );
    let mut query = sqlx::query(&sql);
    for append in reopening {
        query = query.bind(append.license.as_str().to_owned()).bind(append.conversation_id.as_str().to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok(row.try_get::<String, _>("id")?)).collect()
}

/// Reserves `counts[i]` numbers in conversation `appends[i]` (one UPDATE for all of them), only where
/// the license is active. Returns the last number reserved, by conversation id; a conversation missing
/// from it does not exist or has a suspended license.
async fn number(
    conn: &mut AnyConnection,
    appends: &[ConversationAppend],
    counts: &[i64],
    now: i64,
) -> StoreResult<HashMap<String, i64>> {
    let mut binds = Placeholders::default();
    let cases: String = counts.iter().map(|_| format!(" WHEN {} THEN {}", binds.next(), binds.next())).collect();
    let updated_at = binds.next();
    let keys = conversation_keys(&mut binds, appends.len());
    let sql = format!(
        "UPDATE conversations SET last_seq = last_seq + CASE id{cases} ELSE 0 END, updated_at = {updated_at}
         WHERE ({keys}) AND {LICENSE_ACTIVE} RETURNING id, last_seq"
    );
    let mut query = sqlx::query(&sql);
    for (append, count) in appends.iter().zip(counts) {
        query = query.bind(append.conversation_id.as_str().to_owned()).bind(*count);
    }
    query = query.bind(now);
    for append in appends {
        query = query.bind(append.license.as_str().to_owned()).bind(append.conversation_id.as_str().to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok((row.try_get::<String, _>("id")?, row.try_get::<i64, _>("last_seq")?))).collect()
}

/// Which of `licenses` are suspended (asked only for conversations the numbering skipped).
async fn suspended_licenses(conn: &mut AnyConnection, licenses: &[&LicenseKey]) -> StoreResult<HashSet<String>> {
    if licenses.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT license_key FROM licenses WHERE status = 'suspended' AND license_key IN ({})",
        Placeholders::default().list(licenses.len())
    );
    let mut query = sqlx::query(&sql);
    for license in licenses {
        query = query.bind(license.as_str().to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok(row.try_get::<String, _>("license_key")?)).collect()
}

/// Inserts the numbered messages of every conversation in multi-row INSERTs. Returns them by
/// conversation id, in numbering order.
async fn insert(
    conn: &mut AnyConnection,
    rows: &[(&ConversationAppend, i64, &NewMessage)],
    now: i64,
) -> StoreResult<HashMap<String, Vec<Message>>> {
    let mut stored: HashMap<String, Vec<Message>> = HashMap::new();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, client_msg_id,
                 author_id, delivery, created_at)
             VALUES {} RETURNING {MESSAGE_COLUMNS}",
            values_placeholders(chunk.len(), 11)
        );
        let mut query = sqlx::query(&sql);
        for (append, seq, new) in chunk {
            query = query
                .bind(MessageId::generate().as_str().to_owned())
                .bind(append.conversation_id.as_str().to_owned())
                .bind(append.license.as_str().to_owned())
                .bind(*seq)
                .bind(new.sender.as_str())
                .bind(new.kind.as_str())
                .bind(new.text.clone())
                .bind(new.client_msg_id.clone())
                .bind(new.author_id.as_ref().map(|a| a.as_str().to_owned()))
                .bind(new.delivery.map(Delivery::as_str))
                .bind(now);
        }
        for row in &query.fetch_all(&mut *conn).await? {
            let message = message_from_row(row)?;
            stored.entry(message.conversation_id.as_str().to_owned()).or_default().push(message);
        }
    }
    // RETURNING order is not guaranteed by every engine: put them back in numbering order.
    for messages in stored.values_mut() {
        messages.sort_by_key(|m| m.seq);
    }
    Ok(stored)
}
