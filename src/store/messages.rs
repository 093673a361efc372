//! Messages: appended in order, numbered by the store, idempotent by client id.

use super::{Store, StoreError, StoreResult};
use crate::domain::{new_id, now_millis, Delivery, LicenseKey, Message, MessageKind, Sender};
use sqlx::{any::AnyRow, Row};

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
    pub author_id: Option<String>,
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
fn message_with_prefix(row: &AnyRow, prefix: &str, conversation_id: Option<String>) -> StoreResult<Option<Message>> {
    let col = |name: &str| format!("{prefix}{name}");
    let Some(id) = row.try_get::<Option<String>, _>(col("id").as_str())? else {
        return Ok(None);
    };
    let text = |name: &str| -> StoreResult<String> { Ok(row.try_get::<String, _>(col(name).as_str())?) };
    let parse = |e: crate::domain::ParseError| StoreError::Corrupt(e.0);
    let delivery: Option<String> = row.try_get(col("delivery").as_str())?;
    Ok(Some(Message {
        id,
        conversation_id: match conversation_id {
            Some(id) => id,
            None => text("conversation_id")?,
        },
        seq: row.try_get(col("seq").as_str())?,
        sender: text("sender")?.parse().map_err(parse)?,
        kind: text("kind")?.parse().map_err(parse)?,
        text: text("body")?,
        client_msg_id: row.try_get(col("client_msg_id").as_str())?,
        author_id: row.try_get(col("author_id").as_str())?,
        delivery: delivery.map(|d| d.parse()).transpose().map_err(parse)?,
        created_at: row.try_get(col("created_at").as_str())?,
    }))
}

fn message_from_row(row: &AnyRow) -> StoreResult<Message> {
    message_with_prefix(row, "", None)?.ok_or_else(|| StoreError::Corrupt("message without id".into()))
}

/// The `m_`-prefixed last message of a conversation-list row.
pub(super) fn last_message_from_row(row: &AnyRow) -> StoreResult<Option<Message>> {
    message_with_prefix(row, "m_", Some(row.try_get("id")?))
}

impl Store {
    /// Appends a message: the store assigns the next number under the conversation's row lock, so
    /// concurrent writers (even on different nodes) agree on the order. Reopens a closed conversation
    /// when `reopen`. `None` if the license has no such conversation.
    pub async fn append_message(
        &self,
        license: &LicenseKey,
        conversation_id: &str,
        new: &NewMessage,
        reopen: bool,
    ) -> StoreResult<Option<Appended>> {
        if let Some(existing) = self.message_by_client_id(conversation_id, new).await? {
            return Ok(Some(Appended { message: existing, duplicate: true }));
        }
        match self.insert_message(license, conversation_id, new, reopen).await {
            Err(StoreError::Duplicate) => {
                // A concurrent resend won the race; answer with its copy.
                let existing = self.message_by_client_id(conversation_id, new).await?;
                Ok(existing.map(|message| Appended { message, duplicate: true }))
            }
            other => other.map(|m| m.map(|message| Appended { message, duplicate: false })),
        }
    }

    async fn insert_message(
        &self,
        license: &LicenseKey,
        conversation_id: &str,
        new: &NewMessage,
        reopen: bool,
    ) -> StoreResult<Option<Message>> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $1,
                 status = CASE WHEN $2 = 1 THEN 'open' ELSE status END
             WHERE license_key = $3 AND id = $4 RETURNING last_seq",
        )
        .bind(now)
        .bind(i64::from(reopen))
        .bind(license.as_str().to_owned())
        .bind(conversation_id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(seq) = seq else { return Ok(None) };
        let row = sqlx::query(&format!(
            "INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, client_msg_id,
                 author_id, delivery, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(new_id())
        .bind(conversation_id.to_owned())
        .bind(license.as_str().to_owned())
        .bind(seq)
        .bind(new.sender.as_str())
        .bind(new.kind.as_str())
        .bind(new.text.clone())
        .bind(new.client_msg_id.clone())
        .bind(new.author_id.clone())
        .bind(new.delivery.map(Delivery::as_str))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        message_from_row(&row).map(Some)
    }

    async fn message_by_client_id(&self, conversation_id: &str, new: &NewMessage) -> StoreResult<Option<Message>> {
        let Some(client_msg_id) = &new.client_msg_id else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND sender = $2 AND client_msg_id = $3"
        ))
        .bind(conversation_id.to_owned())
        .bind(new.sender.as_str())
        .bind(client_msg_id.clone())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// Up to `limit` messages after number `after_seq`, oldest first: what a reconnecting client missed.
    pub async fn messages_after(
        &self,
        license: &LicenseKey,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE license_key = $1 AND conversation_id = $2 AND seq > $3
             ORDER BY seq LIMIT $4"
        ))
        .bind(license.as_str().to_owned())
        .bind(conversation_id.to_owned())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Up to `limit` messages before number `before_seq`, returned oldest first: paging back through history.
    pub async fn messages_before(
        &self,
        license: &LicenseKey,
        conversation_id: &str,
        before_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE license_key = $1 AND conversation_id = $2 AND seq < $3
             ORDER BY seq DESC LIMIT $4"
        ))
        .bind(license.as_str().to_owned())
        .bind(conversation_id.to_owned())
        .bind(before_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut messages: Vec<Message> = rows.iter().map(message_from_row).collect::<StoreResult<_>>()?;
        messages.reverse();
        Ok(messages)
    }
}
