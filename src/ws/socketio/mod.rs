//! Socket.IO (v5 protocol, websocket and polling) for dashboards on its own listener (`SOCKETIO_PORT`)
//! served from the actor arbiters' threads in this process ([`loops`]). It shares the registry, the bus and the authenticator.
//!
//! A client connects with `io(url, {auth: {token, offset?, epoch?}})`; a bad token gets `connect_error`
//! with a reason. A client that connects straight over a WebSocket (what dashboards and the load tests do)
//! is served by [`native`]: one task per socket, like a plain dashboard. Long polling (and a polling
//! session's upgrade) is served by socketioxide, a tower service that does not mount inside actix-web: an
//! accepted socket joins `license:<key>` only, once it has been sent what it missed since `{offset,
//! epoch}` ([`crate::ws::recovery`]), and one [`bridge`] task per license with such sockets on this node
//! forwards the license's bus events to them; a socket whose bounded queue is full is disconnected.
//! Each event's data carries `_offset` and `_epoch` (see [`crate::bus::BusEvent::socketio_data`]).

use crate::actors::{DashboardPresence, Registry, Teammate};
use crate::auth::{Access, Authenticator};
use crate::bus::{Position, SharedBus};
use crate::domain::LicenseKey;
use crate::domain::UserId;
use crate::shutdown::Shutdown;
use bridge::{Admission, Bridges};
use futures_util::future::Either;
use futures_util::TryFutureExt;
use http_body_util::Either as EitherBody;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::Request;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::Value;
use socketioxide::extract::{Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower_http::cors::CorsLayer;

mod bridge;
mod emits;
mod listener;
mod loops;
mod native;
mod stall_guard;

pub use listener::ListenerCaps;

/// How often the server pings (Engine.IO's `pingInterval`), on both transports.
const PING_INTERVAL: Duration = Duration::from_secs(25);
/// How long a ping may go unanswered (Engine.IO's `pingTimeout`).
const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest message a client may send (Engine.IO's `maxPayload`).
const MAX_PAYLOAD: usize = 64 * 1024;

/// Events a dashboard socket may queue before it counts as a slow consumer.
pub const SOCKET_QUEUE: usize = 256;

/// What the Socket.IO handlers share.
#[derive(Clone)]
pub struct SocketIoState {
    /// Token validation.
    pub auth: Authenticator,
    /// The live actors.
    pub registry: Registry,
    /// Emit budgets per member.
    limits: Arc<crate::limits::RateLimits>,
    bridges: Arc<Bridges>,
    io: Arc<OnceLock<SocketIo>>,
    bus: SharedBus,
    shutdown: Shutdown,
    native: Arc<native::NativeCounts>,
    /// The license relays of this runtime's native sockets, each writing into its license's room.
    relays: Arc<crate::ws::relay::Relays<native::Room>>,
}

/// Who a socket belongs to, set by the auth middleware.
#[derive(Clone)]
struct Dashboard {
    teammate: Teammate,
    /// The session the socket was opened with; revoking it closes the socket.
    jti: String,
    /// Where the client says it stopped; `None` for a fresh start.
    resume: Option<Position>,
}

/// Counts the Socket.IO sockets open on this node (for `/api/admin/stats`).
#[derive(Clone, Default)]
pub struct SocketIoCounts {
    io: Arc<OnceLock<SocketIo>>,
    native: Arc<native::NativeCounts>,
}

impl SocketIoCounts {
    /// Open sockets on this node, of one license or of all.
    pub fn sockets(&self, license: Option<&LicenseKey>) -> usize {
        let native = self.native.sockets(license);
        let Some(io) = self.io.get() else { return native };
        native
            + match license {
                Some(license) => io.within(room(license)).sockets().len(),
                None => io.sockets().len(),
            }
    }
}

/// Binds nothing itself: serves Socket.IO on `listener` from the actor arbiters' threads ([`loops`]),
/// accepting on a thread of its own, until `shutdown` fires (then every socket is disconnected and the
/// listener closes).
pub fn serve(
    listener: std::net::TcpListener,
    auth: Authenticator,
    registry: Registry,
    bus: SharedBus,
    caps: ListenerCaps,
    shutdown: Shutdown,
) -> anyhow::Result<SocketIoCounts> {
    listener.set_nonblocking(true)?;
    let counts = SocketIoCounts::default();
    let (io, native) = (counts.io.clone(), counts.native.clone());
    let loops = loops::EventLoops::on(registry.arbiters());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("socketio-accept".into()).spawn(move || {
        runtime.block_on(async move {
            let bridges = Arc::new(Bridges::new(bus.clone(), io.clone()));
            let limits = caps.limits.clone();
            let relays = Arc::default();
            let state =
                SocketIoState { auth, registry, limits, bridges, io, bus, shutdown: shutdown.clone(), native, relays };
            if let Err(err) = run(listener, state, caps, &loops, shutdown).await {
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
    loops: &loops::EventLoops,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let (service, io) = SocketIo::builder()
        .with_state(state.clone())
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .max_payload(MAX_PAYLOAD as u64)
        .ws_max_message_size(MAX_PAYLOAD)
        // Dashboards send small frames; a 1 KiB read buffer instead of 4 KiB is 3 KiB less per socket (issue 14).
        .ws_read_buffer_size(1024)
        .max_buffer_size(SOCKET_QUEUE)
        .build_svc();
    io.ns("/", on_connect.with(listen).with(authenticate));
    let _ = state.io.set(io.clone());
    // Dashboards live on other origins; the polling transport needs CORS (tokens travel in the auth payload).
    let engine = TowerToHyperService::new(tower::ServiceBuilder::new().layer(CorsLayer::permissive()).service(service));
    let native_state = state.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        if native::wants(&request) {
            let answer = native::upgrade(request, native_state.clone()).map(EitherBody::Right);
            Either::Left(std::future::ready(Ok(answer)))
        } else {
            Either::Right(engine.call(request).map_ok(|answer| answer.map(EitherBody::Left)))
        }
    });
    listener::accept(tokio::net::TcpListener::from_std(listener)?, service, &caps, loops, &shutdown).await;
    // Every socket gets a disconnect (clients reconnect elsewhere); the listener is closed by now.
    io.close().await;
    Ok(())
}

#[derive(Deserialize)]
struct AuthPayload {
    token: String,
    /// The `_offset` of the last event the client received.
    offset: Option<u64>,
    /// The `_epoch` of the last event the client received.
    epoch: Option<String>,
}

/// Why a connection was refused; the message becomes the client's `connect_error`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Connect middleware: a valid, unrevoked token or `connect_error`.
async fn authenticate(
    socket: SocketRef,
    TryData(payload): TryData<Value>,
    State(state): State<SocketIoState>,
) -> Result<(), Refused> {
    let source = listener::ClientAddr::of(&socket.req_parts().extensions);
    let dashboard = authorize(&state, payload.ok(), source).await?;
    socket.extensions.insert(dashboard);
    Ok(())
}

/// Who a connect's auth payload from `source` belongs to: a valid, unrevoked token allowed from there, or
/// why not (the client's `connect_error`).
async fn authorize(state: &SocketIoState, auth: Option<Value>, source: IpAddr) -> Result<Dashboard, Refused> {
    let payload = auth
        .and_then(|auth| serde_json::from_value::<AuthPayload>(auth).ok())
        .ok_or_else(|| Refused("authentication required: connect with io(url, { auth: { token } })".into()))?;
    let claims = state.auth.validate(&payload.token).await.map_err(|e| Refused(e.to_string()))?;
    // The code leads the message, so clients can tell an address refusal from a bad token.
    state.auth.admit(&claims, source, Access::Full).await.map_err(|e| {
        let refusal = crate::error::ApiError::from(e);
        Refused(format!("{}: {refusal}", refusal.code()))
    })?;
    let teammate = Teammate { license: claims.license_key, id: claims.sub, role: claims.role };
    let resume = Position::from_client(payload.offset, payload.epoch);
    Ok(Dashboard { teammate, jti: claims.jti, resume })
}

/// Connect middleware, after [`authenticate`]: the emit handlers are in place before the client hears it
/// is connected. socketioxide sends the connect packet and only then spawns the connect handler, so a
/// client that emitted at once could find no handler yet: its emit was dropped and its ack never came.
async fn listen(socket: SocketRef) -> Result<(), Refused> {
    emits::listen(&socket);
    Ok(())
}

async fn on_connect(socket: SocketRef, Extension(dashboard): Extension<Dashboard>, State(state): State<SocketIoState>) {
    crate::telemetry::count_socket_opened(crate::telemetry::Transport::SocketIo);
    // The bridge replays what it missed, then lets it join the license's room and its member's own.
    let admission = Admission { socket: socket.clone(), member: dashboard.teammate.id.clone(), from: dashboard.resume };
    state.bridges.attach(&dashboard.teammate.license, admission);
    let member = dashboard.teammate.id.clone();
    state.registry.tenant(&dashboard.teammate.license).do_send(DashboardPresence { member, connected: true });
    socket.on_disconnect(|Extension(dashboard): Extension<Dashboard>, State(state): State<SocketIoState>, reason: DisconnectReason| async move {
        crate::telemetry::count_socket_closed(crate::telemetry::Transport::SocketIo, disconnect_label(reason));
        let member = dashboard.teammate.id.clone();
        state.registry.tenant(&dashboard.teammate.license).do_send(DashboardPresence { member, connected: false });
        state.bridges.detach(&dashboard.teammate.license);
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

/// The room of one member's sockets within their license's `room`; notifications for one member go there.
fn member_room(room: &str, member: &UserId) -> String {
    format!("{room}:user:{member}")
}
