//! Erasure: deleting conversations with everything stored about them (messages, their delivery attempts,
//! labels, webhook events with their deliveries and attempts), for the right to deletion and for the
//! retention job, and one contact's export.

use super::conversations::{conversation_from_row, CONVERSATION_COLUMNS};
use super::{parse_column, Context, Store, StoreResult};
use crate::domain::{ContactId, ConversationId, LicenseKey};
use crate::store::Conversation;
use sqlx::{AnyConnection, AssertSqlSafe};

/// What erasing a contact deleted.
#[derive(Debug, Clone)]
pub struct ErasedContact {
    /// The conversations deleted (live actors of these are stopped on every node).
    pub conversations: Vec<ConversationId>,
    /// How many messages went with them.
    pub messages: u64,
}

/// Deletes `ids` (conversations of `license`, already locked by the caller's transaction) and every row
/// that refers to them, children first. Answers how many messages were deleted.
pub(super) async fn delete_conversations(
    conn: &mut AnyConnection,
    license: &LicenseKey,
    ids: &[ConversationId],
) -> StoreResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    // $1 is the license; the ids follow.
    let shifted: String = (2..ids.len() + 2).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
    let statements = [
        format!(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d
                 JOIN webhook_events e ON e.id = d.event_id WHERE e.license_key = $1 AND e.conversation_id IN ({shifted}))"
        ),
        format!(
            "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM webhook_events
                 WHERE license_key = $1 AND conversation_id IN ({shifted}))"
        ),
        format!("DELETE FROM webhook_events WHERE license_key = $1 AND conversation_id IN ({shifted})"),
        format!(
            "DELETE FROM delivery_attempts WHERE license_key = $1 AND message_id IN (SELECT id FROM messages
                 WHERE conversation_id IN ({shifted}))"
        ),
        format!("DELETE FROM messages WHERE license_key = $1 AND conversation_id IN ({shifted})"),
        format!("DELETE FROM conversation_labels WHERE license_key = $1 AND conversation_id IN ({shifted})"),
        format!("DELETE FROM conversations WHERE license_key = $1 AND id IN ({shifted})"),
    ];
    const MESSAGES: usize = 4;
    let mut messages = 0;
    for (i, sql) in statements.iter().enumerate() {
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(license.as_str().to_owned());
        for id in ids {
            query = query.bind(id.as_str().to_owned());
        }
        let done = query.execute(&mut *conn).await.context("delete_conversations")?;
        if i == MESSAGES {
            messages = done.rows_affected();
        }
    }
    Ok(messages)
}

impl Store {
    /// Erases one contact of the license: every conversation with them on any channel and everything
    /// stored about those, in one transaction (nothing half-deleted). `None` when the license has no
    /// conversation with that contact.
    pub async fn erase_contact(&self, license: &LicenseKey, contact: &ContactId) -> StoreResult<Option<ErasedContact>> {
        let mut tx = self.pool().begin().await.context("erase_contact")?;
        // Locks the rows first, so a message being stored meanwhile either commits before (and is
        // erased) or finds no conversation after.
        let rows = sqlx::query(
            "UPDATE conversations SET updated_at = updated_at WHERE license_key = $1 AND contact_id = $2 RETURNING id",
        )
        .bind(license.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .fetch_all(&mut *tx)
        .await
        .context("erase_contact")?;
        if rows.is_empty() {
            return Ok(None);
        }
        let conversations =
            rows.iter().map(|row| parse_column(row, "id")).collect::<StoreResult<Vec<ConversationId>>>()?;
        let mut messages = 0;
        for chunk in conversations.chunks(100) {
            messages += delete_conversations(&mut tx, license, chunk).await?;
        }
        tx.commit().await.context("erase_contact")?;
        Ok(Some(ErasedContact { conversations, messages }))
    }

    /// Every conversation of the license with `contact` (any channel), oldest first.
    pub async fn contact_conversations(
        &self,
        license: &LicenseKey,
        contact: &ContactId,
    ) -> StoreResult<Vec<Conversation>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.license_key = $1 AND c.contact_id = $2
             ORDER BY c.created_at, c.id"
        )))
        .bind(license.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("contact_conversations")?;
        rows.iter().map(conversation_from_row).collect()
    }
}
