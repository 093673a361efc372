//! Messages: appended in order, numbered by the store, idempotent by client id.

use super::row::Columns;
use super::{Context, Store, StoreError, StoreResult};
use crate::domain::UserId;
use crate::domain::{ConversationId, Delivery, LicenseKey, Message, MessageId, MessageKind, Sender};
use sqlx::{any::AnyRow, AssertSqlSafe};

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

pub(super) const MESSAGE_COLUMNS: &str =
    "id, conversation_id, seq, sender, kind, body, client_msg_id, author_id, delivery, created_at";

/// Reads a message whose columns carry `prefix` (`""` or `"m_"`); `None` when the id is NULL (no message).
fn message_with_prefix(
    row: &impl Columns,
    prefix: &str,
    conversation_id: Option<ConversationId>,
) -> StoreResult<Option<Message>> {
    let col = |name: &str| format!("{prefix}{name}");
    let Some(id) = row.opt_text(&col("id"))? else {
        return Ok(None);
    };
    let text = |name: &str| row.text(&col(name));
    let parse = |e: crate::domain::ParseError| StoreError::Corrupt(e.0);
    Ok(Some(Message {
        id: MessageId::parse(&id).map_err(parse)?,
        conversation_id: match conversation_id {
            Some(id) => id,
            None => ConversationId::parse(&text("conversation_id")?).map_err(parse)?,
        },
        seq: row.int(&col("seq"))?,
        sender: text("sender")?.parse().map_err(parse)?,
        kind: text("kind")?.parse().map_err(parse)?,
        text: text("body")?,
        client_msg_id: row.opt_text(&col("client_msg_id"))?,
        author_id: row.opt_text(&col("author_id"))?.map(|a| UserId::parse(&a)).transpose().map_err(parse)?,
        delivery: row.opt_text(&col("delivery"))?.map(|d| d.parse()).transpose().map_err(parse)?,
        created_at: row.int(&col("created_at"))?,
    }))
}

/// Reads a message row.
pub(super) fn message_from_row(row: &impl Columns) -> StoreResult<Message> {
    message_with_prefix(row, "", None)?.ok_or_else(|| StoreError::Corrupt("message without id".into()))
}

/// The `m_`-prefixed last message of a conversation-list row.
pub(super) fn last_message_from_row(row: &AnyRow) -> StoreResult<Option<Message>> {
    message_with_prefix(row, "m_", Some(super::parse_column(row, "id")?))
}

impl Store {
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
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE license_key = $1 AND id = $2"
        )))
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
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE license_key = $1 AND conversation_id = $2 AND {range} LIMIT $4"
        )))
        .bind(license.as_str().to_owned())
        .bind(conversation_id.as_str().to_owned())
        .bind(seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await.context("messages_page")?;
        rows.iter().map(message_from_row).collect()
    }
}
