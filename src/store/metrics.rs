//! The numbers behind `metrics:updated`, computed from the store so every node agrees.

use super::{Context, Store, StoreResult};
use crate::domain::{BusinessHours, LicenseKey, UserId};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// Stored counts for a license.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMetrics {
    /// Conversations not closed.
    pub open_conversations: i64,
    /// Messages stored since `since`.
    pub messages_since: i64,
    /// Median first-response time of conversations started since `since`.
    pub median_first_response_ms: Option<i64>,
    /// Satisfaction ratings given since `since`.
    pub csat_responses: i64,
    /// Their average (1–5).
    pub csat_average: Option<f64>,
}

/// How one conversation was first answered.
struct FirstResponse {
    asked: Option<i64>,
    answered: Option<i64>,
    answered_by: Option<UserId>,
}

impl FirstResponse {
    /// Milliseconds from the first visitor message to the first reply, when both exist in that order;
    /// with `hours`, only those while the team was open.
    fn wait(&self, hours: Option<&BusinessHours>) -> Option<i64> {
        match (self.asked, self.answered) {
            (Some(asked), Some(answered)) if answered >= asked => {
                Some(hours.map_or(answered - asked, |h| h.open_millis_between(asked, answered)))
            }
            _ => None,
        }
    }
}

/// One member's numbers over a window.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct MemberMetrics {
    /// The member.
    pub member_id: UserId,
    /// Open conversations assigned to them now.
    pub open_conversations: i64,
    /// Replies they wrote (notes excluded).
    pub replies: i64,
    /// Conversations started in the window whose first reply was theirs.
    pub conversations_answered_first: i64,
    /// Median time to those first replies.
    pub median_first_response_ms: Option<i64>,
}

/// The team's numbers over a window.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct TeamMetrics {
    /// Median first-response time of the conversations started in the window (any answerer).
    pub median_first_response_ms: Option<i64>,
    /// Each active member.
    pub members: Vec<MemberMetrics>,
}

impl Store {
    /// Counts for `license`, "today" meaning from `since` (epoch milliseconds).
    pub async fn metrics(&self, license: &LicenseKey, since: i64) -> StoreResult<StoredMetrics> {
        let counts = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM conversations WHERE license_key = $1 AND status = 'open') AS open_conversations,
                    (SELECT COUNT(*) FROM messages WHERE license_key = $1 AND created_at >= $2) AS messages_since,
                    (SELECT COUNT(*) FROM conversations WHERE license_key = $1 AND csat_at >= $2) AS csat_responses,
                    (SELECT CAST(SUM(csat_rating) AS BIGINT) FROM conversations WHERE license_key = $1 AND csat_at >= $2) AS csat_sum",
        )
        .bind(license.as_str().to_owned())
        .bind(since)
        .fetch_one(self.pool())
        .await.context("metrics")?;
        let mut waits: Vec<i64> =
            self.first_responses(license, since).await?.iter().filter_map(|f| f.wait(None)).collect();
        waits.sort_unstable();
        let csat_responses: i64 = counts.try_get("csat_responses")?;
        let csat_sum: Option<i64> = counts.try_get("csat_sum")?;
        Ok(StoredMetrics {
            open_conversations: counts.try_get("open_conversations")?,
            messages_since: counts.try_get("messages_since")?,
            median_first_response_ms: waits.get(waits.len() / 2).copied(),
            csat_responses,
            // Rounded to two decimals: 4.67, not 4.666…
            csat_average: csat_sum
                .filter(|_| csat_responses > 0)
                .map(|sum| (sum as f64 * 100.0 / csat_responses as f64).round() / 100.0),
        })
    }

    /// How each conversation started since `since` was first answered: the first visitor message and
    /// the first agent reply (never a note) with its author. Bounded by the conversations started in the
    /// window, whatever the history: each looks only at its own messages.
    async fn first_responses(&self, license: &LicenseKey, since: i64) -> StoreResult<Vec<FirstResponse>> {
        let first_reply = "FROM messages a WHERE a.conversation_id = c.id AND a.sender = 'agent' AND a.kind <> 'note'
                           ORDER BY a.seq LIMIT 1";
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT (SELECT MIN(created_at) FROM messages v WHERE v.conversation_id = c.id AND v.sender = 'visitor') AS asked,
                    (SELECT a.created_at {first_reply}) AS answered,
                    (SELECT a.author_id {first_reply}) AS answered_by
             FROM conversations c WHERE c.license_key = $1 AND c.created_at >= $2"
        )))
        .bind(license.as_str().to_owned())
        .bind(since)
        .fetch_all(self.pool())
        .await
        .context("first_responses")?;
        rows.iter()
            .map(|row| {
                Ok(FirstResponse {
                    asked: row.try_get("asked")?,
                    answered: row.try_get("answered")?,
                    answered_by: super::parse_optional_column(row, "answered_by")?,
                })
            })
            .collect()
    }

    /// Each member's numbers since `since`: open conversations assigned to them, replies written,
    /// conversations they answered first and their median first-response time, and the team's median;
    /// with `hours`, first responses count only the time the team was open (computed here from the same
    /// rows, so the query costs the same).
    pub async fn member_metrics(
        &self,
        license: &LicenseKey,
        since: i64,
        hours: Option<&BusinessHours>,
    ) -> StoreResult<TeamMetrics> {
        let open = self.open_load(license).await?;
        let replies = sqlx::query(
            "SELECT author_id, COUNT(*) AS n FROM messages
             WHERE license_key = $1 AND created_at >= $2 AND sender = 'agent' AND kind <> 'note' AND author_id IS NOT NULL
             GROUP BY author_id",
        )
        .bind(license.as_str().to_owned())
        .bind(since)
        .fetch_all(self.pool())
        .await
        .context("member_metrics")?;
        let mut replies_by: HashMap<UserId, i64> = HashMap::new();
        for row in &replies {
            replies_by.insert(super::parse_column(row, "author_id")?, row.try_get("n")?);
        }
        let mut waits_by: HashMap<UserId, Vec<i64>> = HashMap::new();
        let mut all = Vec::new();
        for first in self.first_responses(license, since).await? {
            let Some(wait) = first.wait(hours) else { continue };
            all.push(wait);
            if let Some(author) = first.answered_by {
                waits_by.entry(author).or_default().push(wait);
            }
        }
        all.sort_unstable();
        let members = self.members(license).await?;
        let members = members
            .into_iter()
            .filter(|m| m.status == "active")
            .map(|m| {
                let mut waits = waits_by.remove(&m.id).unwrap_or_default();
                waits.sort_unstable();
                MemberMetrics {
                    open_conversations: open.get(&m.id).copied().unwrap_or(0),
                    replies: replies_by.get(&m.id).copied().unwrap_or(0),
                    conversations_answered_first: waits.len() as i64,
                    median_first_response_ms: waits.get(waits.len() / 2).copied(),
                    member_id: m.id,
                }
            })
            .collect();
        Ok(TeamMetrics { median_first_response_ms: all.get(all.len() / 2).copied(), members })
    }

    /// Conversations of `license` not closed (one indexed count).
    pub async fn open_conversations(&self, license: &LicenseKey) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS open FROM conversations WHERE license_key = $1 AND status = 'open'")
            .bind(license.as_str().to_owned())
            .fetch_one(self.pool())
            .await
            .context("open_conversations")?;
        Ok(row.try_get("open")?)
    }
}
