//! The statements of a shared commit ([`super`]): each one statement for all the commit's conversations,
//! its rows in one JSON parameter.

use super::ConversationAppend;
use crate::domain::{ConversationStatus, Delivery, LicenseKey, Message, MessageId};
use crate::store::messages::NewMessage;
use crate::store::{list_placeholders, parse_column, StoreError, StoreResult};
use serde_json::{json, Value};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// The license check every write of a conversation makes in its own statement.
const LICENSE_ACTIVE: &str = "EXISTS (SELECT 1 FROM licenses
    WHERE licenses.license_key = conversations.license_key AND licenses.status = 'active')";

/// `[[license, id], …]` of `appends`: the conversations a statement updates, as one JSON parameter.
fn conversation_keys<'a>(appends: impl Iterator<Item = &'a ConversationAppend>) -> String {
    let keys: Vec<Value> = appends.map(|a| json!([a.license.as_str(), a.conversation_id.as_str()])).collect();
    Value::Array(keys).to_string()
}

/// A conversation the numbering UPDATE reached: the last number it reserved, whether the conversation
/// is closed (so a visitor's message reopens it) and whether its license has an enabled webhook endpoint.
pub(super) struct Numbered {
    /// The last number reserved.
    pub(super) last_seq: i64,
    /// Whether the conversation was closed when it was numbered.
    pub(super) closed: bool,
    /// Whether its license has an enabled webhook endpoint (else the outbox has nothing to read).
    pub(super) hooked: bool,
}

/// Reserves `counts[i]` numbers in conversation `appends[i]` (one UPDATE for all of them), only where
/// the license is active. Returns what it reserved, by conversation id; a conversation missing from it
/// does not exist or has a suspended license. It also reads each conversation's status and whether its
/// license has webhooks, so reopening and the outbox cost a statement each only when a visitor did
/// write to a closed conversation or someone listens, not on every commit (on SQLite every statement is
/// a round trip to its worker thread).
pub(super) async fn number(
    conn: &mut AnyConnection,
    postgres: bool,
    appends: &[ConversationAppend],
    counts: &[i64],
    now: i64,
) -> StoreResult<HashMap<String, Numbered>> {
    let sql = format!(
        "UPDATE conversations SET last_seq = last_seq + CAST(v.value ->> 2 AS BIGINT), updated_at = $2 FROM {}
         WHERE conversations.license_key = v.value ->> 0 AND conversations.id = v.value ->> 1 AND {LICENSE_ACTIVE}
         RETURNING conversations.id, conversations.last_seq, conversations.status,
             CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints AS w
                 WHERE w.license_key = conversations.license_key AND w.enabled = 1) THEN 1 ELSE 0 END AS hooked",
        json_rows(postgres)
    );
    let keys: Vec<Value> = appends
        .iter()
        .zip(counts)
        .map(|(a, count)| json!([a.license.as_str(), a.conversation_id.as_str(), count]))
        .collect();
    let rows = joined(&sql, postgres).bind(Value::Array(keys).to_string()).bind(now).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            let closed = parse_column::<ConversationStatus>(row, "status")? == ConversationStatus::Closed;
            let hooked = row.try_get::<i64, _>("hooked")? != 0;
            Ok((row.try_get::<String, _>("id")?, Numbered { last_seq: row.try_get("last_seq")?, closed, hooked }))
        })
        .collect()
}

/// Opens `closed`, the closed conversations a visitor wrote to (numbered just before, on this
/// transaction, so their licenses are active and their rows locked): one UPDATE.
pub(super) async fn reopen(
    conn: &mut AnyConnection,
    postgres: bool,
    closed: &[&ConversationAppend],
) -> StoreResult<()> {
    if closed.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE conversations SET status = 'open' FROM {}
         WHERE conversations.license_key = v.value ->> 0 AND conversations.id = v.value ->> 1",
        json_rows(postgres)
    );
    joined(&sql, postgres).bind(conversation_keys(closed.iter().copied())).execute(&mut *conn).await?;
    Ok(())
}

/// Which of `licenses` are suspended (asked only for conversations the numbering skipped).
pub(super) async fn suspended_licenses(
    conn: &mut AnyConnection,
    licenses: &[&LicenseKey],
) -> StoreResult<HashSet<String>> {
    if licenses.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT license_key FROM licenses WHERE status = 'suspended' AND license_key IN ({})",
        list_placeholders(licenses.len())
    );
    let mut query = sqlx::query(&sql);
    for license in licenses {
        query = query.bind(license.as_str().to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok(row.try_get::<String, _>("license_key")?)).collect()
}

/// Inserts the numbered messages of every conversation in one INSERT, its rows in one JSON parameter.
/// Returns them by conversation id, in numbering order. Every column is known before the statement, so
/// the stored copies are built here and the engine returns nothing: reading a commit's rows back (a
/// typed row each, every column looked up by name) cost more than writing them.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    postgres: bool,
    rows: &[(&ConversationAppend, i64, &NewMessage)],
    now: i64,
) -> StoreResult<HashMap<String, Vec<Message>>> {
    let mut stored: HashMap<String, Vec<Message>> = HashMap::new();
    if rows.is_empty() {
        return Ok(stored);
    }
    let messages: Vec<Message> = rows
        .iter()
        .map(|(append, seq, new)| Message {
            id: MessageId::generate(),
            conversation_id: append.conversation_id.clone(),
            seq: *seq,
            sender: new.sender,
            kind: new.kind,
            text: new.text.clone(),
            client_msg_id: new.client_msg_id.clone(),
            author_id: new.author_id.clone(),
            delivery: new.delivery,
            created_at: now,
        })
        .collect();
    // Tuples serialise as JSON arrays: the parameter is written straight to text, with no JSON tree between.
    let values: Vec<_> = rows
        .iter()
        .zip(&messages)
        .map(|((append, _, _), m)| {
            (
                m.id.as_str(),
                m.conversation_id.as_str(),
                append.license.as_str(),
                m.seq,
                m.sender.as_str(),
                m.kind.as_str(),
                m.text.as_str(),
                m.client_msg_id.as_deref(),
                m.author_id.as_ref().map(|a| a.as_str()),
                m.delivery.map(Delivery::as_str),
            )
        })
        .collect();
    let values = serde_json::to_string(&values).map_err(|e| StoreError::Corrupt(format!("batch rows: {e}")))?;
    let sql = format!(
        "INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, client_msg_id,
             author_id, delivery, created_at)
         SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2, CAST(v.value ->> 3 AS BIGINT), v.value ->> 4,
             v.value ->> 5, v.value ->> 6, v.value ->> 7, v.value ->> 8, v.value ->> 9, $2
         FROM {}",
        json_rows(postgres)
    );
    let done = sqlx::query(&sql).bind(values).bind(now).execute(&mut *conn).await?;
    if usize::try_from(done.rows_affected()).ok() != Some(messages.len()) {
        return Err(StoreError::Corrupt("batch insert lost a row".into()));
    }
    for message in messages {
        stored.entry(message.conversation_id.as_str().to_owned()).or_default().push(message);
    }
    Ok(stored)
}

/// A statement that joins the JSON rows to a table that grows (`messages`, `conversations`). On PostgreSQL it
/// is planned afresh at each execution (an unnamed statement), never run from a generic plan cached while the
/// table was small: one cached when `messages` held a few hundred rows (a hash join over a sequential scan)
/// went on reading the whole table at every commit as it grew. At 10,000 widget messages a second that was
/// 84–96 million rows read in a 20-second run, PostgreSQL at ~24 CPU-s instead of ~17 and an ack p50 of ~90
/// instead of ~15 ms, in the runs that happened to cache it (issue 14). SQLite plans from the schema alone:
/// there the statement stays prepared.
pub(super) fn joined(sql: &str, postgres: bool) -> Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(sql).persistent(!postgres)
}

/// The FROM item that reads the JSON array bound as `$1` as rows `v.value`: the one part of these
/// statements the engines spell differently. One parameter however many rows: sqlx's SQLite driver
/// looks each parameter up by name, which made binding thousands of them cost quadratic time.
pub(super) fn json_rows(postgres: bool) -> &'static str {
    if postgres {
        "json_array_elements($1::json) AS v(value)"
    } else {
        "json_each($1) AS v"
    }
}
