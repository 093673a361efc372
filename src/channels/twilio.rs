//! WhatsApp through Twilio: `X-Twilio-Signature` checks, form-encoded inbound messages and status
//! callbacks, and the Messages API.

use super::{constant_time_eq, InboundMessage};
use crate::domain::{ContactId, Delivery, MessageKind};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Operator credentials for Twilio.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `TWILIO_ACCOUNT_SID`.
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`: signs webhooks and authorises the API.
    pub auth_token: String,
    /// `TWILIO_API_BASE`: the API origin.
    pub api_base: String,
}

/// Twilio's signature: base64(HMAC-SHA1(url + each param name and value, sorted by name)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether the `X-Twilio-Signature` header matches the public `url` and the posted params.
pub fn signature_is_valid(auth_token: &str, url: &str, params: &[(String, String)], header: Option<&str>) -> bool {
    header.is_some_and(|given| constant_time_eq(given.as_bytes(), signature(auth_token, url, params).as_bytes()))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Strips Twilio's `whatsapp:` address prefix.
pub fn number(address: &str) -> &str {
    address.strip_prefix("whatsapp:").unwrap_or(address)
}

/// Parses an inbound WhatsApp message: its text (if any) and each media item, in order.
pub fn parse_inbound(params: &[(String, String)]) -> Result<Vec<InboundMessage>, String> {
    let required = |name: &str| param(params, name).filter(|v| !v.is_empty()).ok_or_else(|| format!("missing {name}"));
    let sid = required("MessageSid")?;
    let from = number(required("From")?);
    let to = number(required("To")?);
    let inbound = |provider_msg_id: String, kind, body: String| InboundMessage {
        account_id: to.to_owned(),
        contact_id: ContactId::from(from.to_owned()),
        provider_msg_id,
        kind,
        body,
    };
    let mut messages = Vec::new();
    if let Some(body) = param(params, "Body").filter(|b| !b.trim().is_empty()) {
        messages.push(inbound(sid.to_owned(), MessageKind::Text, body.to_owned()));
    }
    let media: usize = param(params, "NumMedia").unwrap_or("0").parse().map_err(|_| "NumMedia is not a number")?;
    for i in 0..media.min(10) {
        if let Some(url) = param(params, &format!("MediaUrl{i}")) {
            messages.push(inbound(format!("{sid}#{i}"), MessageKind::Attachment, url.to_owned()));
        }
    }
    if messages.is_empty() {
        return Err("the message has neither Body nor media".into());
    }
    Ok(messages)
}

/// A status callback: the message SID and the delivery state it reports (`None` for states we do not track).
pub fn parse_status(params: &[(String, String)]) -> Result<(String, Option<Delivery>), String> {
    let sid = param(params, "MessageSid").ok_or("missing MessageSid")?;
    let status = param(params, "MessageStatus").ok_or("missing MessageStatus")?;
    let delivery = match status {
        "queued" | "accepted" | "sending" => Some(Delivery::Pending),
        "sent" => Some(Delivery::Sent),
        "delivered" | "read" => Some(Delivery::Delivered),
        "failed" | "undelivered" => Some(Delivery::Failed),
        _ => None,
    };
    Ok((sid.to_owned(), delivery))
}

/// The Messages API request for a WhatsApp text from the tenant's number to a contact.
pub fn send_request(
    http: &reqwest::Client,
    config: &TwilioConfig,
    from: &str,
    to: &str,
    text: &str,
    status_callback: Option<&str>,
) -> reqwest::RequestBuilder {
    let url =
        format!("{}/2010-04-01/Accounts/{}/Messages.json", config.api_base.trim_end_matches('/'), config.account_sid);
    let mut form =
        vec![("From", format!("whatsapp:{from}")), ("To", format!("whatsapp:{to}")), ("Body", text.to_owned())];
    if let Some(callback) = status_callback {
        form.push(("StatusCallback", callback.to_owned()));
    }
    http.post(url).basic_auth(&config.account_sid, Some(&config.auth_token)).form(&form)
}

/// The provider's id for the sent message, from the Messages API's answer.
pub fn sent_id(answer: &serde_json::Value) -> Option<String> {
    answer.get("sid").and_then(|v| v.as_str()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn matches_twilios_documented_example() {
        // From Twilio's "Webhooks security" documentation.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let posted = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(signature("12345", url, &posted), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn parses_text_and_media() -> Result<(), String> {
        let posted = params(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+15550001111"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "hello"),
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/media/1"),
        ]);
        let messages = parse_inbound(&posted)?;
        assert_eq!(messages.len(), 2);
        assert_eq!(
            (messages[0].contact_id.as_str(), messages[0].account_id.as_str()),
            ("+15550001111", "+14155238886")
        );
        assert_eq!(messages[1].provider_msg_id, "SM1#0");
        assert!(parse_inbound(&params(&[("From", "x")])).is_err());
        Ok(())
    }
}
