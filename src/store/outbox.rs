//! The webhook outbox: what a change writes, inside its own transaction, for the tenant's webhook endpoints.
//!
//! [`enqueue`] runs on the transaction of the change (message insert, status change, assignment, delivery
//! state), so the event exists exactly when the change does: a crash can neither lose one nor announce a
//! change that rolled back. It fans out at once, one delivery row per subscribed endpoint, instead of
//! leaving that to a dispatcher: no second loop to lease, and a license without endpoints pays one indexed
//! read. A conversation's events are numbered by `conversations.webhook_seq`, whose row lock serialises
//! writers, so the numbers follow commit order and workers can send each conversation's events in order.

use super::{Context, StoreResult};
use crate::domain::{new_id, now_millis, ConversationId, LicenseKey, WebhookEndpointId, WebhookEvent};
use serde_json::{json, Map, Value};
use sqlx::{AnyConnection, Row};

/// Rows per multi-row INSERT: well under both engines' limit on bound parameters.
const ROWS_PER_INSERT: usize = 100;

/// One event of a change, before it is numbered: its kind and its `data` object.
pub(super) type Change = (WebhookEvent, Value);

/// An event ready to store: its id, body and ordering.
struct Outgoing {
    id: String,
    event: WebhookEvent,
    payload: String,
    ordering_key: String,
    position: i64,
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
    let endpoints = subscribed_endpoints(conn, license).await?;
    let wanted: Vec<&Change> =
        changes.iter().filter(|(event, _)| endpoints.iter().any(|(_, events)| events.contains(event))).collect();
    if wanted.is_empty() {
        return Ok(false);
    }
    let count = i64::try_from(wanted.len()).unwrap_or(i64::MAX);
    let row = sqlx::query(
        "UPDATE conversations SET webhook_seq = webhook_seq + $1 WHERE license_key = $2 AND id = $3
         RETURNING webhook_seq, contact_id, channel, metadata",
    )
    .bind(count)
    .bind(license.as_str().to_owned())
    .bind(conversation_id.as_str().to_owned())
    .fetch_optional(&mut *conn)
    .await
    .context("outbox")?;
    let Some(row) = row else { return Ok(false) };
    let last: i64 = row.try_get("webhook_seq")?;
    let metadata: String = row.try_get("metadata")?;
    let context = ConversationContext {
        id: conversation_id.as_str().to_owned(),
        contact_id: row.try_get("contact_id")?,
        channel: row.try_get("channel")?,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
    };
    let now = now_millis();
    let outgoing: Vec<Outgoing> = (last - count + 1..)
        .zip(wanted)
        .map(|(position, (event, data))| {
            let id = format!("evt_{}", new_id());
            let payload = payload(&id, *event, now, Some(&context), data.clone()).to_string();
            Outgoing { id, event: *event, payload, ordering_key: context.id.clone(), position }
        })
        .collect();
    store(conn, license, &outgoing, &endpoints, now, retry_window_ms).await?;
    Ok(true)
}

/// Writes a license-wide event (outside any conversation, so it waits for nothing) for every enabled
/// endpoint subscribed to it. Returns whether anything was written.
async fn enqueue_license_event(
    conn: &mut AnyConnection,
    license: &LicenseKey,
    event: WebhookEvent,
    data: Value,
    retry_window_ms: i64,
) -> StoreResult<bool> {
    let endpoints: Vec<_> =
        subscribed_endpoints(conn, license).await?.into_iter().filter(|(_, events)| events.contains(&event)).collect();
    if endpoints.is_empty() {
        return Ok(false);
    }
    let id = format!("evt_{}", new_id());
    let now = now_millis();
    let payload = payload(&id, event, now, None, data).to_string();
    let outgoing = Outgoing { id: id.clone(), event, payload, ordering_key: id, position: 0 };
    store(conn, license, &[outgoing], &endpoints, now, retry_window_ms).await?;
    Ok(true)
}

/// Writes a `test` event for one endpoint (outside any conversation, so it waits for nothing).
pub(super) async fn enqueue_test(
    conn: &mut AnyConnection,
    license: &LicenseKey,
    endpoint: &WebhookEndpointId,
    retry_window_ms: i64,
) -> StoreResult<String> {
    let id = format!("evt_{}", new_id());
    let now = now_millis();
    let data = json!({ "message": "A test event from Switchboard: your endpoint is reachable." });
    let payload = payload(&id, WebhookEvent::Test, now, None, data).to_string();
    let outgoing =
        Outgoing { id: id.clone(), event: WebhookEvent::Test, payload, ordering_key: id.clone(), position: 0 };
    let only = [(endpoint.clone(), vec![WebhookEvent::Test])];
    store(conn, license, &[outgoing], &only, now, retry_window_ms).await?;
    Ok(id)
}

/// The license's enabled endpoints and the events each subscribes to.
async fn subscribed_endpoints(
    conn: &mut AnyConnection,
    license: &LicenseKey,
) -> StoreResult<Vec<(WebhookEndpointId, Vec<WebhookEvent>)>> {
    let rows = sqlx::query("SELECT id, events FROM webhook_endpoints WHERE license_key = $1 AND enabled = 1")
        .bind(license.as_str().to_owned())
        .fetch_all(&mut *conn)
        .await
        .context("outbox")?;
    let mut endpoints = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: WebhookEndpointId = super::parse_column(row, "id")?;
        let events: String = row.try_get("events")?;
        endpoints.push((id, super::webhook_endpoints::parse_events(&events)?));
    }
    Ok(endpoints)
}

/// Inserts the events and one pending delivery per (event, subscribed endpoint).
async fn store(
    conn: &mut AnyConnection,
    license: &LicenseKey,
    outgoing: &[Outgoing],
    endpoints: &[(WebhookEndpointId, Vec<WebhookEvent>)],
    now: i64,
    retry_window_ms: i64,
) -> StoreResult<()> {
    let retry_until = now.saturating_add(retry_window_ms);
    for chunk in outgoing.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO webhook_events (id, license_key, event, conversation_id, payload, created_at) VALUES {}",
            super::values_placeholders(chunk.len(), 6)
        );
        let mut insert = sqlx::query(&sql);
        for event in chunk {
            let conversation = (event.position > 0).then(|| event.ordering_key.clone());
            insert = insert
                .bind(event.id.clone())
                .bind(license.as_str().to_owned())
                .bind(event.event.as_str())
                .bind(conversation)
                .bind(event.payload.clone())
                .bind(now);
        }
        insert.execute(&mut *conn).await.context("outbox")?;
    }
    let deliveries: Vec<(&Outgoing, &WebhookEndpointId)> = outgoing
        .iter()
        .flat_map(|event| {
            endpoints.iter().filter(|(_, events)| events.contains(&event.event)).map(move |(id, _)| (event, id))
        })
        .collect();
    for chunk in deliveries.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, license_key, ordering_key, position, status,
                 next_attempt_at, retry_until, created_at, updated_at) VALUES {}",
            super::values_placeholders(chunk.len(), 11)
        );
        let mut insert = sqlx::query(&sql);
        for (event, endpoint) in chunk {
            insert = insert
                .bind(new_id())
                .bind(event.id.clone())
                .bind(endpoint.as_str().to_owned())
                .bind(license.as_str().to_owned())
                .bind(event.ordering_key.clone())
                .bind(event.position)
                .bind("pending")
                .bind(now)
                .bind(retry_until)
                .bind(now)
                .bind(now);
        }
        insert.execute(&mut *conn).await.context("outbox")?;
    }
    Ok(())
}

/// What every event of a conversation says about it.
struct ConversationContext {
    id: String,
    contact_id: String,
    channel: String,
    metadata: Value,
}

/// The body: the widget document's shape (`event`, `timestamp`, `siteId`, `sessionId`, `utm`, `page`,
/// `visitor`) plus the stable event `id`, ids and the event's own `data`.
fn payload(id: &str, event: WebhookEvent, at: i64, conversation: Option<&ConversationContext>, data: Value) -> Value {
    let mut body = json!({ "id": id, "event": event.as_str(), "timestamp": rfc3339(at), "created_at": at });
    if let Some(conversation) = conversation {
        let meta = conversation.metadata.as_object();
        let field = |name: &str| meta.and_then(|m| m.get(name)).cloned().unwrap_or(Value::Null);
        let pick = |pairs: &[(&str, &str)]| -> Value {
            let found: Map<String, Value> = pairs
                .iter()
                .filter_map(|(out, key)| meta.and_then(|m| m.get(*key)).map(|v| ((*out).to_owned(), v.clone())))
                .collect();
            Value::Object(found)
        };
        body["siteId"] = field("product_key");
        body["sessionId"] = json!(conversation.id);
        body["conversation_id"] = json!(conversation.id);
        body["channel"] = json!(conversation.channel);
        body["utm"] = pick(&[
            ("source", "utm_source"),
            ("medium", "utm_medium"),
            ("campaign", "utm_campaign"),
            ("term", "utm_term"),
            ("content", "utm_content"),
        ]);
        body["page"] = pick(&[("host", "page_host"), ("url", "page_url"), ("referrer", "referrer")]);
        body["visitor"] = json!({ "id": conversation.contact_id });
    }
    body["data"] = data;
    body
}

/// `2024-09-04T00:00:00.000Z` for epoch milliseconds.
fn rfc3339(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => String::new(),
    }
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
        let written = enqueue_license_event(&mut tx, license, event, data, self.webhook_retry_ms).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_725_408_000_123), "2024-09-04T00:00:00.123Z");
    }

    #[test]
    fn bodies_follow_the_widget_document() {
        let conversation = ConversationContext {
            id: "c1".into(),
            contact_id: "v_1".into(),
            channel: "widget".into(),
            metadata: json!({ "product_key": "chat_x", "utm_source": "facebook", "page_host": "shop.example" }),
        };
        let body = payload("evt_1", WebhookEvent::ChatOpened, 0, Some(&conversation), json!({}));
        assert_eq!(body["event"], "chat_opened");
        assert_eq!(body["siteId"], "chat_x");
        assert_eq!(body["sessionId"], "c1");
        assert_eq!(body["utm"], json!({ "source": "facebook" }));
        assert_eq!(body["page"], json!({ "host": "shop.example" }));
        assert_eq!(body["visitor"], json!({ "id": "v_1" }));
    }
}
