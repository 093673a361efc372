//! Conversations: one thread between a tenant and one contact on one channel.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::UserId;
use crate::domain::{
    now_millis, Channel, ContactId, ConversationId, ConversationStatus, LicenseKey, Sender, VisitorToken, WebhookEvent,
};
use serde::Serialize;
use serde_json::json;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// A stored conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// Server id.
    pub id: ConversationId,
    /// The tenant.
    pub license_key: LicenseKey,
    /// Where the contact writes from.
    pub channel: Channel,
    /// Visitor id, PSID or phone number.
    pub contact_id: ContactId,
    /// Open or closed.
    pub status: ConversationStatus,
    /// UTM parameters, page context and channel details.
    pub metadata: serde_json::Value,
    /// Highest message number so far.
    pub last_seq: i64,
    /// Highest message number an agent has read.
    pub agent_read_seq: i64,
    /// Highest message number the visitor has read.
    pub visitor_read_seq: i64,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last activity, epoch milliseconds.
    pub updated_at: i64,
    /// The member who answers it; `None` while unassigned.
    pub assignee_id: Option<UserId>,
    /// The visitor's satisfaction rating (1–5), once given.
    pub csat_rating: Option<i64>,
    /// The visitor's comment with the rating.
    pub csat_comment: Option<String>,
    /// What the visitor gave in the widget's lead form (name, email, phone, fields), once sent.
    pub lead: Option<serde_json::Value>,
}

/// What starts a conversation ([`Store::create_conversations`]).
#[derive(Debug, Clone)]
pub struct NewConversation {
    /// The tenant.
    pub license: LicenseKey,
    /// Where the contact writes from.
    pub channel: Channel,
    /// Visitor id, PSID or phone number.
    pub contact_id: ContactId,
    /// The widget visitor's resume secret (one conversation per token and license).
    pub visitor_token: Option<VisitorToken>,
    /// UTM parameters, page context and channel details.
    pub metadata: serde_json::Value,
}

pub(super) const CONVERSATION_COLUMNS: &str = "id, license_key, channel, contact_id, status, metadata, \
     last_seq, agent_read_seq, visitor_read_seq, created_at, updated_at, assignee_id, csat_rating, csat_comment, lead";

pub(super) fn conversation_from_row(row: &AnyRow) -> StoreResult<Conversation> {
    let key: String = row.try_get("license_key")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(Conversation {
        id: parse_column(row, "id")?,
        license_key: LicenseKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?,
        channel: parse_column(row, "channel")?,
        contact_id: ContactId::from(row.try_get::<String, _>("contact_id")?),
        status: parse_column(row, "status")?,
        metadata: serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        last_seq: row.try_get("last_seq")?,
        agent_read_seq: row.try_get("agent_read_seq")?,
        visitor_read_seq: row.try_get("visitor_read_seq")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        assignee_id: super::parse_optional_column(row, "assignee_id")?,
        csat_rating: row.try_get("csat_rating")?,
        csat_comment: row.try_get("csat_comment")?,
        lead: row
            .try_get::<Option<String>, _>("lead")?
            .map(|raw| serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("lead: {e}"))))
            .transpose()?,
    })
}

impl Store {
    /// Starts a conversation with a contact (a batch of one of [`Store::create_conversations`]).
    pub async fn create_conversation(
        &self,
        license: &LicenseKey,
        channel: Channel,
        contact_id: &ContactId,
        visitor_token: Option<&VisitorToken>,
        metadata: &serde_json::Value,
    ) -> StoreResult<Conversation> {
        let new = NewConversation {
            license: license.clone(),
            channel,
            contact_id: contact_id.clone(),
            visitor_token: visitor_token.cloned(),
            metadata: metadata.clone(),
        };
        let mut created = self.create_conversations(std::slice::from_ref(&new)).await?;
        created.pop().unwrap_or_else(|| Err(StoreError::Corrupt("a conversation's insert answered nothing".into())))
    }

    /// Starts conversations in one transaction: one commit (on SQLite one sync of the journal) for all.
    /// Answers each in order: the conversation, or [`StoreError::Duplicate`] when its visitor token
    /// already has one (opened earlier, or earlier in this batch). Fails whole only for the transaction.
    pub async fn create_conversations(&self, new: &[NewConversation]) -> StoreResult<Vec<StoreResult<Conversation>>> {
        let now = now_millis();
        let mut tx = self.pool().begin().await.context("create_conversations")?;
        let mut answers = Vec::with_capacity(new.len());
        let mut announced = false;
        for new in new {
            // DO NOTHING rather than a unique violation, which would abort the whole transaction.
            let row = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO conversations (id, license_key, channel, contact_id, visitor_token, status, metadata,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $7) ON CONFLICT DO NOTHING RETURNING {CONVERSATION_COLUMNS}"
            )))
            .bind(ConversationId::generate().as_str().to_owned())
            .bind(new.license.as_str().to_owned())
            .bind(new.channel.as_str())
            .bind(new.contact_id.as_str().to_owned())
            .bind(new.visitor_token.as_ref().map(|t| t.as_str().to_owned()))
            .bind(new.metadata.to_string())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .context("create_conversations")?;
            let Some(row) = row else {
                answers.push(Err(StoreError::Duplicate));
                continue;
            };
            let conversation = conversation_from_row(&row)?;
            let opened = [(WebhookEvent::ChatOpened, json!({ "reopened": false }))];
            announced |= self.announce(&mut tx, &new.license, &conversation.id, &opened).await?;
            answers.push(Ok(conversation));
        }
        tx.commit().await.context("create_conversations")?;
        if announced {
            self.outbox_committed();
        }
        Ok(answers)
    }

    /// The license's conversation `id`.
    pub async fn conversation(&self, license: &LicenseKey, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        self.conversation_where("c.license_key = $1 AND c.id = $2", license, id.as_str()).await
    }

    /// The widget conversation a visitor token resumes.
    pub async fn conversation_by_visitor(
        &self,
        license: &LicenseKey,
        token: &VisitorToken,
    ) -> StoreResult<Option<Conversation>> {
        self.conversation_where("c.license_key = $1 AND c.visitor_token = $2", license, token.as_str()).await
    }

    /// The newest conversation with a channel contact (Messenger PSID, WhatsApp number).
    pub async fn conversation_by_contact(
        &self,
        license: &LicenseKey,
        channel: Channel,
        contact_id: &ContactId,
    ) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c
             WHERE c.license_key = $1 AND c.channel = $2 AND c.contact_id = $3
             ORDER BY c.created_at DESC LIMIT 1"
        )))
        .bind(license.as_str().to_owned())
        .bind(channel.as_str())
        .bind(contact_id.as_str().to_owned())
        .fetch_optional(self.pool())
        .await
        .context("conversation_by_contact")?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    async fn conversation_where(
        &self,
        filter: &str,
        license: &LicenseKey,
        value: &str,
    ) -> StoreResult<Option<Conversation>> {
        let row =
            sqlx::query(AssertSqlSafe(format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE {filter}")))
                .bind(license.as_str().to_owned())
                .bind(value.to_owned())
                .fetch_optional(self.pool())
                .await
                .context("conversation_where")?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    /// Opens or closes a conversation; `None` if the license has no such conversation. A change of status
    /// writes `chat_closed` or `chat_opened` (reopened) to the webhook outbox; setting the status it has
    /// already changes nothing.
    pub async fn set_conversation_status(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        status: ConversationStatus,
    ) -> StoreResult<Option<Conversation>> {
        let mut tx = self.pool().begin().await.context("set_conversation_status")?;
        let changed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET status = $1, updated_at = $2 WHERE license_key = $3 AND id = $4 AND status <> $1
             RETURNING {CONVERSATION_COLUMNS}"
        )))
        .bind(status.as_str())
        .bind(now_millis())
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await
        .context("set_conversation_status")?;
        let Some(row) = changed else {
            drop(tx);
            return self.conversation(license, id).await;
        };
        let event = match status {
            ConversationStatus::Open => (WebhookEvent::ChatOpened, json!({ "reopened": true })),
            ConversationStatus::Closed => (WebhookEvent::ChatClosed, json!({})),
        };
        let announced = self.announce(&mut tx, license, id, &[event]).await?;
        tx.commit().await.context("set_conversation_status")?;
        if announced {
            self.outbox_committed();
        }
        conversation_from_row(&row).map(Some)
    }

    /// Records the visitor's rating of a closed, not yet rated conversation; `None` when it is not
    /// closed, already rated, or not the license's. `source` is the provider message id of a channel
    /// reply that carried the rating (see [`Store::rated_from`]).
    pub async fn rate_conversation(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        rating: i64,
        comment: Option<&str>,
        source: Option<&str>,
    ) -> StoreResult<Option<Conversation>> {
        // The `csat_received` webhook event is written in the rating's own transaction (the outbox).
        let mut tx = self.pool().begin().await.context("rate_conversation")?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET csat_rating = $3, csat_comment = $4, csat_at = $5, csat_source = $6
             WHERE license_key = $1 AND id = $2 AND status = 'closed' AND csat_at IS NULL
             RETURNING {CONVERSATION_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(rating)
        .bind(comment.map(str::to_owned))
        .bind(now_millis())
        .bind(source.map(str::to_owned))
        .fetch_optional(&mut *tx)
        .await
        .context("rate_conversation")?;
        let Some(row) = row else { return Ok(None) };
        let rated = (WebhookEvent::CsatReceived, json!({ "rating": rating, "comment": comment }));
        let announced = self.announce(&mut tx, license, id, &[rated]).await?;
        tx.commit().await.context("rate_conversation")?;
        if announced {
            self.outbox_committed();
        }
        conversation_from_row(&row).map(Some)
    }

    /// Whether the conversation's rating came from the channel reply `source`: a provider redelivering
    /// that reply is answered as done.
    pub async fn rated_from(&self, license: &LicenseKey, id: &ConversationId, source: &str) -> StoreResult<bool> {
        let row =
            sqlx::query("SELECT 1 AS found FROM conversations WHERE license_key = $1 AND id = $2 AND csat_source = $3")
                .bind(license.as_str().to_owned())
                .bind(id.as_str().to_owned())
                .bind(source.to_owned())
                .fetch_optional(self.pool())
                .await
                .context("rated_from")?;
        Ok(row.is_some())
    }

    /// Replaces a conversation's metadata (the caller merges).
    pub async fn set_conversation_metadata(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        metadata: &serde_json::Value,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE conversations SET metadata = $1 WHERE license_key = $2 AND id = $3")
            .bind(metadata.to_string())
            .bind(license.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .execute(self.pool())
            .await
            .context("set_conversation_metadata")?;
        Ok(())
    }

    /// Moves a side's read mark forward (never back).
    pub async fn mark_read(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        reader: Sender,
        seq: i64,
    ) -> StoreResult<()> {
        let column = match reader {
            Sender::Visitor => "visitor_read_seq",
            Sender::Agent | Sender::System => "agent_read_seq",
        };
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET {column} = $1 WHERE license_key = $2 AND id = $3 AND {column} < $1 AND last_seq >= $1"
        )))
        .bind(seq)
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .execute(self.pool())
        .await.context("mark_read")?;
        Ok(())
    }
}
