//! The dashboard's view of conversations: filtered pages, assignment and labels.

use super::conversations::{conversation_from_row, CONVERSATION_COLUMNS};
use super::{Context, Conversation, Store, StoreResult};
use crate::domain::{
    now_millis, Channel, ConversationId, ConversationStatus, LicenseKey, Message, UserId, WebhookEvent,
};
use serde::Serialize;
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};

/// A conversation in a dashboard list: with its last message, unread count and labels.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: Conversation,
    /// Its newest message, if any.
    pub last_message: Option<Message>,
    /// Visitor messages after the agents' read mark.
    pub unread_count: i64,
    /// Its labels, by name.
    pub labels: Vec<String>,
    /// Open, assigned, and its assignee has been offline longer than the team's `waiting_after_minutes`
    /// (filled in by the API, which knows who is online).
    pub waiting: bool,
}

/// Where a page of conversations starts: after this `(updated_at, id)`, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationCursor {
    /// `updated_at` of the last conversation seen.
    pub updated_at: i64,
    /// Its id, to break ties.
    pub id: ConversationId,
}

/// Whose conversations a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AssigneeFilter {
    /// Everyone's and no one's.
    #[default]
    Any,
    /// Only those without an assignee.
    Unassigned,
    /// Only this member's.
    Member(UserId),
}

/// What a conversation list keeps; the default keeps everything.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Open or closed only.
    pub status: Option<ConversationStatus>,
    /// One channel only.
    pub channel: Option<Channel>,
    /// By assignee.
    pub assignee: AssigneeFilter,
    /// Only those carrying this label.
    pub label: Option<String>,
    /// Only those with unread visitor messages.
    pub unread_only: bool,
    /// Only those with a message containing every one of these words (as a prefix): see [`search_words`].
    pub words: Vec<String>,
}

/// The words of a search: runs of letters and digits, lower-cased, at most eight. Only these reach the
/// full-text query, so no query syntax can be injected.
pub fn search_words(query: &str) -> Vec<String> {
    query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(8).map(str::to_lowercase).collect()
}

impl Store {
    /// A page of the license's conversations matching `filter`, most recently active first.
    pub async fn list_conversations(
        &self,
        license: &LicenseKey,
        filter: &ConversationFilter,
        after: Option<&ConversationCursor>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let (before_time, before_id) =
            after.map_or((i64::MAX, String::new()), |c| (c.updated_at, c.id.as_str().to_owned()));
        let assignee = match &filter.assignee {
            AssigneeFilter::Any => String::new(),
            AssigneeFilter::Unassigned => "none".to_owned(),
            AssigneeFilter::Member(id) => id.as_str().to_owned(),
        };
        let unread = "EXISTS (SELECT 1 FROM messages u
                  WHERE u.conversation_id = c.id AND u.sender = 'visitor' AND u.seq > c.agent_read_seq)";
        // The full-text index of each engine (FTS5 / GIN over to_tsvector), never a LIKE scan; SQLite's
        // takes new messages in batches, so what is pending is indexed first.
        if !filter.words.is_empty() {
            self.index_search().await?;
        }
        let (search, terms) = match (filter.words.is_empty(), self.postgres) {
            (true, _) => ("", String::new()),
            (false, false) => (
                "AND c.id IN (SELECT m2.conversation_id FROM messages_fts f JOIN messages m2 ON m2.rowid = f.rowid
                              WHERE messages_fts MATCH $10 AND m2.license_key = $1)",
                filter.words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
            ),
            (false, true) => (
                "AND c.id IN (SELECT m2.conversation_id FROM messages m2
                              WHERE m2.license_key = $1 AND to_tsvector('simple', m2.body) @@ to_tsquery('simple', $10))",
                filter.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
            ),
        };
        let sql = format!(
            "SELECT c.*, {LAST_MESSAGE_COLUMNS},
                 (SELECT COUNT(*) FROM messages u
                  WHERE u.conversation_id = c.id AND u.sender = 'visitor' AND u.seq > c.agent_read_seq) AS unread_count
             FROM conversation_recency r
             JOIN conversations c ON c.id = r.conversation_id
             LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq
             WHERE r.license_key = $1 AND c.license_key = $1 AND ($2 = '' OR c.status = $2)
               AND (r.updated_at < $3 OR (r.updated_at = $3 AND r.conversation_id < $4))
               AND ($6 = '' OR c.channel = $6)
               AND ($7 = '' OR ($7 = 'none' AND c.assignee_id IS NULL) OR c.assignee_id = $7)
               AND ($8 = '' OR EXISTS (SELECT 1 FROM conversation_labels l
                                       WHERE l.conversation_id = c.id AND l.label = $8))
               AND ($9 = 0 OR {unread})
               {search}
             ORDER BY r.updated_at DESC, r.conversation_id DESC
             LIMIT $5"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(license.as_str().to_owned())
            .bind(filter.status.map_or("", ConversationStatus::as_str))
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .bind(filter.channel.map_or("", Channel::as_str))
            .bind(assignee)
            .bind(filter.label.clone().unwrap_or_default())
            .bind(i64::from(filter.unread_only));
        if !search.is_empty() {
            query = query.bind(terms);
        }
        let rows = query.fetch_all(self.pool()).await.context("list_conversations")?;
        let mut page = rows
            .iter()
            .map(|row| {
                Ok(ConversationSummary {
                    conversation: conversation_from_row(row)?,
                    last_message: super::messages::last_message_from_row(row)?,
                    unread_count: row.try_get("unread_count")?,
                    labels: Vec::new(),
                    waiting: false,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let ids: Vec<&ConversationId> = page.iter().map(|s| &s.conversation.id).collect();
        let mut labels = self.labels_of(license, &ids).await?;
        for summary in &mut page {
            summary.labels = labels.remove(summary.conversation.id.as_str()).unwrap_or_default();
        }
        Ok(page)
    }

    /// The labels of each conversation in `ids`, keyed by conversation id, names in order.
    pub async fn labels_of(
        &self,
        license: &LicenseKey,
        ids: &[&ConversationId],
    ) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        let mut found: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let placeholders: Vec<String> = (2..ids.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT conversation_id, label FROM conversation_labels
             WHERE license_key = $1 AND conversation_id IN ({}) ORDER BY label",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(license.as_str().to_owned());
        for id in ids {
            query = query.bind(id.as_str().to_owned());
        }
        for row in query.fetch_all(self.pool()).await.context("labels_of")? {
            found.entry(row.try_get("conversation_id")?).or_default().push(row.try_get("label")?);
        }
        Ok(found)
    }

    /// Sets or clears a conversation's assignee. The assignee must be an active member of the license;
    /// `None` when the license has no such conversation (or the member is gone). A change writes
    /// `conversation_assigned` to the webhook outbox.
    pub async fn assign_conversation(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        assignee: Option<&UserId>,
    ) -> StoreResult<Option<Conversation>> {
        let mut tx = self.pool().begin().await.context("assign_conversation")?;
        let before: Option<Option<String>> =
            sqlx::query_scalar("SELECT assignee_id FROM conversations WHERE license_key = $1 AND id = $2")
                .bind(license.as_str().to_owned())
                .bind(id.as_str().to_owned())
                .fetch_optional(&mut *tx)
                .await
                .context("assign_conversation")?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET assignee_id = $3
             WHERE license_key = $1 AND id = $2
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM users
                                          WHERE id = $3 AND license_key = $1 AND deactivated_at IS NULL))
             RETURNING {CONVERSATION_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(assignee.map(|a| a.as_str().to_owned()))
        .fetch_optional(&mut *tx)
        .await
        .context("assign_conversation")?;
        let Some(conversation) = row.as_ref().map(conversation_from_row).transpose()? else {
            return Ok(None);
        };
        let after = conversation.assignee_id.as_ref().map(|a| a.as_str().to_owned());
        let mut announced = false;
        if before.flatten() != after {
            let change = (WebhookEvent::ConversationAssigned, json!({ "assignee_id": after }));
            announced = self.announce(&mut tx, license, id, &[change]).await?;
        }
        tx.commit().await.context("assign_conversation")?;
        if announced {
            self.outbox_committed();
        }
        Ok(Some(conversation))
    }

    /// Puts a label on a conversation (idempotent); false if the label does not exist in the license.
    pub async fn add_conversation_label(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        label: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO conversation_labels (license_key, conversation_id, label, created_at)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM labels WHERE license_key = $1 AND name = $3)
             ON CONFLICT (conversation_id, label) DO NOTHING",
        )
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(label.to_owned())
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("add_conversation_label")?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        self.label_exists(license, label).await
    }

    /// Takes a label off a conversation (idempotent).
    pub async fn remove_conversation_label(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        label: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM conversation_labels WHERE license_key = $1 AND conversation_id = $2 AND label = $3")
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .bind(label.to_owned())
            .execute(self.pool())
            .await
            .context("remove_conversation_label")?;
        Ok(())
    }
}

const LAST_MESSAGE_COLUMNS: &str = "m.id AS m_id, m.seq AS m_seq, m.sender AS m_sender, m.kind AS m_kind, \
     m.body AS m_body, m.client_msg_id AS m_client_msg_id, m.author_id AS m_author_id, m.delivery AS m_delivery, \
     m.created_at AS m_created_at";
