//! Facebook Messenger: the verification handshake, `X-Hub-Signature-256` checks, batched
//! `entry[].messaging[]` parsing, and the Graph Send API.

use super::{constant_time_eq, InboundMessage};
use crate::domain::{ContactId, MessageKind};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Operator credentials for Messenger.
#[derive(Debug, Clone)]
pub struct MessengerConfig {
    /// `MESSENGER_APP_SECRET`: signs webhook bodies.
    pub app_secret: String,
    /// `MESSENGER_VERIFY_TOKEN`: echoed in the subscription handshake.
    pub verify_token: String,
    /// `MESSENGER_PAGE_ACCESS_TOKEN`: authorises the Send API.
    pub page_access_token: Option<String>,
    /// `MESSENGER_API_BASE`: the Graph API origin.
    pub api_base: String,
}

/// Whether `signature` (the `X-Hub-Signature-256` header) is `sha256=<hex HMAC-SHA256(body, secret)>`.
pub fn signature_is_valid(secret: &str, body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex_digest) = signature.and_then(|s| s.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// Whether a subscription handshake is ours: `hub.mode=subscribe` and the right verify token.
pub fn handshake_is_valid(config: &MessengerConfig, mode: &str, token: &str) -> bool {
    mode == "subscribe" && constant_time_eq(token.as_bytes(), config.verify_token.as_bytes())
}

#[derive(Deserialize)]
struct Webhook {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    #[serde(default)]
    timestamp: i64,
    message: Option<MessagePart>,
    postback: Option<Postback>,
    delivery: Option<DeliveryReceipt>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct MessagePart {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    is_echo: bool,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(default)]
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    url: Option<String>,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    payload: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct DeliveryReceipt {
    #[serde(default)]
    mids: Vec<String>,
}

/// What one webhook body carries.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// Messages from contacts, in order.
    pub messages: Vec<InboundMessage>,
    /// Ids of our outbound messages that Messenger reports delivered.
    pub delivered: Vec<String>,
}

/// Parses a verified webhook body. Echoes of the page's own messages are skipped.
pub fn parse_webhook(body: &[u8]) -> Result<Batch, String> {
    let webhook: Webhook = serde_json::from_slice(body).map_err(|e| format!("invalid Messenger webhook: {e}"))?;
    if webhook.object != "page" {
        return Err(format!("unexpected object '{}' (expected 'page')", webhook.object));
    }
    let mut batch = Batch::default();
    for entry in webhook.entry {
        for event in entry.messaging {
            collect(&entry.id, event, &mut batch);
        }
    }
    Ok(batch)
}

fn collect(page_id: &str, event: Messaging, batch: &mut Batch) {
    let inbound = |provider_msg_id: String, kind, body: String| InboundMessage {
        account_id: page_id.to_owned(),
        contact_id: ContactId::from(event.sender.id.clone()),
        provider_msg_id,
        kind,
        body,
    };
    if let Some(message) = &event.message {
        if message.is_echo {
            return;
        }
        if let Some(text) = message.text.as_ref().filter(|t| !t.trim().is_empty()) {
            batch.messages.push(inbound(message.mid.clone(), MessageKind::Text, text.clone()));
        }
        for (i, attachment) in message.attachments.iter().enumerate() {
            let url = attachment.payload.as_ref().and_then(|p| p.url.clone()).unwrap_or_default();
            batch.messages.push(inbound(format!("{}#{i}", message.mid), MessageKind::Attachment, url));
        }
    }
    if let Some(postback) = &event.postback {
        let id = postback.mid.clone().unwrap_or_else(|| format!("postback:{}:{}", event.sender.id, event.timestamp));
        let body = postback.payload.clone().or_else(|| postback.title.clone()).unwrap_or_default();
        batch.messages.push(inbound(id, MessageKind::Postback, body));
    }
    if let Some(delivery) = &event.delivery {
        batch.delivered.extend(delivery.mids.iter().cloned());
    }
}

/// The Send API request for a text reply to `psid`, authorised by the page's `token`.
pub fn send_request(
    http: &reqwest::Client,
    config: &MessengerConfig,
    token: &str,
    psid: &str,
    text: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("{}/v19.0/me/messages", config.api_base.trim_end_matches('/')))
        .query(&[("access_token", token)])
        .json(&serde_json::json!({
            "recipient": { "id": psid },
            "messaging_type": "RESPONSE",
            "message": { "text": text },
        }))
}

/// The provider's id for the sent message, from the Send API's answer.
pub fn sent_id(answer: &serde_json::Value) -> Option<String> {
    answer.get("message_id").and_then(|v| v.as_str()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_check_the_exact_body() {
        let body = br#"{"object":"page"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").expect("any key length"); // expect: HMAC takes any key
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_is_valid("secret", body, Some(&header)));
        assert!(!signature_is_valid("secret", b"{\"object\":\"page\" }", Some(&header)));
        assert!(!signature_is_valid("other", body, Some(&header)));
        assert!(!signature_is_valid("secret", body, None));
        assert!(!signature_is_valid("secret", body, Some("sha1=abc")));
    }

    #[test]
    fn parses_text_attachments_postbacks_and_skips_echoes() -> Result<(), String> {
        let body = serde_json::json!({
            "object": "page",
            "entry": [{ "id": "PAGE", "time": 1, "messaging": [
                { "sender": {"id": "U1"}, "recipient": {"id": "PAGE"}, "timestamp": 1, "message": {"mid": "m1", "text": "hi"} },
                { "sender": {"id": "U1"}, "recipient": {"id": "PAGE"}, "timestamp": 2, "message": {"mid": "m2",
                    "attachments": [{"type": "image", "payload": {"url": "https://x/1.png"}}]} },
                { "sender": {"id": "U1"}, "recipient": {"id": "PAGE"}, "timestamp": 3, "postback": {"title": "Buy", "payload": "BUY"} },
                { "sender": {"id": "PAGE"}, "recipient": {"id": "U1"}, "timestamp": 4, "message": {"mid": "m3", "text": "echo", "is_echo": true} }
            ]}]
        });
        let batch = parse_webhook(body.to_string().as_bytes())?;
        let kinds: Vec<_> = batch.messages.iter().map(|m| (m.kind, m.body.as_str())).collect();
        assert_eq!(
            kinds,
            [(MessageKind::Text, "hi"), (MessageKind::Attachment, "https://x/1.png"), (MessageKind::Postback, "BUY")]
        );
        assert!(parse_webhook(b"{\"object\":\"user\"}").is_err());
        assert!(parse_webhook(b"nope").is_err());
        Ok(())
    }
}
