//! Commands to live widgets: `POST /api/widget/commands` (dashboard token or an API key with
//! `widget:command`) and the document's signed incoming webhook, `POST /api/webhooks/widget-commands`
//! (`{command, siteId, data}`, signed like our outgoing webhooks with one of the license's webhook
//! secrets). Both deliver through the [`WidgetHub`](crate::ws::widget::WidgetHub) to every node and
//! answer how many widget sockets took the command. Nothing is stored: a command reaches the widgets
//! open now, or nobody.

use super::{resolve_widget_key, ApiError, Caller};
use crate::domain::{Channel, Empty, OpenChat, ShowNotification, TrackEvent};
use crate::domain::{
    CommandTarget, ContactId, ConversationId, LicenseKey, Permission, ProductKey, Scope, WidgetCommand, WidgetConfig,
    MAX_COMMAND_DATA_BYTES,
};
use crate::state::AppState;
use crate::webhooks::open_stored;
use crate::webhooks::signature::{parse_header, verify, SignatureError, REPLAY_WINDOW_SECONDS, SIGNATURE_HEADER};
use crate::ws::widget::Reach;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Mounts the command routes under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/widget/commands", web::post().to(send)).route("/webhooks/widget-commands", web::post().to(signed));
}

/// Whom a command is for; absent: every widget of the license.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Recipient {
    /// Every tab of one visitor (the `v_…` id dashboards see).
    VisitorId(VisitorRef),
    /// The visitor of one widget conversation.
    ConversationId(ConversationRef),
}

/// A visitor's public id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(pattern = r"^v_[0-9a-f]{16}$")]
struct VisitorRef(String);

/// A conversation id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(pattern = r"^[0-9a-f]{32}$")]
struct ConversationRef(String);

/// A command, its data, and whom it is for. `siteId` (a `chat_` key of the license) may name the site.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
enum WidgetCommandRequest {
    /// Opens the chat panel; `data.message` shows a line from the team first.
    OpenChat {
        #[serde(default)]
        to: Option<Recipient>,
        #[serde(default, rename = "siteId")]
        #[schema(pattern = r"^chat_[a-z0-9]{16}$")]
        site_id: Option<String>,
        #[serde(default)]
        data: OpenChat,
    },
    /// Closes the chat panel.
    CloseChat {
        #[serde(default)]
        to: Option<Recipient>,
        #[serde(default, rename = "siteId")]
        #[schema(pattern = r"^chat_[a-z0-9]{16}$")]
        site_id: Option<String>,
        #[serde(default)]
        data: Empty,
    },
    /// Shows a notice next to the launcher.
    ShowNotification {
        #[serde(default)]
        to: Option<Recipient>,
        #[serde(default, rename = "siteId")]
        #[schema(pattern = r"^chat_[a-z0-9]{16}$")]
        site_id: Option<String>,
        data: ShowNotification,
    },
    /// Merges settings into the live widgets' configuration for this page view (not saved).
    UpdateSettings {
        #[serde(default)]
        to: Option<Recipient>,
        #[serde(default, rename = "siteId")]
        #[schema(pattern = r"^chat_[a-z0-9]{16}$")]
        site_id: Option<String>,
        #[schema(value_type = WidgetConfig)]
        data: Map<String, Value>,
    },
    /// Hands an analytics event to the page (`window.dataLayer`, a `switchboard:track` DOM event).
    TrackEvent {
        #[serde(default)]
        to: Option<Recipient>,
        #[serde(default, rename = "siteId")]
        #[schema(pattern = r"^chat_[a-z0-9]{16}$")]
        site_id: Option<String>,
        data: TrackEvent,
    },
}

impl WidgetCommandRequest {
    /// The recipient, the named site and the command itself.
    fn split(self) -> (Option<Recipient>, Option<String>, WidgetCommand) {
        match self {
            Self::OpenChat { to, site_id, data } => (to, site_id, WidgetCommand::OpenChat(data)),
            Self::CloseChat { to, site_id, data } => (to, site_id, WidgetCommand::CloseChat(data)),
            Self::ShowNotification { to, site_id, data } => (to, site_id, WidgetCommand::ShowNotification(data)),
            Self::UpdateSettings { to, site_id, data } => (to, site_id, WidgetCommand::UpdateSettings(data)),
            Self::TrackEvent { to, site_id, data } => (to, site_id, WidgetCommand::TrackEvent(data)),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/widget/commands",
    tag = "widget",
    request_body = WidgetCommandRequest,
    responses((status = 200, description = "how many widget sockets took the command", body = CommandReach)),
    security(("bearer" = []), ("api_key" = []))
)]
async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<WidgetCommandRequest>,
) -> Result<HttpResponse, ApiError> {
    let (to, site_id, command) = body.into_inner().split();
    // Everyone's widgets, or their settings, are the site's business; one visitor's panel is an agent's.
    let permission = match (&to, &command) {
        (None, _) | (_, WidgetCommand::UpdateSettings(_)) => Permission::ManageSettings,
        _ => Permission::Answer,
    };
    caller.require(permission, Scope::WidgetCommand)?;
    if let Some(site_id) = site_id {
        let record = resolve_widget_key(&state.store, &ProductKey::parse(&site_id)?).await?;
        if &record.license_key != caller.license() {
            return Err(ApiError::NotFound("site"));
        }
    }
    let prepared = prepare(&state, caller.license(), to, command).await?;
    Ok(deliver(&state, caller.license(), prepared).await)
}

/// What a command reached.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct CommandReach {
    /// The command's name.
    command: &'static str,
    /// Widget sockets (browser tabs) that took it, on every node that answered.
    delivered: usize,
    /// Nodes the command reached.
    nodes: usize,
    /// Nodes that reported their count in time; fewer than `nodes` means `delivered` may be low.
    nodes_answered: usize,
}

/// Resolves whom the command is for and checks it against the license's configuration; nothing is sent.
async fn prepare(
    state: &AppState,
    license: &LicenseKey,
    to: Option<Recipient>,
    command: WidgetCommand,
) -> Result<(CommandTarget, WidgetCommand), ApiError> {
    if command.oversized().is_some() {
        return Err(ApiError::PayloadTooLarge(MAX_COMMAND_DATA_BYTES));
    }
    let target = match to {
        None => CommandTarget::All,
        Some(Recipient::VisitorId(VisitorRef(id))) => CommandTarget::Visitor(ContactId::from(id)),
        Some(Recipient::ConversationId(ConversationRef(id))) => {
            let id = ConversationId::parse(&id)?;
            let conversation =
                state.store.conversation(license, &id).await?.ok_or(ApiError::NotFound("conversation"))?;
            if conversation.channel != Channel::Widget {
                return Err(ApiError::bad_request(
                    "not_a_widget_conversation",
                    "only widget conversations have a widget to command",
                ));
            }
            CommandTarget::Visitor(conversation.contact_id)
        }
    };
    let current = super::widget::stored_config(state, license).await?;
    let command = command.validate(&current).map_err(|e| ApiError::bad_request("invalid_value", e.0))?;
    Ok((target, command))
}

/// Sends a prepared command to every node and answers what it reached.
async fn deliver(
    state: &AppState,
    license: &LicenseKey,
    (target, command): (CommandTarget, WidgetCommand),
) -> HttpResponse {
    let reach = state.widget_hub.push(license, target, command_frame(&command)).await;
    HttpResponse::Ok().json(reach_body(command.name(), reach))
}

fn reach_body(command: &'static str, reach: Reach) -> CommandReach {
    CommandReach { command, delivered: reach.delivered, nodes: reach.nodes, nodes_answered: reach.nodes_answered }
}

/// The widget frame of a command: `{"type": "command", "command": "<name>", "data": {…}}`.
fn command_frame(command: &WidgetCommand) -> String {
    let mut frame = serde_json::to_value(command).unwrap_or_default();
    if let Some(fields) = frame.as_object_mut() {
        fields.insert("type".into(), json!("command"));
    }
    frame.to_string()
}

/// The widget frame that hands a saved configuration to live widgets (contract item 3).
pub fn config_frame(config: &Value) -> String {
    json!({ "type": "config", "config": config }).to_string()
}

#[utoipa::path(
    post,
    path = "/api/webhooks/widget-commands",
    tag = "widget",
    request_body = WidgetCommandRequest,
    params(("X-Switchboard-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, \"<t>.<raw body>\")>")),
    responses((status = 200, description = "how many widget sockets took the command", body = CommandReach))
)]
async fn signed(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let header = req.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let refusal = |e: SignatureError| {
        ApiError::Unauthorized(match e {
            SignatureError::Malformed => format!("send {SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256>"),
            SignatureError::Stale => format!("the signature's t is more than {REPLAY_WINDOW_SECONDS} s from now"),
            SignatureError::Mismatch => "the signature matches none of the license's webhook secrets".into(),
        })
    };
    // An unsigned request learns nothing about the body or the site.
    parse_header(header).map_err(refusal)?;
    let request: WidgetCommandRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")))?;
    let (to, site_id, command) = request.split();
    let site_id =
        site_id.ok_or_else(|| ApiError::bad_request("invalid_value", "siteId (the chat_ key) is required"))?;
    let record = resolve_widget_key(&state.store, &ProductKey::parse(&site_id)?).await?;
    let stored = state.store.webhook_signing_secrets(&record.license_key).await?;
    // A secret this node cannot open (sealed, no SECRETS_KEY here) cannot have signed anything it checks.
    let secrets: Vec<_> =
        stored.iter().filter_map(|s| open_stored(state.tokens.as_deref(), &record.license_key, s).ok()).collect();
    if secrets.is_empty() {
        return Err(ApiError::Unauthorized(
            "this license has no webhook endpoint, so no secret to sign commands with; create one first".into(),
        ));
    }
    let now = crate::domain::now_millis() / 1000;
    let signature = verify(header, &secrets, &body, now).map_err(refusal)?;
    let prepared = prepare(&state, &record.license_key, to, command).await?;
    // Remembered only once the command is known good: a refused one may be fixed and signed again.
    if !state.seen_signatures.first_time(&signature, now) {
        return Err(ApiError::conflict("signature_replayed", "this signed command was already accepted"));
    }
    Ok(deliver(&state, &record.license_key, prepared).await)
}
