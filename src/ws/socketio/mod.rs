//! Socket.IO (v5 protocol, websocket and polling) for dashboards, served by socketioxide on its own
//! listener (`SOCKETIO_PORT`) and its own tokio runtime in this process: socketioxide is a tower
//! service and does not mount inside actix-web. It shares the registry, the bus and the authenticator.
//!
//! A client connects with `io(url, {auth: {token}})`; a bad token gets `connect_error` with a reason.
//! An accepted socket joins `license:<key>` only. One bridge task per license with sockets on this node
//! forwards the license's bus events to them; a socket whose bounded queue is full is disconnected.

use crate::actors::{agent_conversation, agent_message, AgentError, DashboardPresence, Registry};
use crate::auth::Authenticator;
use crate::bus::{BusEvent, Event, SharedBus};
use crate::domain::UserId;
use crate::domain::{ConversationStatus, LicenseKey};
use crate::error::ApiError;
use crate::shutdown::Shutdown;
use dashmap::DashMap;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{BroadcastError, SocketIo};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tower_http::cors::CorsLayer;

mod listener;

pub use listener::ListenerCaps;

/// Events a dashboard socket may queue before it counts as a slow consumer.
pub const SOCKET_QUEUE: usize = 256;

/// What the Socket.IO handlers share.
#[derive(Clone)]
pub struct SocketIoState {
    /// Token validation.
    pub auth: Authenticator,
    /// The live actors.
    pub registry: Registry,
    /// The license topics the bridges relay.
    pub bus: SharedBus,
    bridges: Arc<DashMap<LicenseKey, (usize, tokio::task::JoinHandle<()>)>>,
    io: Arc<OnceLock<SocketIo>>,
}

/// Who a socket belongs to, set by the auth middleware.
#[derive(Clone)]
struct Dashboard {
    license: LicenseKey,
    user_id: UserId,
    /// The session the socket was opened with; revoking it closes the socket.
    jti: String,
}

/// Counts the Socket.IO sockets open on this node (for `/api/admin/stats`).
#[derive(Clone, Default)]
pub struct SocketIoCounts {
    io: Arc<OnceLock<SocketIo>>,
}

impl SocketIoCounts {
    /// Open sockets on this node, of one license or of all.
    pub fn sockets(&self, license: Option<&LicenseKey>) -> usize {
        let Some(io) = self.io.get() else { return 0 };
        match license {
            Some(license) => io.within(room(license)).sockets().len(),
            None => io.sockets().len(),
        }
    }
}

/// Binds nothing itself: serves Socket.IO on `listener` from a runtime of `threads` threads on its own
/// OS thread, until `shutdown` fires (then every socket is disconnected and the listener closes).
pub fn serve(
    listener: std::net::TcpListener,
    auth: Authenticator,
    registry: Registry,
    bus: SharedBus,
    threads: usize,
    caps: ListenerCaps,
    shutdown: Shutdown,
) -> anyhow::Result<SocketIoCounts> {
    listener.set_nonblocking(true)?;
    let counts = SocketIoCounts::default();
    let io = counts.io.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("socketio")
        .enable_all()
        .build()?;
    std::thread::Builder::new().name("socketio-accept".into()).spawn(move || {
        runtime.block_on(async move {
            if let Err(err) = run(listener, auth, registry, bus, caps, shutdown, io).await {
                tracing::error!(%err, "the Socket.IO listener stopped");
            }
        });
    })?;
    Ok(counts)
}

async fn run(
    listener: std::net::TcpListener,
    auth: Authenticator,
    registry: Registry,
    bus: SharedBus,
    caps: ListenerCaps,
    shutdown: Shutdown,
    io: Arc<OnceLock<SocketIo>>,
) -> anyhow::Result<()> {
    let state = SocketIoState { auth, registry, bus, bridges: Arc::default(), io };
    let (service, io) = SocketIo::builder()
        .with_state(state.clone())
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .max_payload(64 * 1024)
        .ws_max_message_size(64 * 1024)
        .max_buffer_size(SOCKET_QUEUE)
        .build_svc();
    io.ns("/", on_connect.with(authenticate));
    let _ = state.io.set(io.clone());
    // Dashboards live on other origins; the polling transport needs CORS (tokens travel in the auth payload).
    let service =
        TowerToHyperService::new(tower::ServiceBuilder::new().layer(CorsLayer::permissive()).service(service));
    listener::accept(tokio::net::TcpListener::from_std(listener)?, service, &caps, &shutdown).await;
    // Every socket gets a disconnect (clients reconnect elsewhere); the listener is closed by now.
    io.close().await;
    Ok(())
}

#[derive(Deserialize)]
struct AuthPayload {
    token: String,
}

/// Why a connection was refused; the message becomes the client's `connect_error`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Connect middleware: a valid, unrevoked token or `connect_error`.
async fn authenticate(
    socket: SocketRef,
    TryData(payload): TryData<AuthPayload>,
    State(state): State<SocketIoState>,
) -> Result<(), Refused> {
    let payload =
        payload.map_err(|_| Refused("authentication required: connect with io(url, { auth: { token } })".into()))?;
    let claims = state.auth.validate(&payload.token).await.map_err(|e| Refused(e.to_string()))?;
    socket.extensions.insert(Dashboard { license: claims.license_key, user_id: claims.sub, jti: claims.jti });
    Ok(())
}

async fn on_connect(socket: SocketRef, Extension(dashboard): Extension<Dashboard>, State(state): State<SocketIoState>) {
    socket.join(room(&dashboard.license));
    crate::telemetry::count_socket_opened("socketio");
    state.attach(&dashboard.license);
    state.registry.tenant(&dashboard.license).do_send(DashboardPresence(true));
    socket.on("message:send", on_message_send);
    socket.on("conversation:close", on_close);
    socket.on("typing", on_typing);
    socket.on_disconnect(|Extension(dashboard): Extension<Dashboard>, State(state): State<SocketIoState>, reason: DisconnectReason| async move {
        crate::telemetry::count_socket_closed("socketio", disconnect_label(reason));
        state.registry.tenant(&dashboard.license).do_send(DashboardPresence(false));
        state.detach(&dashboard.license);
    });
}

/// The metric label of a Socket.IO disconnect.
fn disconnect_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::ClientNSDisconnect | DisconnectReason::TransportClose => "client",
        DisconnectReason::HeartbeatTimeout => "timeout",
        DisconnectReason::ServerNSDisconnect => "revoked",
        DisconnectReason::ClosingServer => "restart",
        _ => "other",
    }
}

/// The room of a license: the only room a dashboard socket joins.
pub fn room(license: &LicenseKey) -> String {
    format!("license:{license}")
}

#[derive(Deserialize)]
struct SendPayload {
    conversation_id: String,
    text: String,
    client_msg_id: Option<String>,
}

/// Runs a client emit's action and answers through its acknowledgement: `{ok: false, error}` for a
/// payload that does not parse or an action that fails.
async fn acknowledge<P, E, F, Fut>(ack: AckSender, payload: Result<P, E>, action: F)
where
    E: std::fmt::Display,
    F: FnOnce(P) -> Fut,
    Fut: std::future::Future<Output = Result<Value, AgentError>>,
{
    let answer = match payload {
        Err(err) => invalid(&err),
        Ok(payload) => action(payload).await.unwrap_or_else(failure),
    };
    let _ = ack.send(&answer);
}

async fn on_message_send(
    TryData(payload): TryData<SendPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(ack, payload, |p| async move {
        let message = agent_message(Some(&dashboard.user_id), &p.text, p.client_msg_id.as_deref())?;
        let id = agent_conversation(&p.conversation_id)?;
        let appended = state.registry.agent_reply(&dashboard.license, &id, message).await?;
        Ok(json!({ "ok": true, "duplicate": appended.duplicate, "message": appended.message }))
    })
    .await;
}

#[derive(Deserialize)]
struct ConversationPayload {
    conversation_id: String,
}

async fn on_close(
    TryData(payload): TryData<ConversationPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(ack, payload, |p| async move {
        let closed = ConversationStatus::Closed;
        let id = agent_conversation(&p.conversation_id)?;
        let conversation = state.registry.agent_set_status(&dashboard.license, &id, closed).await?;
        Ok(json!({ "ok": true, "conversation": conversation }))
    })
    .await;
}

#[derive(Deserialize)]
struct TypingPayload {
    conversation_id: String,
    is_typing: bool,
}

async fn on_typing(
    TryData(payload): TryData<TypingPayload>,
    Extension(dashboard): Extension<Dashboard>,
    State(state): State<SocketIoState>,
    ack: AckSender,
) {
    acknowledge(ack, payload, |p| async move {
        let id = agent_conversation(&p.conversation_id)?;
        state.registry.agent_typing(&dashboard.license, &id, p.is_typing).await?;
        Ok(json!({ "ok": true }))
    })
    .await;
}

fn invalid(err: &dyn std::fmt::Display) -> Value {
    json!({ "ok": false, "error": { "code": "invalid_payload", "message": err.to_string() } })
}

/// An action's failure, with the code and message HTTP would answer ([`ApiError`], the one mapping).
fn failure(err: AgentError) -> Value {
    let err = ApiError::from(err);
    if let ApiError::Internal(source) = &err {
        tracing::error!(error = ?source, "a dashboard action failed");
    }
    json!({ "ok": false, "error": { "code": err.code(), "message": err.to_string() } })
}

impl SocketIoState {
    /// Counts a socket of `license`, starting the license's bridge with its first socket.
    fn attach(&self, license: &LicenseKey) {
        let mut entry = self.bridges.entry(license.clone()).or_insert_with(|| (0, self.spawn_bridge(license)));
        entry.0 += 1;
    }

    /// Uncounts a socket; the last one stops the bridge.
    fn detach(&self, license: &LicenseKey) {
        let removed = self.bridges.remove_if_mut(license, |_, (count, _)| {
            *count = count.saturating_sub(1);
            *count == 0
        });
        if let Some((_, (_, bridge))) = removed {
            bridge.abort();
        }
    }

    fn spawn_bridge(&self, license: &LicenseKey) -> tokio::task::JoinHandle<()> {
        let mut events = self.bus.subscribe(license);
        let io = self.io.clone();
        let room = room(license);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if let Some(io) = io.get() {
                            deliver(io, &room, &event).await;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, room, "Socket.IO bridge lagged behind the bus");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}

/// Broadcasts to the room's sockets on this node, encoding the packet once. A socket whose bounded queue
/// is full misses the event, and Engine.IO closes it when its next ping cannot be queued either, so a
/// stalled dashboard costs at most [`SOCKET_QUEUE`] packets of memory and is gone within a ping interval.
async fn deliver(io: &SocketIo, room: &str, event: &BusEvent) {
    if let Event::SessionRevoked { .. } = &event.event {
        for socket in io.local().to(room.to_owned()).sockets() {
            if socket.extensions.get::<Dashboard>().is_some_and(|d| event.event.revokes(&d.jti)) {
                let _ = socket.disconnect();
            }
        }
        return;
    }
    let emitted = io.local().to(room.to_owned()).emit(event.name(), event.data()).await;
    metrics::counter!(crate::telemetry::DELIVERIES, "transport" => "socketio").increment(1);
    metrics::histogram!(crate::telemetry::FANOUT_SECONDS, "transport" => "socketio")
        .record(event.received.elapsed().as_secs_f64());
    match emitted {
        Ok(()) => {}
        Err(BroadcastError::Socket(failed)) => {
            tracing::debug!(sockets = failed.len(), room, "event dropped for full or closing dashboard sockets");
        }
        Err(err) => tracing::warn!(%err, room, "Socket.IO broadcast failed"),
    }
}
