//! Outbound delivery attempts, written as intents: a row *before* each provider call (`in_flight`),
//! completed after it. An attempt still in flight when another node resumes the delivery means the
//! provider may have the message (its node stopped mid-call), so it is not sent again.

use super::{Context, Store, StoreResult};
use crate::domain::{new_id, now_millis, LicenseKey, MessageId};
use serde::Serialize;
use sqlx::Row;

/// What became of one provider call, as stored in `delivery_attempts.outcome`.
pub mod outcome {
    /// Written before the call; still there means nobody learnt how it ended.
    pub const IN_FLIGHT: &str = "in_flight";
    /// The provider took the message.
    pub const SENT: &str = "sent";
    /// A failure worth another attempt (connection refused, 5xx).
    pub const RETRY: &str = "retry";
    /// A failure that ends the delivery (4xx, retries spent).
    pub const FAILED: &str = "failed";
    /// The request went out but no answer was recorded: the provider may have the message.
    pub const UNKNOWN: &str = "unknown";
}

/// One provider call for an outbound message, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAttempt {
    /// 1 for the first call.
    pub attempt: i64,
    /// `in_flight`, `sent`, `retry`, `failed` or `unknown` (`null` for attempts stored before intents).
    pub outcome: Option<String>,
    /// The provider's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// What went wrong.
    pub error: Option<String>,
    /// When the call started, epoch ms.
    pub created_at: i64,
    /// When its outcome was recorded.
    pub finished_at: Option<i64>,
}

impl Store {
    /// Records the intent to call the provider for attempt `attempt` of a message; answers the attempt's id.
    pub async fn begin_attempt(
        &self,
        license: &LicenseKey,
        message_id: &MessageId,
        attempt: i64,
    ) -> StoreResult<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO delivery_attempts (id, message_id, license_key, attempt, outcome, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.clone())
        .bind(message_id.as_str().to_owned())
        .bind(license.as_str().to_owned())
        .bind(attempt)
        .bind(outcome::IN_FLIGHT)
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("begin_attempt")?;
        Ok(id)
    }

    /// Records how an attempt ended (`outcome`: one of [`outcome`]'s).
    pub async fn finish_attempt(
        &self,
        attempt_id: &str,
        outcome: &str,
        status_code: Option<u16>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE delivery_attempts SET outcome = $2, status_code = $3, error = $4, finished_at = $5
             WHERE id = $1 AND outcome = 'in_flight'",
        )
        .bind(attempt_id.to_owned())
        .bind(outcome.to_owned())
        .bind(status_code.map(i64::from))
        .bind(error.map(str::to_owned))
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("finish_attempt")?;
        Ok(())
    }

    /// The id of a message's attempt whose call started but never finished, if any.
    pub async fn unfinished_attempt(&self, message_id: &MessageId) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT id FROM delivery_attempts WHERE message_id = $1 AND outcome = 'in_flight' LIMIT 1")
            .bind(message_id.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .context("unfinished_attempt")
    }

    /// The provider's id for the license's outbound message, once it answered.
    pub async fn provider_msg_id(&self, license: &LicenseKey, message_id: &MessageId) -> StoreResult<Option<String>> {
        let id: Option<Option<String>> =
            sqlx::query_scalar("SELECT provider_msg_id FROM messages WHERE license_key = $1 AND id = $2")
                .bind(license.as_str().to_owned())
                .bind(message_id.as_str().to_owned())
                .fetch_optional(self.pool())
                .await
                .context("provider_msg_id")?;
        Ok(id.flatten())
    }

    /// Every attempt to send the license's message `message_id`, in order.
    pub async fn delivery_attempts(
        &self,
        license: &LicenseKey,
        message_id: &MessageId,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT attempt, outcome, status_code, error, created_at, finished_at FROM delivery_attempts
             WHERE license_key = $1 AND message_id = $2 ORDER BY attempt, created_at",
        )
        .bind(license.as_str().to_owned())
        .bind(message_id.as_str().to_owned())
        .fetch_all(self.pool())
        .await
        .context("delivery_attempts")?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    attempt: row.try_get("attempt")?,
                    outcome: row.try_get("outcome")?,
                    status_code: row.try_get("status_code")?,
                    error: row.try_get("error")?,
                    created_at: row.try_get("created_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            })
            .collect()
    }
}
