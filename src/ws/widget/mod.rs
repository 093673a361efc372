//! `GET /ws/widget?product_key=chat_…[&visitor_token=…&last_seq=N]`: a visitor's live chat.
//!
//! The product key is checked before the upgrade, so a bad one gets a plain HTTP 4xx with a JSON
//! reason. A visitor token resumes the visitor's conversation and replays what they missed.

mod frames;
mod session;

pub use frames::{parse_client_frame, ClientFrame, ServerFrame};

use crate::domain::{new_id, ProductKey};
use crate::http::{resolve_widget_key, ApiError, AppState};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use session::WidgetSession;
use sha2::{Digest, Sha256};

/// Largest inbound frame; bigger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
pub struct WidgetQuery {
    product_key: String,
    visitor_token: Option<String>,
    last_seq: Option<i64>,
}

/// Upgrades a visitor's connection after checking the product key.
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WidgetQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = ProductKey::parse(&query.product_key)?;
    let record = resolve_widget_key(&state.store, &key).await?;
    let license = record.license_key;
    let (visitor_token, resume) = match query.visitor_token.as_deref().filter(|t| is_visitor_token(t)) {
        Some(token) => (token.to_owned(), state.store.conversation_by_visitor(&license, token).await?),
        None => (new_id(), None),
    };
    let (response, ws, stream) = actix_ws::handle(&req, body)?;
    let session = WidgetSession::new(
        ws,
        license,
        visitor_id_of(&visitor_token),
        visitor_token,
        state.registry.clone(),
        state.limits.clone(),
    );
    let last_seq = query.last_seq.unwrap_or(0).max(0);
    actix_web::rt::spawn(session.run(stream.max_frame_size(MAX_FRAME_BYTES), resume, last_seq));
    Ok(response)
}

/// Tokens are 32 lowercase hex digits (what [`new_id`] makes); anything else starts afresh.
fn is_visitor_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The public visitor id: derived from the secret token, so dashboards never see the token itself.
fn visitor_id_of(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("v_{}", hex::encode(&digest[..8]))
}
