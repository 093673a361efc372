//! Satisfaction ratings on Messenger and WhatsApp: a closed conversation asks its contact once, in text,
//! through the fake provider; a reply of 1–5 (with a comment after it) is the rating, anything else a message.

use crate::channels::{
    channels_app, dashboard_event, messages_of, messenger_body, messenger_event, post_messenger, post_twilio,
};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const QUESTION: &str = "How would you rate this conversation? Reply with a number from 1 (poor) to 5 (excellent); \
                        you can add a comment after the number.";

async fn conversation(app: &TestApp, tenant: &Tenant, id: &str) -> Value {
    expect_status(app.get_as(&format!("/api/conversations/{id}"), &tenant.token).await, StatusCode::OK).await
}

async fn close(app: &TestApp, tenant: &Tenant, id: &str) {
    let path = format!("/api/conversations/{id}/close");
    expect_status(app.post_as(&path, &tenant.token, &json!({})).await, StatusCode::OK).await;
}

async fn messenger_contacts_rate_a_closed_conversation_by_replying(backend: Backend) {
    let Some((app, tenant, provider)) = channels_app(backend).await else { return };
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let say = |mid: &str, text: &str| messenger_body(vec![messenger_event("PSID21", mid, text)]);
    assert_eq!(post_messenger(&app, &say("mid.1", "parcel late"), MESSENGER_SECRET).await.status(), StatusCode::OK);
    let inbound = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    let id = inbound["message"]["conversation_id"].as_str().expect("id").to_owned();

    // Closing asks the question, as a system message sent through the Send API.
    close(&app, &tenant, &id).await;
    let asked = dashboard_event(&mut dashboard, "message:new", |d| d["message"]["sender"] == "system").await;
    assert_eq!(asked["message"]["text"], QUESTION);
    let sent = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "delivery_updated").await;
    assert_eq!(
        (sent["message_id"].as_str(), sent["delivery"].as_str()),
        (asked["message"]["id"].as_str(), Some("sent"))
    );
    let requests = provider.lock().expect("lock").requests.clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let body: Value = serde_json::from_str(&requests[0].1).expect("JSON body");
    assert_eq!((body["recipient"]["id"].as_str(), body["message"]["text"].as_str()), (Some("PSID21"), Some(QUESTION)));

    // The reply is the rating, not a message: the conversation stays closed.
    let rating = say("mid.2", "4 - quick and kind");
    assert_eq!(post_messenger(&app, &rating, MESSENGER_SECRET).await.status(), StatusCode::OK);
    let rated = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "csat_received").await;
    assert_eq!((rated["conversation_id"].as_str(), rated["rating"].as_i64()), (Some(id.as_str()), Some(4)));
    assert_eq!(rated["comment"], "quick and kind");
    let metrics = dashboard_event(&mut dashboard, "metrics:updated", |d| d["csat_responses"] == 1).await;
    assert_eq!(metrics["csat_average"], 4.0);
    // Facebook redelivers it: still one rating, no message.
    assert_eq!(post_messenger(&app, &rating, MESSENGER_SECRET).await.status(), StatusCode::OK);
    let shown = conversation(&app, &tenant, &id).await;
    assert_eq!(
        (shown["status"].as_str(), shown["csat_rating"].as_i64(), shown["csat_comment"].as_str()),
        (Some("closed"), Some(4), Some("quick and kind"))
    );
    assert_eq!(messages_of(&app, &tenant, &id).await.len(), 2, "the problem and the question");

    // Rated already: another number is an ordinary message, which reopens the conversation.
    assert_eq!(post_messenger(&app, &say("mid.3", "5"), MESSENGER_SECRET).await.status(), StatusCode::OK);
    let again = dashboard_event(&mut dashboard, "message:new", |d| d["message"]["sender"] == "visitor").await;
    assert_eq!(again["message"]["text"], "5");
    assert_eq!(conversation(&app, &tenant, &id).await["status"], "open");

    // A second close does not ask again: the next thing the provider gets is the agent's reply.
    close(&app, &tenant, &id).await;
    let path = format!("/api/conversations/{id}/messages");
    let reply =
        expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "Thanks!" })).await, StatusCode::CREATED)
            .await;
    let reply_id = reply["message"]["id"].as_str().expect("id").to_owned();
    dashboard_event(&mut dashboard, "activity:new", |d| {
        d["message_id"] == reply_id.as_str() && d["delivery"] == "sent"
    })
    .await;
    let texts: Vec<String> = messages_of(&app, &tenant, &id)
        .await
        .iter()
        .map(|m| format!("{}: {}", m["sender"].as_str().unwrap_or("?"), m["text"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        texts,
        ["visitor: parcel late", &format!("system: {QUESTION}"), "visitor: 5", "agent: Thanks!"],
        "asked once"
    );
    assert_eq!(provider.lock().expect("lock").requests.len(), 2, "the question and the reply");
}

async fn a_whatsapp_reply_that_is_not_a_rating_is_a_message(backend: Backend) {
    let Some((app, tenant, provider)) = channels_app(backend).await else { return };
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    assert_eq!(whatsapp_from(&app, "SM300", "hola").await, StatusCode::OK);
    let inbound = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    let id = inbound["message"]["conversation_id"].as_str().expect("id").to_owned();
    close(&app, &tenant, &id).await;
    dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "delivery_updated" && d["delivery"] == "sent")
        .await;
    let (path, form) = provider.lock().expect("lock").requests[0].clone();
    assert!(path.ends_with("/Messages.json"), "{path}");
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&form).expect("form body");
    assert!(form.contains(&("Body".into(), QUESTION.into())), "{form:?}");

    // "10 minutes ago I asked…" starts with a number but is no rating.
    assert_eq!(whatsapp_from(&app, "SM301", "10 minutes ago I asked about my order").await, StatusCode::OK);
    let message = dashboard_event(&mut dashboard, "message:new", |d| d["message"]["sender"] == "visitor").await;
    assert_eq!(message["message"]["text"], "10 minutes ago I asked about my order");
    let shown = conversation(&app, &tenant, &id).await;
    assert_eq!((shown["status"].as_str(), shown["csat_rating"].as_i64()), (Some("open"), None));
    // Open again, a rating-shaped reply is a message too.
    assert_eq!(whatsapp_from(&app, "SM302", "3").await, StatusCode::OK);
    let message = dashboard_event(&mut dashboard, "message:new", |d| d["message"]["sender"] == "visitor").await;
    assert_eq!(message["message"]["text"], "3");
    assert_eq!(conversation(&app, &tenant, &id).await["csat_rating"], Value::Null);
}

/// The contact +15550003333 writes `body` to the tenant's WhatsApp number.
async fn whatsapp_from(app: &TestApp, sid: &str, body: &str) -> StatusCode {
    let params =
        [("MessageSid", sid), ("From", "whatsapp:+15550003333"), ("To", "whatsapp:+14155238886"), ("Body", body)];
    post_twilio(app, "/api/webhooks/twilio/whatsapp", &params, TWILIO_TOKEN).await.status()
}

crate::on_both_stores!(
    messenger_contacts_rate_a_closed_conversation_by_replying,
    a_whatsapp_reply_that_is_not_a_rating_is_a_message
);
