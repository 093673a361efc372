//! The statements of a shared commit ([`super`]): each one statement for all the commit's conversations,
//! its rows in one JSON parameter, and the reading of what they return.

use super::{client_key, ClientKey, ConversationAppend};
use crate::domain::{ConversationStatus, Delivery, LicenseKey, Message, MessageId};
use crate::store::messages::{message_from_row, NewMessage, MESSAGE_COLUMNS};
use crate::store::row::Columns;
use crate::store::statement::{Bind, Done, Statement};
use crate::store::{list_placeholders, parse_column, StoreError, StoreResult};
use serde_json::{json, Value};
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

/// The stored messages that share a client id with the commit, keyed by (conversation, sender, client
/// id): one query, its keys in one JSON parameter. `None` when no message of the commit has a client id.
pub(super) fn copies(postgres: bool, appends: &[ConversationAppend]) -> Option<Statement> {
    let keys: Vec<Value> = appends
        .iter()
        .flat_map(|a| a.messages.iter().filter_map(move |m| client_key(a, m)))
        .map(|(conversation, sender, id)| json!([conversation, sender.as_str(), id]))
        .collect();
    if keys.is_empty() {
        return None;
    }
    let sql = format!(
        // Every column of the partial index, and its condition: the planner seeks it for each key
        // (measured: a scan of the conversation was the hottest path).
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE client_msg_id IS NOT NULL AND (conversation_id, sender, client_msg_id) IN
             (SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2 FROM {})",
        json_rows(postgres)
    );
    Some(Statement { sql, binds: vec![Bind::Text(Value::Array(keys).to_string())], prepared: false })
}

/// Reads [`copies`]' rows.
pub(super) fn read_copies(done: &Done) -> StoreResult<HashMap<ClientKey, Message>> {
    let mut copies = HashMap::new();
    for row in &done.rows {
        let message = message_from_row(row)?;
        if let Some(id) = message.client_msg_id.clone() {
            copies.insert((message.conversation_id.as_str().to_owned(), message.sender, id), message);
        }
    }
    Ok(copies)
}

/// Reserves `counts[i]` numbers in conversation `appends[i]` (one UPDATE for all of them), only where
/// the license is active; [`read_numbered`] reads what it reserved. It also reads each conversation's
/// status and whether its license has webhooks, so reopening and the outbox cost a statement each only
/// when a visitor did write to a closed conversation or someone listens, not on every commit.
pub(super) fn number(postgres: bool, appends: &[ConversationAppend], counts: &[i64], now: i64) -> Statement {
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
    Statement { sql, binds: vec![Bind::Text(Value::Array(keys).to_string()), Bind::Int(now)], prepared: false }
}

/// Reads [`number`]'s rows, by conversation id. A conversation missing from them does not exist or has
/// a suspended license.
pub(super) fn read_numbered(done: &Done) -> StoreResult<HashMap<String, Numbered>> {
    done.rows
        .iter()
        .map(|row| {
            let closed = parse_column::<ConversationStatus>(row, "status")? == ConversationStatus::Closed;
            let hooked = row.int("hooked")? != 0;
            Ok((row.text("id")?, Numbered { last_seq: row.int("last_seq")?, closed, hooked }))
        })
        .collect()
}

/// Gives back `returned[i].1` numbers in conversation `returned[i].0`, reserved for messages that
/// turned out to be stored already (one UPDATE); returns each conversation's last number after it.
pub(super) fn unnumber(postgres: bool, returned: &[(&ConversationAppend, i64)]) -> Statement {
    let sql = format!(
        "UPDATE conversations SET last_seq = last_seq - CAST(v.value ->> 2 AS BIGINT) FROM {}
         WHERE conversations.license_key = v.value ->> 0 AND conversations.id = v.value ->> 1
         RETURNING conversations.id, conversations.last_seq",
        json_rows(postgres)
    );
    let keys: Vec<Value> =
        returned.iter().map(|(a, n)| json!([a.license.as_str(), a.conversation_id.as_str(), n])).collect();
    Statement { sql, binds: vec![Bind::Text(Value::Array(keys).to_string())], prepared: false }
}

/// Reads [`unnumber`]'s rows into `numbered`.
pub(super) fn read_unnumbered(done: &Done, numbered: &mut HashMap<String, Numbered>) -> StoreResult<()> {
    for row in &done.rows {
        if let Some(n) = numbered.get_mut(&row.text("id")?) {
            n.last_seq = row.int("last_seq")?;
        }
    }
    Ok(())
}

/// Opens `closed`, the closed conversations a visitor wrote to (numbered just before, on this
/// transaction, so their licenses are active and their rows locked): one UPDATE.
pub(super) fn reopen(postgres: bool, closed: &[&ConversationAppend]) -> Statement {
    let sql = format!(
        "UPDATE conversations SET status = 'open' FROM {}
         WHERE conversations.license_key = v.value ->> 0 AND conversations.id = v.value ->> 1",
        json_rows(postgres)
    );
    Statement { sql, binds: vec![Bind::Text(conversation_keys(closed.iter().copied()))], prepared: false }
}

/// Which of `licenses` are suspended (asked only for conversations the numbering skipped); see
/// [`read_suspended`].
pub(super) fn suspended_licenses(licenses: &[&LicenseKey]) -> Statement {
    let sql = format!(
        "SELECT license_key FROM licenses WHERE status = 'suspended' AND license_key IN ({})",
        list_placeholders(licenses.len())
    );
    let binds = licenses.iter().map(|l| Bind::Text(l.as_str().to_owned())).collect();
    Statement { sql, binds, prepared: true }
}

/// Reads [`suspended_licenses`]' rows.
pub(super) fn read_suspended(done: &Done) -> StoreResult<HashSet<String>> {
    done.rows.iter().map(|row| row.text("license_key")).collect()
}

/// The numbered messages of every conversation, stored by one INSERT (its rows in one JSON parameter),
/// by conversation id in numbering order, and that INSERT. Every column is known before the statement,
/// so the stored copies are built here and the engine returns nothing: reading a commit's rows back (a
/// typed row each, every column looked up by name) cost more than writing them.
pub(super) fn insert(
    postgres: bool,
    rows: &[(&ConversationAppend, i64, &NewMessage)],
    now: i64,
) -> StoreResult<(Vec<Message>, Statement)> {
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
    Ok((messages, Statement { sql, binds: vec![Bind::Text(values), Bind::Int(now)], prepared: true }))
}

/// The FROM item that reads the JSON array bound as `$1` as rows `v.value`: the one part of these
/// statements the engines spell differently. Both hand each row over as binary JSONB, which `->>` reads
/// as it is: as text (SQLite's `json_each`, PostgreSQL's `json_array_elements`), every `->>` parsed its
/// row again (on PostgreSQL a third of the INSERT's time at 2,000 rows, measured with auto_explain). One parameter
/// however many rows: sqlx's SQLite driver looks each parameter up by name, which made binding thousands
/// of them cost quadratic time.
fn json_rows(postgres: bool) -> &'static str {
    if postgres {
        "jsonb_array_elements($1::jsonb) AS v(value)"
    } else {
        "jsonb_each($1) AS v"
    }
}
