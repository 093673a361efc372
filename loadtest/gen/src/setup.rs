//! Tenants for a run: on Switchboard license → register → login → chatbot key (→ one widget conversation
//! for agent replies), as the k6 scenarios make them; for the Node peer and the floor, HS256 tokens that
//! carry a `license_key`.

use crate::config::Params;
use crate::connect;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "LoadTestPass123";

/// One tenant's credentials.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Its index (the probe's tenant field).
    pub index: usize,
    /// A dashboard token (Switchboard session JWT, or the peer's HS256 token).
    pub token: String,
    /// The chatbot product key (Switchboard).
    pub product_key: Option<String>,
    /// A widget conversation agent replies go to (Switchboard, `INJECT=socketio`).
    pub conversation: Option<String>,
}

/// Makes the run's tenants.
pub async fn tenants(p: &Params) -> Result<Vec<Tenant>, String> {
    if p.target != "switchboard" {
        return Ok((0..p.tenants).map(|i| peer_tenant(p, i)).collect());
    }
    let http = reqwest::Client::new();
    let run = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
    );
    let mut out = Vec::with_capacity(p.tenants);
    for index in 0..p.tenants {
        let email = format!("lg-{run}-{index}@example.com");
        let license = post(
            &http,
            p,
            "/api/admin/licenses",
            Some(&p.admin_token),
            json!({ "email": email, "products": ["chatbot"], "tier": "enterprise" }),
        )
        .await?;
        let license_key = license["license_key"].as_str().ok_or("no license_key")?.to_owned();
        post(
            &http,
            p,
            "/api/auth/register",
            None,
            json!({ "email": email, "password": PASSWORD, "license_key": license_key }),
        )
        .await?;
        let login = post(&http, p, "/api/auth/login", None, json!({ "email": email, "password": PASSWORD })).await?;
        let token = login["token"].as_str().ok_or("no token")?.to_owned();
        let chatbot = post(&http, p, "/api/products/chatbot/configure", Some(&token), json!({})).await?;
        let product_key = chatbot["product_key"].as_str().ok_or("no product_key")?.to_owned();
        let conversation = if p.scenario != "widget_chat" && p.inject == "socketio" {
            Some(open_conversation(p, &product_key, index).await?)
        } else {
            None
        };
        out.push(Tenant { index, token, product_key: Some(product_key), conversation });
    }
    Ok(out)
}

async fn post(
    http: &reqwest::Client,
    p: &Params,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> Result<Value, String> {
    let mut req = http.post(format!("{}{path}", p.base_url)).json(&body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.map_err(|e| format!("POST {path}: {e}"))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| format!("POST {path}: {e}"))?;
    if !status.is_success() {
        return Err(format!("POST {path}: HTTP {status} {}", text.chars().take(300).collect::<String>()));
    }
    serde_json::from_str(&text).map_err(|e| format!("POST {path}: {e}"))
}

/// A visitor's first message opens a conversation; its ack names it.
async fn open_conversation(p: &Params, product_key: &str, index: usize) -> Result<String, String> {
    let url = format!("{}/ws/widget?product_key={product_key}", Params::ws_base(&p.base_url));
    let mut ws = connect::open(&url, index, p.spread_ips).await?;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame.map_err(|e| e.to_string())? else { continue };
        let f: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        match f["type"].as_str() {
            Some("welcome") => {
                let first = json!({ "type": "message", "text": "load test conversation", "client_msg_id": "setup" });
                ws.send(Message::text(first.to_string())).await.map_err(|e| e.to_string())?;
            }
            Some("ack") => {
                let _ = ws.close(None).await;
                return f["conversation_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "ack without conversation_id".into());
            }
            Some("error") => return Err(format!("widget error: {text}")),
            _ => {}
        }
    }
    Err("widget socket closed before its ack".into())
}

fn peer_tenant(p: &Params, index: usize) -> Tenant {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = json!({ "license_key": format!("lic-{now:x}-{index}"), "sub": format!("user-{index}"), "iat": now, "exp": now + 3600 });
    Tenant { index, token: hs256(&claims, &p.jwt_secret), product_key: None, conversation: None }
}

/// An HS256 JWT over `claims`.
pub fn hs256(claims: &Value, secret: &str) -> String {
    let body = format!("{}.{}", B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#), B64.encode(claims.to_string()));
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return body, // HMAC takes keys of any length; unreachable
    };
    mac.update(body.as_bytes());
    format!("{body}.{}", B64.encode(mac.finalize().into_bytes()))
}
