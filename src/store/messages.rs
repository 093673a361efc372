//! Messages: appended in order, numbered by the store, idempotent by client id.

use super::{Context, Store, StoreError, StoreResult};
use crate::domain::LicenseStatus;
use crate::domain::UserId;
use crate::domain::{
    now_millis, ConversationId, Delivery, LicenseKey, Message, MessageId, MessageKind, Sender, WebhookEvent,
};
use serde_json::json;
use sqlx::{any::AnyRow, Row};
use std::collections::{HashMap, HashSet};

/// A message before the store numbers it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Who writes.
    pub sender: Sender,
    /// What it carries.
    pub kind: MessageKind,
    /// Text, payload or URL.
    pub text: String,
    /// Idempotency id from the sender (or the provider's message id).
    pub client_msg_id: Option<String>,
    /// The agent's user id.
    pub author_id: Option<UserId>,
    /// Initial delivery state for outbound channel messages.
    pub delivery: Option<Delivery>,
}

/// The result of an append.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The stored message (the earlier copy when `duplicate`).
    pub message: Message,
    /// Whether the client id had been stored already, so nothing new was written.
    pub duplicate: bool,
}

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, seq, sender, kind, body, client_msg_id, author_id, delivery, created_at";

/// Reads a message whose columns carry `prefix` (`""` or `"m_"`); `None` when the id is NULL (no message).
fn message_with_prefix(
    row: &AnyRow,
    prefix: &str,
    conversation_id: Option<ConversationId>,
) -> StoreResult<Option<Message>> {
    let col = |name: &str| format!("{prefix}{name}");
    let Some(id) = row.try_get::<Option<String>, _>(col("id").as_str())? else {
        return Ok(None);
    };
    let text = |name: &str| -> StoreResult<String> { Ok(row.try_get::<String, _>(col(name).as_str())?) };
    let parse = |e: crate::domain::ParseError| StoreError::Corrupt(e.0);
    let delivery: Option<String> = row.try_get(col("delivery").as_str())?;
    Ok(Some(Message {
        id: MessageId::parse(&id).map_err(parse)?,
        conversation_id: match conversation_id {
            Some(id) => id,
            None => ConversationId::parse(&text("conversation_id")?).map_err(parse)?,
        },
        seq: row.try_get(col("seq").as_str())?,
        sender: text("sender")?.parse().map_err(parse)?,
        kind: text("kind")?.parse().map_err(parse)?,
        text: text("body")?,
        client_msg_id: row.try_get(col("client_msg_id").as_str())?,
        author_id: row
            .try_get::<Option<String>, _>(col("author_id").as_str())?
            .map(|a| UserId::parse(&a))
            .transpose()
            .map_err(parse)?,
        delivery: delivery.map(|d| d.parse()).transpose().map_err(parse)?,
        created_at: row.try_get(col("created_at").as_str())?,
    }))
}

fn message_from_row(row: &AnyRow) -> StoreResult<Message> {
    message_with_prefix(row, "", None)?.ok_or_else(|| StoreError::Corrupt("message without id".into()))
}

/// The `m_`-prefixed last message of a conversation-list row.
pub(super) fn last_message_from_row(row: &AnyRow) -> StoreResult<Option<Message>> {
    message_with_prefix(row, "m_", Some(super::parse_column(row, "id")?))
}

impl Store {
    /// Appends several messages in one transaction (one commit, one fsync): the store numbers them
    /// consecutively in the given order. Messages whose client id is already stored (or repeated within
    /// the batch) are answered with the stored copy. `None` if the license has no such conversation.
    pub async fn append_messages(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        batch: &[NewMessage],
        reopen: bool,
    ) -> StoreResult<Option<Vec<Appended>>> {
        match self.try_append_messages(license, conversation_id, batch, reopen).await {
            // A concurrent writer stored one of the client ids meanwhile; the retry sees it.
            Err(StoreError::Duplicate) => self.try_append_messages(license, conversation_id, batch, reopen).await,
            other => other,
        }
    }

    async fn try_append_messages(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        batch: &[NewMessage],
        reopen: bool,
    ) -> StoreResult<Option<Vec<Appended>>> {
        let key = |new: &NewMessage| new.client_msg_id.clone().map(|id| (new.sender, id));
        let mut copies = self.stored_copies(conversation_id, batch).await.context("try_append_messages")?;
        // Fresh: no stored copy, and the first of its client id in the batch.
        let mut taken = HashSet::new();
        let fresh: Vec<bool> =
            batch.iter().map(|new| key(new).is_none_or(|k| !copies.contains_key(&k) && taken.insert(k))).collect();
        let to_insert: Vec<&NewMessage> = batch.iter().zip(&fresh).filter(|(_, f)| **f).map(|(n, _)| n).collect();
        let Some(stored) =
            self.insert_batch(license, conversation_id, &to_insert, reopen).await.context("try_append_messages")?
        else {
            return Ok(None);
        };
        let mut stored = stored.into_iter();
        let mut answers = Vec::with_capacity(batch.len());
        for (new, is_fresh) in batch.iter().zip(fresh) {
            let answer = if is_fresh {
                let message = stored.next().ok_or_else(|| StoreError::Corrupt("batch insert lost a row".into()))?;
                if let Some(k) = key(new) {
                    copies.insert(k, message.clone());
                }
                Appended { message, duplicate: false }
            } else {
                let message = key(new).and_then(|k| copies.get(&k).cloned());
                Appended {
                    message: message.ok_or_else(|| StoreError::Corrupt("repeat without a copy".into()))?,
                    duplicate: true,
                }
            };
            answers.push(answer);
        }
        Ok(Some(answers))
    }

    async fn insert_batch(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        batch: &[&NewMessage],
        reopen: bool,
    ) -> StoreResult<Option<Vec<Message>>> {
        let now = now_millis();
        let mut tx = self.pool().begin().await.context("insert_batch")?;
        // A visitor's message to a closed conversation reopens it: `chat_opened` (reopened) goes out
        // before that message's `message_created`, in this transaction.
        let reopened = reopen
            && sqlx::query(
                "UPDATE conversations SET status = 'open' WHERE license_key = $1 AND id = $2 AND status = 'closed'",
            )
            .bind(license.as_str().to_owned())
            .bind(conversation_id.as_str().to_owned())
            .execute(&mut *tx)
            .await
            .context("insert_batch")?
            .rows_affected()
                > 0;
        let count = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        let last: Option<i64> = sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + $1, updated_at = $2,
                 status = CASE WHEN $3 = 1 THEN 'open' ELSE status END
             WHERE license_key = $4 AND id = $5
               AND EXISTS (SELECT 1 FROM licenses WHERE license_key = $4 AND status = 'active')
             RETURNING last_seq",
        )
        .bind(count)
        .bind(now)
        .bind(i64::from(reopen))
        .bind(license.as_str().to_owned())
        .bind(conversation_id.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await
        .context("insert_batch")?;
        let Some(last) = last else {
            // Either no such conversation or a suspended license: only the second is an error.
            drop(tx);
            return match self.license(license).await.context("insert_batch")? {
                Some(found) if found.status == LicenseStatus::Suspended => Err(StoreError::LicenseSuspended),
                _ => Ok(None),
            };
        };
        if batch.is_empty() {
            tx.commit().await.context("insert_batch")?;
            return Ok(Some(Vec::new()));
        }
        let sql = format!(
            "INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, client_msg_id,
                 author_id, delivery, created_at)
             VALUES {} RETURNING {MESSAGE_COLUMNS}",
            super::values_placeholders(batch.len(), 11)
        );
        let mut query = sqlx::query(&sql);
        let first = last - count + 1;
        for (offset, new) in (0i64..).zip(batch) {
            query = query
                .bind(MessageId::generate().as_str().to_owned())
                .bind(conversation_id.as_str().to_owned())
                .bind(license.as_str().to_owned())
                .bind(first + offset)
                .bind(new.sender.as_str())
                .bind(new.kind.as_str())
                .bind(new.text.clone())
                .bind(new.client_msg_id.clone())
                .bind(new.author_id.as_ref().map(|a| a.as_str().to_owned()))
                .bind(new.delivery.map(Delivery::as_str))
                .bind(now);
        }
        let rows = query.fetch_all(&mut *tx).await.context("insert_batch")?;
        let mut messages: Vec<Message> = rows.iter().map(message_from_row).collect::<StoreResult<_>>()?;
        // RETURNING order is not guaranteed by every engine: put them back in numbering order.
        messages.sort_by_key(|m| m.seq);
        // Private notes stay inside the team: never an event.
        let reopening = reopened.then(|| (WebhookEvent::ChatOpened, json!({ "reopened": true, "by": "visitor" })));
        let changes: Vec<_> = reopening
            .into_iter()
            .chain(
                messages
                    .iter()
                    .filter(|m| m.kind != MessageKind::Note)
                    .map(|m| (WebhookEvent::MessageCreated, json!({ "message": m }))),
            )
            .collect();
        let announced = self.announce(&mut tx, license, conversation_id, &changes).await?;
        tx.commit().await.context("insert_batch")?;
        if announced {
            self.outbox_committed();
        }
        Ok(Some(messages))
    }

    /// The stored messages that share a client id with the batch, keyed by (sender, client id): one query.
    async fn stored_copies(
        &self,
        conversation_id: &ConversationId,
        batch: &[NewMessage],
    ) -> StoreResult<HashMap<(Sender, String), Message>> {
        let ids: Vec<&String> = batch.iter().filter_map(|m| m.client_msg_id.as_ref()).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (2..ids.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            // Every column of the partial index, and its condition spelled out, so the planner seeks it
            // instead of scanning the conversation (measured: the scan was the hottest path).
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE conversation_id = $1 AND sender IN ('visitor', 'agent', 'system')
               AND client_msg_id IS NOT NULL AND client_msg_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(conversation_id.as_str().to_owned());
        for id in ids {
            query = query.bind(id.clone());
        }
        let rows = query.fetch_all(self.pool()).await.context("stored_copies")?;
        let mut copies = HashMap::new();
        for row in &rows {
            let message = message_from_row(row)?;
            if let Some(id) = message.client_msg_id.clone() {
                copies.insert((message.sender, id), message);
            }
        }
        Ok(copies)
    }

    /// Up to `limit` messages after number `after_seq`, oldest first: what a reconnecting client missed.
    pub async fn messages_after(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        self.messages_page(license, conversation_id, "seq > $3 ORDER BY seq", after_seq, limit).await
    }

    /// Up to `limit` messages before number `before_seq`, returned oldest first: paging back through history.
    pub async fn messages_before(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        before_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let mut page = self
            .messages_page(license, conversation_id, "seq < $3 ORDER BY seq DESC", before_seq, limit)
            .await
            .context("messages_before")?;
        page.reverse();
        Ok(page)
    }

    /// One of the license's messages by its server id.
    pub async fn message(&self, license: &LicenseKey, id: &MessageId) -> StoreResult<Option<Message>> {
        let row = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE license_key = $1 AND id = $2"))
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("message")?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn messages_page(
        &self,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        range: &str,
        seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE license_key = $1 AND conversation_id = $2 AND {range} LIMIT $4"
        ))
        .bind(license.as_str().to_owned())
        .bind(conversation_id.as_str().to_owned())
        .bind(seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await.context("messages_page")?;
        rows.iter().map(message_from_row).collect()
    }
}
