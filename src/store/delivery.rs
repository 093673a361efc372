//! Outbound delivery bookkeeping: the message's delivery state, its lease, and orphans to resume
//! (each attempt is in `delivery_attempts`).

use super::{parse_column, Context, Store, StoreResult};
use crate::domain::{now_millis, ConversationId, Delivery, LicenseKey, MessageId, WebhookEvent};
use serde_json::json;
use sqlx::Row;

/// An outbound message found by its provider id (from a status callback).
#[derive(Debug, Clone)]
pub struct ProviderMessage {
    /// Its tenant.
    pub license_key: String,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Its server id.
    pub message_id: MessageId,
}

/// A status callback's lookup: served by the partial index on `provider_msg_id` (see its test).
const BY_PROVIDER_ID: &str = "SELECT license_key, conversation_id, id FROM messages WHERE provider_msg_id = $1";

impl Store {
    /// Sets a message's delivery state (and the provider's id once known). A state never moves back:
    /// a late `sent` does not overwrite `delivered`. A change writes `delivery_updated` to the webhook outbox.
    pub async fn set_delivery(
        &self,
        license: &LicenseKey,
        message_id: &MessageId,
        delivery: Delivery,
        provider_msg_id: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.context("set_delivery")?;
        let conversation: Option<String> = sqlx::query_scalar(
            "UPDATE messages SET delivery = $1, provider_msg_id = COALESCE($2, provider_msg_id)
             WHERE license_key = $3 AND id = $4
               AND NOT (COALESCE(delivery, '') = 'delivered' AND $1 IN ('pending', 'sent'))
             RETURNING conversation_id",
        )
        .bind(delivery.as_str())
        .bind(provider_msg_id.map(str::to_owned))
        .bind(license.as_str().to_owned())
        .bind(message_id.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await
        .context("set_delivery")?;
        let Some(conversation) = conversation else { return Ok(false) };
        let conversation = ConversationId::parse(&conversation).map_err(|e| super::StoreError::Corrupt(e.0))?;
        let change = (WebhookEvent::DeliveryUpdated, json!({ "message_id": message_id, "delivery": delivery }));
        let announced = self.announce(&mut tx, license, &conversation, &[change]).await?;
        tx.commit().await.context("set_delivery")?;
        if announced {
            self.outbox_committed();
        }
        Ok(true)
    }

    /// The outbound message a provider knows as `provider_msg_id`.
    pub async fn message_by_provider_id(&self, provider_msg_id: &str) -> StoreResult<Option<ProviderMessage>> {
        let row = sqlx::query(BY_PROVIDER_ID)
            .bind(provider_msg_id.to_owned())
            .fetch_optional(self.pool())
            .await
            .context("message_by_provider_id")?;
        row.map(|row| {
            Ok(ProviderMessage {
                license_key: row.try_get("license_key")?,
                conversation_id: parse_column(&row, "conversation_id")?,
                message_id: parse_column(&row, "id")?,
            })
        })
        .transpose()
    }

    /// Outbound messages still pending although stored before `stored_before` (epoch ms): their sender
    /// most likely stopped mid-retry; or released by a node that stopped ([`Store::release_delivery`]).
    /// Oldest first.
    pub async fn orphaned_deliveries(&self, stored_before: i64, limit: i64) -> StoreResult<Vec<ProviderMessage>> {
        let rows = sqlx::query(
            "SELECT license_key, conversation_id, id FROM messages
             WHERE delivery = 'pending' AND (created_at < $1 OR delivery_lease = 0)
               AND (delivery_lease IS NULL OR delivery_lease < $2)
             ORDER BY created_at LIMIT $3",
        )
        .bind(stored_before)
        .bind(now_millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("orphaned_deliveries")?;
        rows.iter()
            .map(|row| {
                Ok(ProviderMessage {
                    license_key: row.try_get("license_key")?,
                    conversation_id: parse_column(row, "conversation_id")?,
                    message_id: parse_column(row, "id")?,
                })
            })
            .collect()
    }

    /// Gives a pending delivery up (lease 0) so any node claims it at its next scan: a stopping node's
    /// deliveries resume at once instead of after `OUTBOUND_ORPHAN_SECONDS`.
    pub async fn release_delivery(&self, message_id: &MessageId) -> StoreResult<()> {
        sqlx::query("UPDATE messages SET delivery_lease = 0 WHERE id = $1 AND delivery = 'pending'")
            .bind(message_id.as_str().to_owned())
            .execute(self.pool())
            .await
            .context("release_delivery")?;
        Ok(())
    }

    /// Claims a pending message's delivery until `until` (epoch ms); `false` if another node holds it
    /// or it is no longer pending.
    pub async fn claim_delivery(&self, message_id: &MessageId, until: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE messages SET delivery_lease = $1
             WHERE id = $2 AND delivery = 'pending' AND (delivery_lease IS NULL OR delivery_lease < $3)",
        )
        .bind(until)
        .bind(message_id.as_str().to_owned())
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("claim_delivery")?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of [`Store::message_by_provider_id`]'s lookup, one line per step.
    async fn lookup_plan(store: &Store) -> anyhow::Result<String> {
        let mut conn = store.pool().acquire().await?;
        let (explain, column) = match store.postgres {
            true => {
                // A test table is tiny, where a scan is cheaper: ask whether the index can serve the lookup.
                sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await?;
                ("EXPLAIN", "QUERY PLAN")
            }
            false => ("EXPLAIN QUERY PLAN", "detail"),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{explain} {BY_PROVIDER_ID}")))
            .bind("mid.1")
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.iter().map(|row| row.try_get::<String, _>(column)).collect::<Result<Vec<_>, _>>()?.join("\n"))
    }

    /// The status-callback lookup is served by the provider-id index, partial since migration 20 (it
    /// holds only the messages that have a provider id), on both engines.
    #[tokio::test]
    async fn the_provider_id_lookup_uses_its_partial_index() -> anyhow::Result<()> {
        for (engine, store) in crate::store::test_stores().await? {
            let plan = lookup_plan(&store).await?;
            assert!(plan.contains("messages_by_provider_id"), "{engine}: {plan}");
        }
        Ok(())
    }
}
