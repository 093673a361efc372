//! Socket.IO (v5 protocol, websocket and polling) for dashboards, served by socketioxide on its own
//! listener (`SOCKETIO_PORT`) and its own tokio runtime in this process: socketioxide is a tower
//! service and does not mount inside actix-web. It shares the registry, the bus and the authenticator.
//!
//! A client connects with `io(url, {auth: {token}})`; a bad token gets `connect_error` with a reason.
//! An accepted socket joins `license:<key>` only. One bridge task per license with sockets on this node
//! forwards the license's bus events to them; a socket whose bounded queue is full is disconnected.

use crate::actors::{DashboardPresence, Registry, Teammate};
use crate::auth::{Access, Authenticator};
use crate::bus::{BusEvent, Event, Notification, SharedBus};
use crate::domain::LicenseKey;
use crate::domain::UserId;
use crate::shutdown::Shutdown;
use dashmap::DashMap;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use socketioxide::extract::{Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{BroadcastError, SocketIo};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tower_http::cors::CorsLayer;

mod emits;
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
    teammate: Teammate,
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
            let state = SocketIoState { auth, registry, bus, bridges: Arc::default(), io };
            if let Err(err) = run(listener, state, caps, shutdown).await {
                tracing::error!(%err, "the Socket.IO listener stopped");
            }
        });
    })?;
    Ok(counts)
}

async fn run(
    listener: std::net::TcpListener,
    state: SocketIoState,
    caps: ListenerCaps,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
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
    let source = socket.req_parts().extensions.get::<listener::ClientAddr>().map(|client| client.0);
    // Every request through our listener carries it; unspecified matches no allow-list entry.
    let source = source.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    // The code leads the message, so clients can tell an address refusal from a bad token.
    state.auth.admit(&claims, source, Access::Full).await.map_err(|e| {
        let refusal = crate::error::ApiError::from(e);
        Refused(format!("{}: {refusal}", refusal.code()))
    })?;
    let teammate = Teammate { license: claims.license_key, id: claims.sub, role: claims.role };
    socket.extensions.insert(Dashboard { teammate, jti: claims.jti });
    Ok(())
}

async fn on_connect(socket: SocketRef, Extension(dashboard): Extension<Dashboard>, State(state): State<SocketIoState>) {
    let room = room(&dashboard.teammate.license);
    // Notifications meant for one member go to their own room.
    socket.join([member_room(&room, &dashboard.teammate.id), room]);
    crate::telemetry::count_socket_opened("socketio");
    state.attach(&dashboard.teammate.license);
    let member = dashboard.teammate.id.clone();
    state.registry.tenant(&dashboard.teammate.license).do_send(DashboardPresence { member, connected: true });
    socket.on("message:send", emits::on_message_send);
    socket.on("conversation:close", emits::on_close);
    socket.on("typing", emits::on_typing);
    socket.on("conversation:assign", emits::on_assign);
    socket.on_disconnect(|Extension(dashboard): Extension<Dashboard>, State(state): State<SocketIoState>, reason: DisconnectReason| async move {
        crate::telemetry::count_socket_closed("socketio", disconnect_label(reason));
        let member = dashboard.teammate.id.clone();
        state.registry.tenant(&dashboard.teammate.license).do_send(DashboardPresence { member, connected: false });
        state.detach(&dashboard.teammate.license);
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

/// The room of a license: every dashboard socket of the license joins it.
pub fn room(license: &LicenseKey) -> String {
    format!("license:{license}")
}

/// The room of one member's sockets within their license's `room`.
fn member_room(room: &str, member: &UserId) -> String {
    format!("{room}:user:{member}")
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
    let to = match &event.event {
        Event::Notification(Notification { recipient: Some(member), .. }) => member_room(room, member),
        _ => room.to_owned(),
    };
    let emitted = io.local().to(to).emit(event.name(), event.data()).await;
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
