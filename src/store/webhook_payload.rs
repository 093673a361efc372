//! The body of a webhook event: the widget document's shape plus the event's own data.

use crate::domain::{Message, WebhookEvent};
use serde_json::{json, Map, Value};

/// What every event of a conversation says about it.
pub(super) struct ConversationContext {
    /// The conversation id.
    pub id: String,
    /// The contact (visitor) id.
    pub contact_id: String,
    /// Its channel.
    pub channel: String,
    /// Its metadata (page, UTM, product key).
    pub metadata: Value,
}

/// The body: the widget document's shape (`event`, `timestamp`, `siteId`, `sessionId`, `utm`, `page`,
/// `visitor`) plus the stable event `id`, ids and the event's own `data`.
pub(super) fn payload(
    id: &str,
    event: WebhookEvent,
    at: i64,
    conversation: Option<&ConversationContext>,
    data: Value,
) -> Value {
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

/// An event's `data` object, built only once an endpoint wants the event: most licenses have none, and a
/// shared commit's thousands of messages would each pay for a JSON tree nobody reads.
pub(super) enum EventData<'a> {
    /// Built already (a single change's own event).
    Ready(Value),
    /// `{"message": …}` of a stored message.
    Message(&'a Message),
}

impl EventData<'_> {
    /// The `data` object.
    pub(super) fn to_value(&self) -> Value {
        match self {
            Self::Ready(value) => value.clone(),
            Self::Message(message) => json!({ "message": message }),
        }
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
