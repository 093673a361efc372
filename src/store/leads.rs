//! Lead capture: the visitor's form answers, stored on their conversation with the `lead_capture`
//! webhook event in the same transaction.

use super::conversations::{conversation_from_row, CONVERSATION_COLUMNS};
use super::{Context, Store, StoreResult};
use crate::domain::{now_millis, ConversationId, Lead, LicenseKey, WebhookEvent};
use crate::store::Conversation;
use serde_json::json;
use sqlx::AssertSqlSafe;

impl Store {
    /// Stores `lead` on the license's conversation `id` (a later form replaces an earlier one) and
    /// writes `lead_capture` to the webhook outbox in the same transaction; `None` if there is no such
    /// conversation.
    pub async fn capture_lead(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        lead: &Lead,
    ) -> StoreResult<Option<Conversation>> {
        let lead_json = serde_json::to_value(lead).map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool().begin().await.context("capture_lead")?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET lead = $3, lead_at = $4 WHERE license_key = $1 AND id = $2
             RETURNING {CONVERSATION_COLUMNS}"
        )))
        .bind(license.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(lead_json.to_string())
        .bind(now_millis())
        .fetch_optional(&mut *tx)
        .await
        .context("capture_lead")?;
        let Some(row) = row else { return Ok(None) };
        let captured = (WebhookEvent::LeadCapture, json!({ "lead": lead_json }));
        let announced = self.announce(&mut tx, license, id, &[captured]).await?;
        tx.commit().await.context("capture_lead")?;
        if announced {
            self.outbox_committed();
        }
        conversation_from_row(&row).map(Some)
    }
}
