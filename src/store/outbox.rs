//! The webhook outbox: what a change writes, inside its own transaction, for the tenant's webhook endpoints.
//!
//! [`enqueue`] runs on the transaction of the change (message insert, status change, assignment, delivery
//! state), so the event exists exactly when the change does: a crash can neither lose one nor announce a
//! change that rolled back. It fans out at once, one delivery row per subscribed endpoint, instead of
//! leaving that to a dispatcher: no second loop to lease, and a license without endpoints pays one indexed
//! read. A conversation's events are numbered by `conversations.webhook_seq`, whose row lock serialises
//! writers, so the numbers follow commit order and workers can send each conversation's events in order.

use super::row::Columns;
use super::statement::{Bind, Run, Statement};
use super::webhook_payload::{payload, ConversationContext, EventData};
use super::{Context, Placeholders, StoreResult};
use crate::domain::{new_id, now_millis, ConversationId, LicenseKey, WebhookEndpointId, WebhookEvent};
use serde_json::{json, Value};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// Rows per multi-row INSERT: well under both engines' limit on bound parameters.
const ROWS_PER_INSERT: usize = 100;

/// One event of a change, before it is numbered: its kind and its `data` object.
pub(super) type Change = (WebhookEvent, Value);

/// The events one change (or one shared commit's batch) made in one conversation.
pub(super) struct ConversationChanges<'a> {
    /// The conversation's license.
    pub license: &'a LicenseKey,
    /// The conversation.
    pub conversation_id: &'a ConversationId,
    /// Its events, in order.
    pub changes: Vec<(WebhookEvent, EventData<'a>)>,
}

/// A change and the endpoints subscribed to its event.
type Addressed<'a> = (&'a (WebhookEvent, EventData<'a>), Vec<WebhookEndpointId>);

/// A license's enabled endpoints and the events each subscribes to.
type Endpoints = Vec<(WebhookEndpointId, Vec<WebhookEvent>)>;

/// An event ready to store: its id, body, ordering and the endpoints it goes to.
struct Outgoing {
    id: String,
    license: LicenseKey,
    event: WebhookEvent,
    payload: String,
    ordering_key: String,
    position: i64,
    endpoints: Vec<WebhookEndpointId>,
}

/// Writes `changes` of conversation `conversation_id` to the outbox, with a delivery for each enabled
/// endpoint of the license subscribed to the event. Returns whether anything was written.
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    license: &LicenseKey,
    conversation_id: &ConversationId,
    changes: &[Change],
    retry_window_ms: i64,
) -> StoreResult<bool> {
    let changes = changes.iter().map(|(event, data)| (*event, EventData::Ready(data.clone()))).collect();
    let one = ConversationChanges { license, conversation_id, changes };
    enqueue_many(conn, std::slice::from_ref(&one), retry_window_ms).await
}

/// Like [`enqueue`] for the events of many conversations (a shared commit): one read of the endpoints,
/// one numbering UPDATE and multi-row INSERTs, whatever the number of conversations.
pub(super) async fn enqueue_many(
    conn: &mut impl Run,
    conversations: &[ConversationChanges<'_>],
    retry_window_ms: i64,
) -> StoreResult<bool> {
    let mut licenses: Vec<&LicenseKey> =
        conversations.iter().filter(|c| !c.changes.is_empty()).map(|c| c.license).collect();
    licenses.sort();
    licenses.dedup();
    if licenses.is_empty() {
        return Ok(false);
    }
    let endpoints = subscribed_endpoints(conn, &licenses).await?;
    let subscribed = |license: &LicenseKey, event: &WebhookEvent| -> Vec<WebhookEndpointId> {
        endpoints
            .get(license.as_str())
            .map(|list| list.iter().filter(|(_, events)| events.contains(event)).map(|(id, _)| id.clone()).collect())
            .unwrap_or_default()
    };
    // Per conversation, the events someone subscribed to, with their endpoints.
    let wanted: Vec<(&ConversationChanges, Vec<Addressed>)> = conversations
        .iter()
        .map(|c| {
            let events = c
                .changes
                .iter()
                .map(|change| (change, subscribed(c.license, &change.0)))
                .filter(|(_, to)| !to.is_empty())
                .collect::<Vec<_>>();
            (c, events)
        })
        .filter(|(_, events)| !events.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(false);
    }
    let counts: Vec<(&LicenseKey, &ConversationId, i64)> = wanted
        .iter()
        .map(|(c, events)| (c.license, c.conversation_id, i64::try_from(events.len()).unwrap_or(i64::MAX)))
        .collect();
    let numbered = number_events(conn, &counts).await?;
    let now = now_millis();
    let mut outgoing = Vec::new();
    for (c, events) in wanted {
        // A conversation that vanished meanwhile has nothing to announce.
        let Some((last, context)) = numbered.get(c.conversation_id.as_str()) else { continue };
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        for (position, ((event, data), endpoints)) in (last - count + 1..).zip(events) {
            let id = format!("evt_{}", new_id());
            let payload = payload(&id, *event, now, Some(context), data.to_value()).to_string();
            let ordering_key = context.id.clone();
            outgoing.push(Outgoing {
                id,
                license: c.license.clone(),
                event: *event,
                payload,
                ordering_key,
                position,
                endpoints,
            });
        }
    }
    if outgoing.is_empty() {
        return Ok(false);
    }
    store(conn, &outgoing, now, retry_window_ms).await?;
    Ok(true)
}

/// Reserves `count` event numbers in each conversation (one UPDATE for all of them). Returns, per
/// conversation id, the last number reserved and what its events say about the conversation.
async fn number_events(
    conn: &mut impl Run,
    counts: &[(&LicenseKey, &ConversationId, i64)],
) -> StoreResult<HashMap<String, (i64, ConversationContext)>> {
    let mut binds = Placeholders::default();
    let cases: String = counts.iter().map(|_| format!(" WHEN {} THEN {}", binds.next(), binds.next())).collect();
    let pairs: Vec<String> =
        counts.iter().map(|_| format!("(license_key = {} AND id = {})", binds.next(), binds.next())).collect();
    let sql = format!(
        "UPDATE conversations SET webhook_seq = webhook_seq + CASE id{cases} ELSE 0 END WHERE {}
         RETURNING id, webhook_seq, contact_id, channel, metadata",
        pairs.join(" OR ")
    );
    let cases = counts.iter().flat_map(|(_, id, count)| [Bind::from(id.as_str()), Bind::Int(*count)]);
    let pairs = counts.iter().flat_map(|(license, id, _)| [Bind::from(license.as_str()), Bind::from(id.as_str())]);
    let statement = Statement::new(sql, cases.chain(pairs).collect());
    let done = conn.rows(&statement).await.context("outbox")?;
    let mut numbered = HashMap::with_capacity(done.len());
    for row in &done {
        let id = row.text("id")?;
        let metadata = row.text("metadata")?;
        let context = ConversationContext {
            id: id.clone(),
            contact_id: row.text("contact_id")?,
            channel: row.text("channel")?,
            metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        };
        numbered.insert(id, (row.int("webhook_seq")?, context));
    }
    Ok(numbered)
}

/// Writes a license-wide event (outside any conversation, so it waits for nothing) for every enabled
/// endpoint subscribed to it. Returns whether anything was written.
async fn enqueue_license_event(
    conn: &mut impl Run,
    license: &LicenseKey,
    event: WebhookEvent,
    data: Value,
    retry_window_ms: i64,
) -> StoreResult<bool> {
    let endpoints: Vec<WebhookEndpointId> = subscribed_endpoints(conn, &[license])
        .await?
        .remove(license.as_str())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, events)| events.contains(&event))
        .map(|(id, _)| id)
        .collect();
    if endpoints.is_empty() {
        return Ok(false);
    }
    let id = format!("evt_{}", new_id());
    let now = now_millis();
    let payload = payload(&id, event, now, None, data).to_string();
    let outgoing =
        Outgoing { id: id.clone(), license: license.clone(), event, payload, ordering_key: id, position: 0, endpoints };
    store(conn, &[outgoing], now, retry_window_ms).await?;
    Ok(true)
}

/// Writes a `test` event for one endpoint (outside any conversation, so it waits for nothing).
pub(super) async fn enqueue_test(
    conn: &mut impl Run,
    license: &LicenseKey,
    endpoint: &WebhookEndpointId,
    retry_window_ms: i64,
) -> StoreResult<String> {
    let id = format!("evt_{}", new_id());
    let now = now_millis();
    let data = json!({ "message": "A test event from Switchboard: your endpoint is reachable." });
    let payload = payload(&id, WebhookEvent::Test, now, None, data).to_string();
    let outgoing = Outgoing {
        id: id.clone(),
        license: license.clone(),
        event: WebhookEvent::Test,
        payload,
        ordering_key: id.clone(),
        position: 0,
        endpoints: vec![endpoint.clone()],
    };
    store(conn, &[outgoing], now, retry_window_ms).await?;
    Ok(id)
}

/// The enabled endpoints of `licenses` and the events each subscribes to, by license key: one query.
async fn subscribed_endpoints(
    conn: &mut impl Run,
    licenses: &[&LicenseKey],
) -> StoreResult<HashMap<String, Endpoints>> {
    let sql = format!(
        "SELECT license_key, id, events FROM webhook_endpoints WHERE enabled = 1 AND license_key IN ({})",
        super::list_placeholders(licenses.len())
    );
    let statement = Statement::new(sql, licenses.iter().map(|license| Bind::from(license.as_str())).collect());
    let rows = conn.rows(&statement).await.context("outbox")?;
    let mut endpoints: HashMap<String, Endpoints> = HashMap::new();
    for row in &rows {
        let license = row.text("license_key")?;
        let id: WebhookEndpointId = super::parse_column(row, "id")?;
        let events = row.text("events")?;
        endpoints.entry(license).or_default().push((id, super::webhook_endpoints::parse_events(&events)?));
    }
    Ok(endpoints)
}

/// Inserts the events and one pending delivery per (event, subscribed endpoint).
async fn store(conn: &mut impl Run, outgoing: &[Outgoing], now: i64, retry_window_ms: i64) -> StoreResult<()> {
    let retry_until = now.saturating_add(retry_window_ms);
    let mut inserts = Vec::new();
    for chunk in outgoing.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO webhook_events (id, license_key, event, conversation_id, payload, created_at) VALUES {}",
            super::values_placeholders(chunk.len(), 6)
        );
        let binds = chunk.iter().flat_map(|event| {
            let conversation = (event.position > 0).then(|| event.ordering_key.clone());
            [
                Bind::from(event.id.as_str()),
                Bind::from(event.license.as_str()),
                Bind::from(event.event.as_str()),
                Bind::from(conversation),
                Bind::from(event.payload.as_str()),
                Bind::Int(now),
            ]
        });
        inserts.push(Statement::new(sql, binds.collect()));
    }
    let deliveries: Vec<(&Outgoing, &WebhookEndpointId)> =
        outgoing.iter().flat_map(|event| event.endpoints.iter().map(move |id| (event, id))).collect();
    for chunk in deliveries.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, license_key, ordering_key, position, status,
                 next_attempt_at, retry_until, created_at, updated_at) VALUES {}",
            super::values_placeholders(chunk.len(), 11)
        );
        let binds = chunk.iter().flat_map(|(event, endpoint)| {
            [
                Bind::from(new_id()),
                Bind::from(event.id.as_str()),
                Bind::from(endpoint.as_str()),
                Bind::from(event.license.as_str()),
                Bind::from(event.ordering_key.as_str()),
                Bind::Int(event.position),
                Bind::from("pending"),
                Bind::Int(now),
                Bind::Int(retry_until),
                Bind::Int(now),
                Bind::Int(now),
            ]
        });
        inserts.push(Statement::new(sql, binds.collect()));
    }
    conn.run(&inserts).await.context("outbox")?;
    Ok(())
}

impl super::Store {
    /// Writes `changes` of a conversation to the outbox on `conn`, the change's own transaction; call
    /// [`Self::outbox_committed`] once it commits when this answered `true`.
    pub(super) async fn announce(
        &self,
        conn: &mut AnyConnection,
        license: &LicenseKey,
        conversation_id: &ConversationId,
        changes: &[Change],
    ) -> StoreResult<bool> {
        enqueue(conn, license, conversation_id, changes, self.webhook_retry_ms).await
    }

    /// Writes a license-wide webhook event (no conversation: e.g. `usage_alert`) in its own transaction.
    pub async fn announce_license_event(
        &self,
        license: &LicenseKey,
        event: WebhookEvent,
        data: Value,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.context("announce_license_event")?;
        let written = enqueue_license_event(&mut *tx, license, event, data, self.webhook_retry_ms).await?;
        tx.commit().await.context("announce_license_event")?;
        if written {
            self.outbox_committed();
        }
        Ok(())
    }

    /// Wakes this node's webhook worker after a commit that wrote events.
    pub(super) fn outbox_committed(&self) {
        self.outbox_written.notify_one();
    }
}
