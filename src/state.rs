//! What the application shares with every HTTP handler and socket upgrade: built once by
//! [`crate::app`], handed to actix-web as `web::Data<AppState>`. It belongs to the wiring, not to a layer.

use crate::actors::Registry;
use crate::audit::Audit;
use crate::auth::{Authenticator, TwoFactor};
use crate::bus::SharedBus;
use crate::channels::messenger::MessengerConfig;
use crate::channels::token_box::TokenBox;
use crate::channels::twilio::TwilioConfig;
use crate::licenses::Licenses;
use crate::limits::RateLimits;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::usage::UsageMeter;
use std::sync::Arc;

/// What every handler can reach, shared across workers.
pub struct AppState {
    /// The durable store.
    pub store: Store,
    /// Token issue and validation.
    pub auth: Authenticator,
    /// Members' TOTP second factors and recovery codes.
    pub two_factor: TwoFactor,
    /// Bearer token of the admin API; `None` disables it.
    pub admin_token: Option<String>,
    /// Whether the session cookie is marked `Secure`.
    pub cookie_secure: bool,
    /// The live actors.
    pub registry: Registry,
    /// The event bus, for what handlers announce or follow themselves (revocations, delivery states).
    pub bus: SharedBus,
    /// Issue, suspend and reinstate licenses (the same operations as the CLI).
    pub licenses: Licenses,
    /// Widget rate limits, per visitor and per license.
    pub limits: Arc<RateLimits>,
    /// The URL the outside world reaches this server at (`PUBLIC_URL`), if configured.
    pub public_url: Option<String>,
    /// Messenger webhook settings; `None` disables the channel.
    pub messenger: Option<MessengerConfig>,
    /// Twilio webhook settings; `None` disables WhatsApp.
    pub twilio: Option<TwilioConfig>,
    /// The stop signal: sockets close and `/readyz` answers 503 once it fires.
    pub shutdown: Shutdown,
    /// Socket.IO sockets open on this node.
    pub socketio: crate::ws::socketio::SocketIoCounts,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_x_forwarded_for: bool,
    /// Largest widget frame or message.
    pub widget_max_frame_bytes: usize,
    /// Largest provider webhook body.
    pub webhook_max_body_bytes: usize,
    /// Seals tenants' page tokens; `None` without `SECRETS_KEY`.
    pub tokens: Option<Arc<TokenBox>>,
    /// Bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
    /// The audit trail operations append to.
    pub audit: Audit,
    /// Daily API-call counts and allowances.
    pub usage: Arc<UsageMeter>,
    /// Outgoing webhook URLs must be https and public (`WEBHOOK_STRICT_URLS`).
    pub webhook_strict_urls: bool,
    /// How long a rotated-out webhook secret keeps signing.
    pub webhook_secret_overlap: std::time::Duration,
    /// Starts this node's retention sweep now (a license changed its period).
    pub retention: crate::retention::RetentionWaker,
    /// Pushes commands and saved configurations to live widgets on every node.
    pub widget_hub: crate::ws::widget::WidgetHub,
    /// Signed widget commands already accepted within the replay window, refused if sent again.
    pub seen_signatures: Arc<crate::webhooks::SeenSignatures>,
}
