//! Satisfaction ratings and the live numbers: a closed conversation asks the visitor once for 1–5 and
//! a comment; dashboards see the rating and today's average; the median first response ignores notes.

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use crate::team::{dashboard_event, visitor_writes};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn visitors_rate_closed_conversations_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let mut dashboard = app.dashboard_ws(&owner.token).await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    app.webhook_endpoint(&owner, &receiver.url, &["csat_received"]).await;
    let (mut visitor, conversation) = visitor_writes(&app, &key, "where is my parcel?").await;
    let welcome_token = {
        let frames = visitor.drain().await;
        assert!(frames.iter().all(|f| f["type"] != "error"), "{frames:?}");
        conversation.clone()
    };
    visitor.send_json(&json!({ "type": "csat", "rating": 5 })).await;
    assert_eq!(visitor.recv_type("error").await["code"], "csat_unavailable", "an open conversation is not rated");

    // Notes do not count as a first response; the reply 300 ms later does.
    let messages = format!("/api/conversations/{conversation}/messages");
    let note = json!({ "text": "checking the carrier", "private": true });
    expect_status(app.post_as(&messages, &owner.token, &note).await, StatusCode::CREATED).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    expect_status(
        app.post_as(&messages, &owner.token, &json!({ "text": "It arrives today." })).await,
        StatusCode::CREATED,
    )
    .await;
    let metrics = dashboard_event(&mut dashboard, "metrics:updated", |d| d["median_first_response_ms"].is_i64()).await;
    let median = metrics["median_first_response_ms"].as_i64().unwrap();
    assert!((300..5_000).contains(&median), "median first response {median} ms");
    // Per member: the owner answered it first, with one reply (the note does not count).
    let team = expect_status(app.get_as("/api/team/metrics", &owner.token).await, StatusCode::OK).await;
    let mine = &team["members"][0];
    assert_eq!((mine["replies"].as_i64(), mine["conversations_answered_first"].as_i64()), (Some(1), Some(1)));
    assert_eq!(mine["median_first_response_ms"], median);

    expect_status(
        app.post_as(&format!("/api/conversations/{conversation}/close"), &owner.token, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    let status = visitor.recv_type("status").await;
    assert_eq!((status["status"].as_str(), status["rated"].as_bool()), (Some("closed"), Some(false)));
    visitor.send_json(&json!({ "type": "csat", "rating": 6 })).await;
    assert_eq!(visitor.recv_type("error").await["code"], "invalid_value");
    visitor.send_json(&json!({ "type": "csat", "rating": 4, "comment": " Quick and kind " })).await;
    visitor.recv_type("csat_saved").await;
    visitor.send_json(&json!({ "type": "csat", "rating": 1 })).await;
    assert_eq!(visitor.recv_type("error").await["code"], "csat_unavailable", "asked once");

    let rated = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "csat_received").await;
    assert_eq!((rated["conversation_id"].as_str(), rated["rating"].as_i64()), (Some(welcome_token.as_str()), Some(4)));
    assert_eq!(rated["comment"], "Quick and kind");
    let metrics = dashboard_event(&mut dashboard, "metrics:updated", |d| d["csat_responses"] == 1).await;
    assert_eq!(metrics["csat_average"], 4.0);
    let shown =
        expect_status(app.get_as(&format!("/api/conversations/{conversation}"), &owner.token).await, StatusCode::OK)
            .await;
    assert_eq!((shown["csat_rating"].as_i64(), shown["csat_comment"].as_str()), (Some(4), Some("Quick and kind")));
}

crate::on_both_stores!(visitors_rate_closed_conversations_once);
