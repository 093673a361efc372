//! Messenger and WhatsApp: signed webhooks in, agent replies out through a local fake provider.

use crate::helpers::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

pub const PAGE: &str = "1029384756";
pub const NUMBER: &str = "+14155238886";

/// Plays Facebook's Send API and Twilio's Messages API, recording each request.
#[derive(Default)]
pub struct Provider {
    pub requests: Vec<(String, String)>,
    /// The `access_token` of each Send API call.
    access_tokens: Vec<String>,
    fail_next: usize,
    fail_status: u16,
    /// Takes requests without ever answering (a provider call cut off by its node's death).
    hang: bool,
}

/// Waits (up to 10 s) until the provider has been sent a request.
async fn sent(provider: &Mutex<Provider>) {
    eventually(std::time::Duration::from_secs(10), async || match provider.lock().expect("lock").requests.len() {
        0 => Err("no request reached the provider".to_owned()),
        _ => Ok(()),
    })
    .await;
}

pub async fn fake_provider() -> (String, Arc<Mutex<Provider>>) {
    let state = Arc::new(Mutex::new(Provider { fail_status: 500, ..Provider::default() }));
    let shared = web::Data::from(state.clone());
    let answer = |state: web::Data<Mutex<Provider>>, req: actix_web::HttpRequest, body: String| async move {
        let hang = {
            let mut provider = state.lock().expect("provider lock");
            provider.requests.push((req.path().to_owned(), body.clone()));
            provider.hang
        };
        if hang {
            std::future::pending::<()>().await;
        }
        let mut provider = state.lock().expect("provider lock");
        let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        if let Some((_, token)) = query.into_iter().find(|(k, _)| k == "access_token") {
            provider.access_tokens.push(token);
        }
        if provider.fail_next > 0 {
            provider.fail_next -= 1;
            let status = actix_web::http::StatusCode::from_u16(provider.fail_status).expect("status");
            return HttpResponse::build(status).json(json!({ "error": { "message": "simulated" } }));
        }
        let n = provider.requests.len();
        if req.path().contains("Messages.json") {
            HttpResponse::Created().json(json!({ "sid": format!("SMout{n}"), "status": "queued" }))
        } else {
            HttpResponse::Ok().json(json!({ "recipient_id": "psid", "message_id": format!("m_out_{n}") }))
        }
    };
    let server = HttpServer::new(move || App::new().app_data(shared.clone()).default_service(web::to(answer)))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("fake provider binds");
    let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    tokio::spawn(server.run());
    (url, state)
}

/// A server whose providers are the fake, and a tenant with a connected page and number.
pub async fn channels_app(backend: Backend) -> Option<(TestApp, Tenant, Arc<Mutex<Provider>>)> {
    channels_app_with(backend, |_| {}).await
}

/// [`channels_app`] with `tweak` applied to its configuration.
async fn channels_app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut switchboard::config::Config),
) -> Option<(TestApp, Tenant, Arc<Mutex<Provider>>)> {
    let database_url = fresh_database(backend).await?;
    let (provider_url, provider) = fake_provider().await;
    let mut config = test_config(database_url, backend);
    tweak(&mut config);
    config.messenger_api_base = provider_url.clone();
    config.twilio_api_base = provider_url;
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    for body in
        [json!({ "provider": "messenger", "page_id": PAGE }), json!({ "provider": "whatsapp", "number": NUMBER })]
    {
        expect_status(app.post_as("/api/integrations", &tenant.token, &body).await, StatusCode::CREATED).await;
    }
    Some((app, tenant, provider))
}

pub fn messenger_event(psid: &str, mid: &str, text: &str) -> Value {
    json!({ "sender": { "id": psid }, "recipient": { "id": PAGE }, "timestamp": 1_700_000_000_000i64,
            "message": { "mid": mid, "text": text } })
}

pub fn messenger_body(events: Vec<Value>) -> String {
    json!({ "object": "page", "entry": [{ "id": PAGE, "time": 1_700_000_000_000i64, "messaging": events }] })
        .to_string()
}

pub async fn post_messenger(app: &TestApp, body: &str, secret: &str) -> reqwest::Response {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    app.client
        .post(app.url("/api/webhooks/messenger"))
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("sent")
}

pub async fn post_twilio(app: &TestApp, path: &str, params: &[(&str, &str)], token: &str) -> reqwest::Response {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let signature = switchboard::channels::twilio::signature(token, &app.url(path), &owned);
    app.client.post(app.url(path)).header("X-Twilio-Signature", signature).form(&owned).send().await.expect("sent")
}

pub async fn messages_of(app: &TestApp, tenant: &Tenant, conversation_id: &str) -> Vec<Value> {
    let path = format!("/api/conversations/{conversation_id}/messages");
    let body = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    body["messages"].as_array().expect("messages").clone()
}

/// Waits for the dashboard event `name` whose data satisfies `matches`.
pub async fn dashboard_event(socket: &mut Socket, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = socket.recv_json().await;
        if frame["event"] == name && matches(&frame["data"]) {
            return frame["data"].clone();
        }
    }
}

async fn messenger_handshake_echoes_the_challenge(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ok = app
        .client
        .get(app.url("/api/webhooks/messenger?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42abc"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.expect("body"), "42abc");
    let wrong = app
        .client
        .get(app.url("/api/webhooks/messenger?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"))
        .send()
        .await
        .expect("sent");
    expect_error(wrong, StatusCode::FORBIDDEN, "invalid_verify_token").await;
}

async fn messenger_messages_reach_the_dashboard_once(backend: Backend) {
    let Some((app, tenant, _)) = channels_app(backend).await else {
        return;
    };
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let postback = json!({ "sender": { "id": "PSID7" }, "recipient": { "id": PAGE }, "timestamp": 1,
                           "postback": { "mid": "pb1", "title": "Buy", "payload": "BUY_NOW" } });
    let body = messenger_body(vec![messenger_event("PSID7", "mid.1", "hello from messenger"), postback]);
    let response = post_messenger(&app, &body, MESSENGER_SECRET).await;
    assert_eq!(response.status(), StatusCode::OK);
    let first = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    assert_eq!(first["channel"], "messenger");
    assert_eq!(first["message"]["text"], "hello from messenger");
    let conversation_id = first["message"]["conversation_id"].as_str().expect("id").to_owned();
    let second = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    assert_eq!(
        (second["message"]["kind"].as_str(), second["message"]["text"].as_str()),
        (Some("postback"), Some("BUY_NOW"))
    );

    // Facebook redelivers the same batch: nothing new is stored.
    assert_eq!(post_messenger(&app, &body, MESSENGER_SECRET).await.status(), StatusCode::OK);
    assert_eq!(messages_of(&app, &tenant, &conversation_id).await.len(), 2);
    let shown = expect_status(
        app.get_as(&format!("/api/conversations/{conversation_id}"), &tenant.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((shown["channel"].as_str(), shown["contact_id"].as_str()), (Some("messenger"), Some("PSID7")));
}

async fn bad_messenger_webhooks_store_nothing(backend: Backend) {
    let Some((app, tenant, _)) = channels_app(backend).await else {
        return;
    };
    let body = messenger_body(vec![messenger_event("PSID8", "mid.bad", "forged")]);
    expect_error(post_messenger(&app, &body, "wrong-secret").await, StatusCode::FORBIDDEN, "invalid_signature").await;
    let unsigned = app.client.post(app.url("/api/webhooks/messenger")).body(body.clone()).send().await.expect("sent");
    expect_error(unsigned, StatusCode::FORBIDDEN, "invalid_signature").await;
    let unknown_page = body.replace(PAGE, "5555");
    expect_error(post_messenger(&app, &unknown_page, MESSENGER_SECRET).await, StatusCode::NOT_FOUND, "not_found").await;
    expect_error(
        post_messenger(&app, "{\"object\":", MESSENGER_SECRET).await,
        StatusCode::BAD_REQUEST,
        "invalid_webhook",
    )
    .await;
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(list["conversations"], json!([]), "nothing was stored");
}

async fn messenger_replies_go_out_with_retries(backend: Backend) {
    let Some((app, tenant, provider)) = channels_app(backend).await else {
        return;
    };
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    post_messenger(&app, &messenger_body(vec![messenger_event("PSID9", "mid.9", "need help")]), MESSENGER_SECRET).await;
    let inbound = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    let conversation_id = inbound["message"]["conversation_id"].as_str().expect("id").to_owned();

    provider.lock().expect("lock").fail_next = 2;
    let path = format!("/api/conversations/{conversation_id}/messages");
    let reply =
        expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "We are here" })).await, StatusCode::CREATED)
            .await;
    assert_eq!(reply["message"]["delivery"], "pending");
    let sent = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "delivery_updated").await;
    assert_eq!(sent["delivery"], "sent", "{sent}");
    let requests = provider.lock().expect("lock").requests.clone();
    assert_eq!(requests.len(), 3, "two 500s then a success: {requests:?}");
    let sent_body: Value = serde_json::from_str(&requests[2].1).expect("JSON body");
    assert_eq!(sent_body["recipient"]["id"], "PSID9");
    assert_eq!(sent_body["message"]["text"], "We are here");
    let stored = messages_of(&app, &tenant, &conversation_id).await;
    assert_eq!(stored[1]["delivery"], "sent");
    // Each provider call is readable with the message: stored as an intent, completed with its outcome.
    let message_id = stored[1]["id"].as_str().expect("id");
    let path = format!("/api/conversations/{conversation_id}/messages/{message_id}/delivery");
    let delivery = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    assert_eq!((&delivery["delivery"], &delivery["provider_msg_id"]), (&json!("sent"), &json!("m_out_3")));
    let attempts = delivery["attempts"].as_array().expect("attempts");
    let seen: Vec<(Value, Value, Value)> =
        attempts.iter().map(|a| (a["attempt"].clone(), a["outcome"].clone(), a["status_code"].clone())).collect();
    assert_eq!(
        seen,
        [
            (json!(1), json!("retry"), json!(500)),
            (json!(2), json!("retry"), json!(500)),
            (json!(3), json!("sent"), json!(200))
        ]
    );
    assert!(attempts.iter().all(|a| a["finished_at"].as_i64() >= a["created_at"].as_i64()));
    let inbound_id = stored[0]["id"].as_str().expect("id");
    let inbound = format!("/api/conversations/{conversation_id}/messages/{inbound_id}/delivery");
    let inbound = expect_status(app.get_as(&inbound, &tenant.token).await, StatusCode::OK).await;
    assert_eq!((&inbound["delivery"], &inbound["attempts"]), (&Value::Null, &json!([])));
    let other = app.new_tenant(&["chatbot"]).await;
    expect_error(app.get_as(&path, &other.token).await, StatusCode::NOT_FOUND, "not_found").await;

    // Messenger later reports it delivered.
    let receipt = json!({ "sender": { "id": "PSID9" }, "recipient": { "id": PAGE }, "timestamp": 2,
                          "delivery": { "mids": ["m_out_3"], "watermark": 2 } });
    assert_eq!(post_messenger(&app, &messenger_body(vec![receipt]), MESSENGER_SECRET).await.status(), StatusCode::OK);
    dashboard_event(&mut dashboard, "activity:new", |d| d["delivery"] == "delivered").await;
    assert_eq!(messages_of(&app, &tenant, &conversation_id).await[1]["delivery"], "delivered");
}

async fn client_errors_are_not_retried(backend: Backend) {
    let Some((app, tenant, provider)) = channels_app(backend).await else {
        return;
    };
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    post_messenger(&app, &messenger_body(vec![messenger_event("PSID10", "mid.10", "hi")]), MESSENGER_SECRET).await;
    let inbound = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    let conversation_id = inbound["message"]["conversation_id"].as_str().expect("id").to_owned();
    {
        let mut provider = provider.lock().expect("lock");
        provider.fail_next = 10;
        provider.fail_status = 400;
    }
    let path = format!("/api/conversations/{conversation_id}/messages");
    expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "hello?" })).await, StatusCode::CREATED).await;
    let failed = dashboard_event(&mut dashboard, "activity:new", |d| d["type"] == "delivery_updated").await;
    assert_eq!(failed["delivery"], "failed");
    assert!(failed["error"].as_str().expect("error").contains("400"), "{failed}");
    assert_eq!(provider.lock().expect("lock").requests.len(), 1, "a 4xx is never retried");
    let stored = messages_of(&app, &tenant, &conversation_id).await;
    assert_eq!(stored[1]["delivery"], "failed");
    let path =
        format!("/api/conversations/{conversation_id}/messages/{}/delivery", stored[1]["id"].as_str().expect("id"));
    let delivery = expect_status(app.get_as(&path, &tenant.token).await, StatusCode::OK).await;
    assert_eq!(
        (&delivery["attempts"][0]["outcome"], &delivery["attempts"][0]["status_code"]),
        (&json!("failed"), &json!(400))
    );
}

async fn whatsapp_round_trip_with_status_callbacks(backend: Backend) {
    let Some((app, tenant, provider)) = channels_app(backend).await else {
        return;
    };
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let inbound = [
        ("MessageSid", "SM100"),
        ("AccountSid", "AC123"),
        ("From", "whatsapp:+15550001111"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "hola"),
        ("NumMedia", "0"),
    ];
    let response = post_twilio(&app, "/api/webhooks/twilio/whatsapp", &inbound, TWILIO_TOKEN).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.expect("body").contains("<Response></Response>"), "empty TwiML");
    let message = dashboard_event(&mut dashboard, "message:new", |_| true).await;
    assert_eq!((message["channel"].as_str(), message["message"]["text"].as_str()), (Some("whatsapp"), Some("hola")));
    let conversation_id = message["message"]["conversation_id"].as_str().expect("id").to_owned();
    // Redelivery is stored once.
    assert_eq!(
        post_twilio(&app, "/api/webhooks/twilio/whatsapp", &inbound, TWILIO_TOKEN).await.status(),
        StatusCode::OK
    );
    assert_eq!(messages_of(&app, &tenant, &conversation_id).await.len(), 1);

    let path = format!("/api/conversations/{conversation_id}/messages");
    expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "¡Hola!" })).await, StatusCode::CREATED).await;
    dashboard_event(&mut dashboard, "activity:new", |d| d["delivery"] == "sent").await;
    let (path_sent, form) = provider.lock().expect("lock").requests[0].clone();
    assert!(path_sent.ends_with("/Accounts/AC123/Messages.json"), "{path_sent}");
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&form).expect("form body");
    assert!(form.contains(&("From".into(), "whatsapp:+14155238886".into())), "{form:?}");
    assert!(form.contains(&("To".into(), "whatsapp:+15550001111".into())), "{form:?}");

    let status = [("MessageSid", "SMout1"), ("MessageStatus", "delivered")];
    assert_eq!(post_twilio(&app, "/api/webhooks/twilio/status", &status, TWILIO_TOKEN).await.status(), StatusCode::OK);
    dashboard_event(&mut dashboard, "activity:new", |d| d["delivery"] == "delivered").await;
    assert_eq!(messages_of(&app, &tenant, &conversation_id).await[1]["delivery"], "delivered");
}

async fn bad_twilio_webhooks_store_nothing(backend: Backend) {
    let Some((app, tenant, _)) = channels_app(backend).await else {
        return;
    };
    let inbound =
        [("MessageSid", "SM200"), ("From", "whatsapp:+15550002222"), ("To", "whatsapp:+14155238886"), ("Body", "x")];
    let forged = post_twilio(&app, "/api/webhooks/twilio/whatsapp", &inbound, "not-the-token").await;
    expect_error(forged, StatusCode::FORBIDDEN, "invalid_signature").await;
    let unknown =
        [("MessageSid", "SM201"), ("From", "whatsapp:+15550002222"), ("To", "whatsapp:+19998887777"), ("Body", "x")];
    expect_error(
        post_twilio(&app, "/api/webhooks/twilio/whatsapp", &unknown, TWILIO_TOKEN).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let empty = [("MessageSid", "SM202"), ("From", "whatsapp:+15550002222"), ("To", "whatsapp:+14155238886")];
    expect_error(
        post_twilio(&app, "/api/webhooks/twilio/whatsapp", &empty, TWILIO_TOKEN).await,
        StatusCode::BAD_REQUEST,
        "invalid_webhook",
    )
    .await;
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    assert_eq!(list["conversations"], json!([]));
}

async fn a_page_belongs_to_one_license(backend: Backend) {
    let Some((app, owner, _)) = channels_app(backend).await else {
        return;
    };
    let other = app.new_tenant(&["chatbot"]).await;
    let claim = json!({ "provider": "messenger", "page_id": PAGE });
    expect_error(app.post_as("/api/integrations", &other.token, &claim).await, StatusCode::CONFLICT, "already_claimed")
        .await;
    let bad = json!({ "provider": "whatsapp", "number": "555" });
    expect_error(app.post_as("/api/integrations", &other.token, &bad).await, StatusCode::BAD_REQUEST, "invalid_value")
        .await;
    let listed = expect_status(app.get_as("/api/integrations", &owner.token).await, StatusCode::OK).await;
    let page = listed["integrations"]
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["provider"] == "messenger")
        .expect("page")
        .clone();
    let path = format!("/api/integrations/{}", page["id"].as_str().expect("id"));
    expect_error(app.delete_as(&path, &other.token).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.delete_as(&path, &owner.token).await.status(), StatusCode::NO_CONTENT);
    expect_status(app.post_as("/api/integrations", &other.token, &claim).await, StatusCode::CREATED).await;
}

async fn unconfigured_channels_are_disabled(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let mut config = test_config(database_url, backend);
    config.messenger_app_secret = None;
    config.twilio_auth_token = None;
    let app = spawn_with(config).await;
    let messenger = post_messenger(&app, &messenger_body(vec![]), MESSENGER_SECRET).await;
    expect_error(messenger, StatusCode::SERVICE_UNAVAILABLE, "channel_disabled").await;
    let twilio = post_twilio(&app, "/api/webhooks/twilio/whatsapp", &[("MessageSid", "x")], TWILIO_TOKEN).await;
    expect_error(twilio, StatusCode::SERVICE_UNAVAILABLE, "channel_disabled").await;
    // The rest of the server runs.
    assert_eq!(app.client.get(app.url("/readyz")).send().await.expect("sent").status(), StatusCode::OK);
}

/// Inbound messages beyond the license's per-second budget are refused with 429 before any work; the
/// provider's retry of a refused one is stored once.
async fn an_inbound_flood_is_slowed_per_license(backend: Backend) {
    let Some((app, tenant, _)) = channels_app_with(backend, |c| c.burst.webhook_ingest_rate_per_second = 1).await
    else {
        return;
    };
    let mut refused = None;
    for i in 0..20 {
        let body = messenger_body(vec![messenger_event("PSID20", &format!("mid.flood.{i}"), &format!("m{i}"))]);
        let response = post_messenger(&app, &body, MESSENGER_SECRET).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.headers()["retry-after"], "1");
            expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
            refused = Some(body);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let body = refused.expect("20 messages at once cross a budget of 1 per second (bursts of 2)");
    // The provider retries until it is taken; the message is stored once.
    let mut taken = false;
    for _ in 0..50 {
        if post_messenger(&app, &body, MESSENGER_SECRET).await.status() == StatusCode::OK {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(taken, "a retry after Retry-After is taken");
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    let conversation_id = list["conversations"][0]["id"].as_str().expect("id").to_owned();
    let texts: Vec<Value> =
        messages_of(&app, &tenant, &conversation_id).await.iter().map(|m| m["text"].clone()).collect();
    let unique: std::collections::BTreeSet<String> = texts.iter().map(|t| t.to_string()).collect();
    assert_eq!(unique.len(), texts.len(), "no message stored twice: {texts:?}");
}

crate::on_both_stores!(
    an_inbound_flood_is_slowed_per_license,
    messenger_handshake_echoes_the_challenge,
    messenger_messages_reach_the_dashboard_once,
    bad_messenger_webhooks_store_nothing,
    messenger_replies_go_out_with_retries,
    client_errors_are_not_retried,
    whatsapp_round_trip_with_status_callbacks,
    bad_twilio_webhooks_store_nothing,
    a_page_belongs_to_one_license,
    unconfigured_channels_are_disabled,
);

/// Node a holds an agent's Messenger reply whose first attempt failed and whose next retry is a minute
/// away; from now on the provider answers 200. `settings` are added to every node's environment.
struct PendingReply {
    cluster: crate::cluster::Cluster,
    a: crate::cluster::Node,
    env: Vec<(&'static str, String)>,
    tenant: Tenant,
    conversation_id: String,
    provider: Arc<Mutex<Provider>>,
}

impl PendingReply {
    async fn start(settings: &[(&'static str, &str)]) -> Option<Self> {
        let cluster = crate::cluster::Cluster::new().await?;
        let (provider_url, provider) = fake_provider().await;
        provider.lock().expect("lock").fail_next = 1_000;
        let mut env: Vec<(&'static str, String)> = vec![
            ("MESSENGER_APP_SECRET", MESSENGER_SECRET.into()),
            ("MESSENGER_VERIFY_TOKEN", "verify-me".into()),
            ("MESSENGER_PAGE_ACCESS_TOKEN", "page-token".into()),
            ("MESSENGER_API_BASE", provider_url),
            ("OUTBOUND_MAX_ATTEMPTS", "10".into()),
            ("OUTBOUND_BASE_DELAY_MS", "60000".into()),
        ];
        env.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let a = cluster.node("a", &Self::pairs(&env)).await;
        let tenant = a.app.new_tenant(&["chatbot"]).await;
        let page = json!({ "provider": "messenger", "page_id": PAGE });
        expect_status(a.app.post_as("/api/integrations", &tenant.token, &page).await, StatusCode::CREATED).await;
        let body = messenger_body(vec![messenger_event("PSID11", "mid.11", "anyone?")]);
        assert_eq!(post_messenger(&a.app, &body, MESSENGER_SECRET).await.status(), StatusCode::OK);
        let list =
            expect_status(a.app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK)
                .await;
        let conversation_id = list["conversations"][0]["id"].as_str().expect("id").to_owned();
        let path = format!("/api/conversations/{conversation_id}/messages");
        expect_status(a.app.post_as(&path, &tenant.token, &json!({ "text": "on our way" })).await, StatusCode::CREATED)
            .await;
        sent(&provider).await;
        provider.lock().expect("lock").fail_next = 0;
        Some(Self { cluster, a, env, tenant, conversation_id, provider })
    }

    fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// Starts node b and waits (up to 15 s) for it to send the reply; asserts exactly one more request.
    async fn resumed_by_node_b(&self) {
        let b = self.cluster.node("b", &Self::pairs(&self.env)).await;
        let mut delivered = false;
        for _ in 0..150 {
            if messages_of(&b.app, &self.tenant, &self.conversation_id).await[1]["delivery"] == "sent" {
                delivered = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(delivered, "node b resumed the pending delivery");
        let requests = self.provider.lock().expect("lock").requests.clone();
        assert_eq!(requests.len(), 2, "one failed attempt on a, one resumed on b: {requests:?}");
    }
}

/// A node stops (killed) while a reply is still being retried; another node resumes it once it is
/// older than OUTBOUND_ORPHAN_SECONDS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_left_pending_by_a_stopped_node_is_resumed() {
    let Some(mut pending) = PendingReply::start(&[("OUTBOUND_ORPHAN_SECONDS", "2")]).await else { return };
    pending.a.kill().await;
    pending.resumed_by_node_b().await;
}

/// A node stopped with SIGTERM while a reply waits for its next retry releases it: another node with
/// the default 600 s orphan threshold resumes it within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_releases_its_deliveries_to_the_others() {
    let Some(mut pending) = PendingReply::start(&[("SHUTDOWN_GRACE_SECONDS", "2")]).await else { return };
    let stopped = std::time::Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pending.a.pid(), libc::SIGTERM) }, 0);
    assert_eq!(pending.a.wait().await.code(), Some(0), "node a exits cleanly");
    pending.resumed_by_node_b().await;
    assert!(stopped.elapsed() < std::time::Duration::from_secs(20), "resumed after {:?}", stopped.elapsed());
}

/// Node a dies (SIGKILL) during the provider call of a reply: the provider may have taken it. Node b,
/// resuming the orphaned delivery, finds the stored intent still in flight and marks the reply
/// `unknown` instead of sending it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_off_mid_call_is_not_sent_twice() {
    let Some(cluster) = crate::cluster::Cluster::new().await else { return };
    let (provider_url, provider) = fake_provider().await;
    provider.lock().expect("lock").hang = true;
    let env = [
        ("MESSENGER_APP_SECRET", MESSENGER_SECRET),
        ("MESSENGER_VERIFY_TOKEN", "verify-me"),
        ("MESSENGER_PAGE_ACCESS_TOKEN", "page-token"),
        ("MESSENGER_API_BASE", provider_url.as_str()),
        ("OUTBOUND_ORPHAN_SECONDS", "1"),
        ("OUTBOUND_TIMEOUT_MS", "600000"),
    ];
    let mut a = cluster.node("a", &env).await;
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let page = json!({ "provider": "messenger", "page_id": PAGE });
    expect_status(a.app.post_as("/api/integrations", &tenant.token, &page).await, StatusCode::CREATED).await;
    let body = messenger_body(vec![messenger_event("PSID12", "mid.12", "is my order out?")]);
    assert_eq!(post_messenger(&a.app, &body, MESSENGER_SECRET).await.status(), StatusCode::OK);
    let list =
        expect_status(a.app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    let conversation_id = list["conversations"][0]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/conversations/{conversation_id}/messages");
    let reply = expect_status(
        a.app.post_as(&path, &tenant.token, &json!({ "text": "it left today" })).await,
        StatusCode::CREATED,
    )
    .await;
    let message_id = reply["message"]["id"].as_str().expect("id").to_owned();
    sent(&provider).await;
    a.kill().await;
    provider.lock().expect("lock").hang = false;

    let b = cluster.node("b", &env).await;
    let delivery_path = format!("/api/conversations/{conversation_id}/messages/{message_id}/delivery");
    let delivery = eventually(std::time::Duration::from_secs(15), async || {
        let delivery = expect_status(b.app.get_as(&delivery_path, &tenant.token).await, StatusCode::OK).await;
        match delivery["delivery"] != "pending" {
            true => Ok(delivery),
            false => Err(format!("node b has not settled the reply: {delivery}")),
        }
    })
    .await;
    assert_eq!(delivery["delivery"], "unknown", "{delivery}");
    let attempts = delivery["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{delivery}");
    assert_eq!((&attempts[0]["outcome"], &attempts[0]["status_code"]), (&json!("unknown"), &Value::Null));
    assert_eq!(provider.lock().expect("lock").requests.len(), 1, "the reply was not sent a second time");
    assert_eq!(messages_of(&b.app, &tenant, &conversation_id).await[1]["delivery"], "unknown");
}

/// A page connected with its own access token replies with it; the token is stored sealed (not in
/// the clear), never shown, and a page without one uses the operator's token.
async fn a_page_can_bring_its_own_access_token(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else { return };
    let (provider_url, provider) = fake_provider().await;
    let mut config = test_config(database_url.clone(), backend);
    config.messenger_api_base = provider_url;
    config.secrets_key = Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into());
    let app = spawn_with(config).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let own = json!({ "provider": "messenger", "page_id": "2000000001", "page_access_token": "EAAB-own-page-token" });
    let connected =
        expect_status(app.post_as("/api/integrations", &tenant.token, &own).await, StatusCode::CREATED).await;
    assert_eq!(connected["has_access_token"], true);
    assert!(!connected.to_string().contains("EAAB-own"), "the token is never shown: {connected}");
    let shared = json!({ "provider": "messenger", "page_id": "2000000002" });
    expect_status(app.post_as("/api/integrations", &tenant.token, &shared).await, StatusCode::CREATED).await;

    for (page, psid) in [("2000000001", "PSID21"), ("2000000002", "PSID22")] {
        let mut event = messenger_event(psid, &format!("mid.{psid}"), "hello");
        event["recipient"]["id"] = json!(page);
        let body = json!({ "object": "page", "entry": [{ "id": page, "time": 1, "messaging": [event] }] }).to_string();
        assert_eq!(post_messenger(&app, &body, MESSENGER_SECRET).await.status(), StatusCode::OK);
    }
    let list =
        expect_status(app.get_as("/api/products/chatbot/conversations", &tenant.token).await, StatusCode::OK).await;
    for conversation in list["conversations"].as_array().expect("conversations") {
        let path = format!("/api/conversations/{}/messages", conversation["id"].as_str().expect("id"));
        expect_status(app.post_as(&path, &tenant.token, &json!({ "text": "on it" })).await, StatusCode::CREATED).await;
    }
    let mut tokens = eventually(std::time::Duration::from_secs(5), async || {
        let tokens = provider.lock().expect("lock").access_tokens.clone();
        match tokens.len() {
            2 => Ok(tokens),
            _ => Err(format!("replies sent with {tokens:?}")),
        }
    })
    .await;
    tokens.sort();
    assert_eq!(tokens, ["EAAB-own-page-token", "page-token"], "own token for its page, the operator's for the other");

    use sqlx::Connection;
    let stored: Vec<Option<String>> = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&database_url).await.expect("sqlite");
            sqlx::query_scalar("SELECT access_token_sealed FROM integrations").fetch_all(&mut conn).await.expect("rows")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database_url).await.expect("postgres");
            sqlx::query_scalar("SELECT access_token_sealed FROM integrations").fetch_all(&mut conn).await.expect("rows")
        }
    };
    assert!(stored.iter().flatten().count() == 1 && stored.iter().flatten().all(|s| !s.contains("EAAB")), "{stored:?}");
}

/// Without SECRETS_KEY a page cannot bring a token (it would have to be stored in the clear).
async fn page_tokens_need_a_secrets_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let own = json!({ "provider": "messenger", "page_id": "2000000003", "page_access_token": "EAAB-x" });
    expect_error(
        app.post_as("/api/integrations", &tenant.token, &own).await,
        StatusCode::BAD_REQUEST,
        "token_storage_disabled",
    )
    .await;
}

crate::on_both_stores!(a_page_can_bring_its_own_access_token, page_tokens_need_a_secrets_key);
