//! Business hours: a schedule in a time zone; outside it the widget learns the team is away and a
//! visitor who writes gets the auto-reply once per conversation per day.

use crate::cluster::Cluster;
use crate::helpers::*;
use crate::team::{add_member, dashboard_event, put_as, visitor_writes};
use reqwest::StatusCode;
use serde_json::json;

async fn out_of_hours_visitors_get_the_offline_message_and_one_auto_reply(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let shown = expect_status(app.get_as("/api/team/business-hours", &owner.token).await, StatusCode::OK).await;
    assert_eq!((shown["business_hours"]["enabled"].as_bool(), shown["open_now"].as_bool()), (Some(false), Some(true)));

    // No interval on any day: closed now, whatever the time of the test.
    let closed = json!({
        "enabled": true, "timezone": "Europe/Paris", "weekly": {}, "holidays": ["2026-12-25"],
        "offline_message": "We're away", "auto_reply": "Thanks! We reply from 9am."
    });
    let saved =
        expect_status(put_as(&app, "/api/team/business-hours", &owner.token, &closed).await, StatusCode::OK).await;
    assert_eq!(saved["open_now"], false);
    let config = app.client.get(app.url(&format!("/api/widget/config?product_key={key}"))).send().await.unwrap();
    let config = expect_status(config, StatusCode::OK).await;
    assert_eq!((config["open_now"].as_bool(), config["offline_message"].as_str()), (Some(false), Some("We're away")));

    let (mut visitor, conversation) = visitor_writes(&app, &key, "hello?").await;
    let reply = visitor.recv_type("message").await;
    assert_eq!((reply["from"].as_str(), reply["text"].as_str()), (Some("system"), Some("Thanks! We reply from 9am.")));
    visitor.send_json(&json!({ "type": "message", "text": "anyone?", "client_msg_id": "second" })).await;
    visitor.recv_type("ack").await;
    assert!(visitor.drain().await.iter().all(|f| f["type"] != "message"), "once per conversation per day");
    let history = expect_status(
        app.get_as(&format!("/api/conversations/{conversation}/messages"), &owner.token).await,
        StatusCode::OK,
    )
    .await;
    let senders: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["sender"].as_str().unwrap()).collect();
    assert_eq!(senders, ["visitor", "system", "visitor"]);
    let mut again = app.widget(&key, None).await;
    let welcome = again.recv_type("welcome").await;
    assert_eq!((welcome["open_now"].as_bool(), welcome["offline_message"].as_str()), (Some(false), Some("We're away")));

    // Open around the clock ("00:00"–"00:00" is the whole day): no auto-reply.
    let every = json!([{ "open": "00:00", "close": "00:00" }]);
    let open = json!({ "enabled": true, "timezone": "UTC", "weekly": {
        "mon": every, "tue": every, "wed": every, "thu": every, "fri": every, "sat": every, "sun": every } });
    let saved =
        expect_status(put_as(&app, "/api/team/business-hours", &owner.token, &open).await, StatusCode::OK).await;
    assert_eq!(saved["open_now"], true);
    let (mut second, _) = visitor_writes(&app, &key, "hi again").await;
    assert!(second.drain().await.iter().all(|f| f["type"] != "message"));

    // Bad schedules say what is wrong; only admins change them.
    for (body, code) in [
        (json!({ "enabled": true, "timezone": "Mars/Olympus", "weekly": {} }), "invalid_value"),
        (
            json!({ "enabled": true, "timezone": "UTC", "weekly": { "mon": [{ "open": "9:00", "close": "17:00" }] } }),
            "invalid_value",
        ),
        (json!({ "enabled": true, "timezone": "UTC", "weekly": { "funday": [] } }), "invalid_json"),
        (json!({ "enabled": true, "timezone": "UTC", "weekly": {}, "holidays": ["2026-02-30"] }), "invalid_value"),
    ] {
        expect_error(
            put_as(&app, "/api/team/business-hours", &owner.token, &body).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    let manager = add_member(&app, &owner.token, "manager").await;
    expect_error(
        put_as(&app, "/api/team/business-hours", &manager.token, &open).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
}

crate::on_both_stores!(out_of_hours_visitors_get_the_offline_message_and_one_auto_reply);

/// `GET /api/team/metrics?first_response=…` for `owner`: the team's median and the owner's own.
async fn first_response(app: &TestApp, owner: &Tenant, clock: &str) -> (Option<i64>, Option<i64>) {
    let path = format!("/api/team/metrics?first_response={clock}");
    let metrics = expect_status(app.get_as(&path, &owner.token).await, StatusCode::OK).await;
    assert_eq!(metrics["first_response"], clock);
    (metrics["median_first_response_ms"].as_i64(), metrics["members"][0]["median_first_response_ms"].as_i64())
}

async fn first_response_time_can_leave_closed_hours_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let owner = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&owner).await;
    let (_visitor, conversation) = visitor_writes(&app, &key, "is anyone there?").await;
    // A wait long enough to tell apart from none at all.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let messages = format!("/api/conversations/{conversation}/messages");
    expect_status(app.post_as(&messages, &owner.token, &json!({ "text": "Yes!" })).await, StatusCode::CREATED).await;
    let (wall, own) = first_response(&app, &owner, "wall_clock").await;
    let wall = wall.expect("a first response today");
    assert!(wall >= 200, "{wall} ms");
    assert_eq!(own, Some(wall));

    // Open around the clock, but today (UTC) is a holiday: the whole wait fell in closed hours.
    let every = json!([{ "open": "00:00", "close": "00:00" }]);
    let weekly =
        json!({ "mon": every, "tue": every, "wed": every, "thu": every, "fri": every, "sat": every, "sun": every });
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let holiday = json!({ "enabled": true, "timezone": "UTC", "weekly": weekly, "holidays": [today] });
    expect_status(put_as(&app, "/api/team/business-hours", &owner.token, &holiday).await, StatusCode::OK).await;
    assert_eq!(first_response(&app, &owner, "business_hours").await, (Some(0), Some(0)));
    assert_eq!(first_response(&app, &owner, "wall_clock").await, (Some(wall), Some(wall)), "the default is unchanged");

    // Without the holiday every millisecond was open.
    let open = json!({ "enabled": true, "timezone": "UTC", "weekly": weekly });
    expect_status(put_as(&app, "/api/team/business-hours", &owner.token, &open).await, StatusCode::OK).await;
    assert_eq!(first_response(&app, &owner, "business_hours").await, (Some(wall), Some(wall)));

    let wrong = app.get_as("/api/team/metrics?first_response=lunar", &owner.token).await;
    expect_error(wrong, StatusCode::BAD_REQUEST, "invalid_value").await;
}

crate::on_both_stores!(first_response_time_can_leave_closed_hours_out);

/// What `GET /api/widget/config` says of the team: `(open_now, offline_message)`.
async fn widget_sees(app: &TestApp, key: &str) -> (Option<bool>, String) {
    let config = app.client.get(app.url(&format!("/api/widget/config?product_key={key}"))).send().await.unwrap();
    let config = expect_status(config, StatusCode::OK).await;
    (config["open_now"].as_bool(), config["offline_message"].as_str().unwrap_or_default().to_owned())
}

/// Widgets ask their node's tenant actor, which keeps the hours; a save on another node reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hours_saved_on_one_node_reach_widgets_on_another() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await);
    let owner = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&owner).await;
    let mut dashboard_b = b.app.dashboard_ws(&owner.token).await;
    assert_eq!(widget_sees(&b.app, &key).await, (Some(true), String::new()), "B keeps the default hours");

    let closed = json!({ "enabled": true, "timezone": "UTC", "weekly": {}, "offline_message": "Back on Monday" });
    expect_status(put_as(&a.app, "/api/team/business-hours", &owner.token, &closed).await, StatusCode::OK).await;
    dashboard_event(&mut dashboard_b, "activity:new", |d| d["type"] == "business_hours_updated").await;
    // B's dashboard and B's tenant actor hear the save from the bus side by side: the actor may be a moment behind.
    let seen = eventually(std::time::Duration::from_secs(2), async || match widget_sees(&b.app, &key).await {
        seen if seen.0 == Some(false) => Ok(seen),
        seen => Err(format!("node B's widget still sees the default hours: {seen:?}")),
    })
    .await;
    assert_eq!(seen, (Some(false), "Back on Monday".to_owned()));
    let mut visitor = b.app.widget(&key, None).await;
    let welcome = visitor.recv_type("welcome").await;
    assert_eq!(
        (welcome["open_now"].as_bool(), welcome["offline_message"].as_str()),
        (Some(false), Some("Back on Monday"))
    );
}
