//! The audit trail: append-only. This module inserts and reads rows; nothing here (or anywhere) updates
//! or deletes one.

use super::{parse_column, Context, Store, StoreError, StoreResult};
use crate::domain::{new_id, now_millis, ActorKind, AuditAction, LicenseKey};
use serde::Serialize;
use sqlx::{any::AnyRow, AssertSqlSafe, Row};

/// An event to append.
#[derive(Debug, Clone, Serialize)]
pub struct NewAuditEntry {
    /// The tenant it belongs to; `None` for deployment-wide events.
    pub license_key: Option<LicenseKey>,
    /// Who acted.
    pub actor_kind: ActorKind,
    /// Which one of them, when known.
    pub actor_id: Option<String>,
    /// What they did.
    pub action: AuditAction,
    /// What it was done to.
    pub target: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// Details particular to the action (a JSON object).
    pub metadata: serde_json::Value,
}

/// A stored event, as the audit APIs show it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Server id.
    pub id: String,
    /// What happened, as it was recorded.
    #[serde(flatten)]
    pub event: NewAuditEntry,
    /// When, epoch milliseconds.
    pub created_at: i64,
}

/// Which events to read. Every field narrows; `license` is `None` only for the operator's view.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this tenant's events.
    pub license: Option<LicenseKey>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this kind of actor.
    pub actor_kind: Option<ActorKind>,
    /// Only this actor.
    pub actor_id: Option<String>,
    /// From this time on (epoch ms, inclusive).
    pub since: Option<i64>,
    /// Before this time (epoch ms, exclusive).
    pub until: Option<i64>,
}

/// Where a page starts: after the last event of the previous page (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    /// That event's time.
    pub created_at: i64,
    /// That event's id.
    pub id: String,
}

const AUDIT_COLUMNS: &str =
    "id, license_key, actor_kind, actor_id, action, target, ip, user_agent, metadata, created_at";

fn entry_from_row(row: &AnyRow) -> StoreResult<AuditEntry> {
    let license: Option<String> = row.try_get("license_key")?;
    let metadata: String = row.try_get("metadata")?;
    let event = NewAuditEntry {
        license_key: license.map(|k| LicenseKey::parse(&k).map_err(|e| StoreError::Corrupt(e.0))).transpose()?,
        actor_kind: parse_column(row, "actor_kind")?,
        actor_id: row.try_get("actor_id")?,
        action: parse_column(row, "action")?,
        target: row.try_get("target")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        metadata: serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?,
    };
    Ok(AuditEntry { id: row.try_get("id")?, event, created_at: row.try_get("created_at")? })
}

impl Store {
    /// Appends one event.
    pub async fn record_audit(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO audit_logs ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(new_id())
        .bind(entry.license_key.as_ref().map(|k| k.as_str().to_owned()))
        .bind(entry.actor_kind.as_str())
        .bind(entry.actor_id.clone())
        .bind(entry.action.as_str())
        .bind(entry.target.clone())
        .bind(entry.ip.clone())
        .bind(entry.user_agent.clone())
        .bind(entry.metadata.to_string())
        .bind(now_millis())
        .execute(self.pool())
        .await
        .context("record_audit")?;
        Ok(())
    }

    /// A page of events matching `filter`, newest first, after `cursor`.
    pub async fn audit_logs(
        &self,
        filter: &AuditFilter,
        cursor: Option<&AuditCursor>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        // Each condition is always present and switched off by a NULL parameter, so the statement is
        // one fixed text for both engines (and one prepared statement).
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_logs
             WHERE ($1 IS NULL OR license_key = $1)
               AND ($2 IS NULL OR action = $2)
               AND ($3 IS NULL OR actor_kind = $3)
               AND ($4 IS NULL OR actor_id = $4)
               AND ($5 IS NULL OR created_at >= $5)
               AND ($6 IS NULL OR created_at < $6)
               AND ($7 IS NULL OR created_at < $7 OR (created_at = $7 AND id < $8))
             ORDER BY created_at DESC, id DESC
             LIMIT $9"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(filter.license.as_ref().map(|k| k.as_str().to_owned()))
            .bind(filter.action.map(AuditAction::as_str))
            .bind(filter.actor_kind.map(ActorKind::as_str))
            .bind(filter.actor_id.clone())
            .bind(filter.since)
            .bind(filter.until)
            .bind(cursor.map(|c| c.created_at))
            .bind(cursor.map(|c| c.id.clone()).unwrap_or_default())
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .context("audit_logs")?;
        rows.iter().map(entry_from_row).collect()
    }
}
