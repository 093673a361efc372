//! One native Socket.IO dashboard socket: Engine.IO's open, Socket.IO's connect with the auth payload
//! (refused with `connect_error`, and the client may try again on the same connection), then the same life
//! as a plain dashboard: what it missed since `{offset, epoch}`, the notice, and the license's live events,
//! each as a `42["name",data]` frame encoded once for every socket. Emits are answered through their acks
//! while events keep flowing; a heartbeat pings every [`PING_INTERVAL`].

use super::packet::{self, Inbound};
use crate::actors::DashboardPresence;
use crate::bus::{BusEvent, Cursor};
use crate::telemetry::{self, SocketGauge, Transport};
use crate::ws::driver::{restarting, revoked, too_slow, SEND_TIMEOUT};
use crate::ws::recovery::{route, Live, Recovery};
use crate::ws::socketio::{emits, Dashboard, SocketIoState, MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT};
use actix_ws::{CloseCode, CloseReason};
use bytes::{Buf, Bytes};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{Sink, SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// How long a client has to send its Socket.IO connect after the open packet (socketioxide's default).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);
/// Refused connects after which the connection is closed: a client may retry on it, not guess tokens on it.
const MAX_REFUSED_CONNECTS: usize = 5;

type Ws = WebSocketStream<TokioIo<Upgraded>>;
/// An emit being answered: its ack id (if the client waits for one) and the answer.
type Answer = BoxFuture<'static, Option<(u64, Value)>>;

/// How a socket ended: the close to send, if the client can still take one (the same closes as a plain
/// socket's, [`crate::ws::driver`]), and the metric label.
struct Ending {
    close: Option<CloseReason>,
    label: &'static str,
}

impl Ending {
    fn gone() -> Self {
        Self { close: None, label: "client" }
    }

    fn closing(code: CloseCode, reason: &str, label: &'static str) -> Self {
        Self::with(CloseReason { code, description: Some(reason.to_owned()) }, label)
    }

    fn with(close: CloseReason, label: &'static str) -> Self {
        Self { close: Some(close), label }
    }
}

/// A native Socket.IO connection.
pub(super) struct Connection {
    ws: Ws,
    state: SocketIoState,
}

impl Connection {
    /// Serves the upgraded `connection` from `source` until it ends.
    pub(super) async fn start(connection: Upgraded, state: SocketIoState, source: IpAddr) {
        let config = WebSocketConfig::default()
            // Dashboards send small frames (pongs, emits): a 256-byte read buffer, grown for a larger one,
            // rather than 128 KiB (issue 14: 1 KiB was a sixth of a socket).
            .read_buffer_size(256)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_PAYLOAD))
            .max_frame_size(Some(MAX_PAYLOAD));
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(connection), Role::Server, Some(config)).await;
        // Boxed: the socket lives as long as the client stays, and an async fn keeps its arguments.
        Box::new(Self { ws, state }).run(source).await;
    }

    async fn run(mut self: Box<Self>, source: IpAddr) {
        let ending = match Box::pin(self.handshake(source)).await {
            Ok(dashboard) => self.serve(dashboard).await,
            Err(ending) => ending,
        };
        if let Some(close) = ending.close {
            let frame =
                CloseFrame { code: u16::from(close.code).into(), reason: close.description.unwrap_or_default().into() };
            let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(Some(frame))).await;
        }
    }

    /// Engine.IO's open, then Socket.IO's connect: the authorized dashboard, or how the socket ended.
    async fn handshake(&mut self, source: IpAddr) -> Result<Dashboard, Ending> {
        let interval = PING_INTERVAL.as_millis();
        self.send(packet::open(&new_id(), interval, PING_TIMEOUT.as_millis(), MAX_PAYLOAD)).await?;
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let mut refused = 0;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(Ending::closing(CloseCode::Policy, "no Socket.IO connect in time", "timeout")),
                Ok(frame) => frame,
            };
            let text = match read(frame)? {
                Some(text) => text,
                None => continue,
            };
            match Inbound::parse(&text) {
                Inbound::Connect { namespace, .. } if namespace != "/" => {
                    self.send(packet::connect_error(&namespace, "Invalid namespace")).await?;
                }
                Inbound::Connect { auth, .. } => match super::super::authorize(&self.state, auth, source).await {
                    Ok(dashboard) => {
                        self.send(packet::connected(&new_id())).await?;
                        return Ok(dashboard);
                    }
                    Err(refusal) => {
                        self.send(packet::connect_error("/", &refusal.to_string())).await?;
                        refused += 1;
                        if refused == MAX_REFUSED_CONNECTS {
                            return Err(Ending::closing(CloseCode::Policy, "too many refused connects", "policy"));
                        }
                    }
                },
                Inbound::Ping => self.send(packet::PONG.into()).await?,
                Inbound::Close => return Err(Ending::gone()),
                Inbound::Malformed(why) => return Err(Ending::closing(CloseCode::Protocol, why, "protocol")),
                _ => {}
            }
        }
    }

    /// The connected dashboard's life: presence, recovery, then live events and emits until it ends.
    async fn serve(&mut self, dashboard: Dashboard) -> Ending {
        let license = dashboard.teammate.license.clone();
        let member = dashboard.teammate.id.clone();
        // Subscribed before the catch-up: the live events overlap it, and the cursor skips the overlap.
        let events = self.state.relays.subscribe(&self.state.bus, &license);
        let catch_up = self.state.bus.catch_up(&license, dashboard.resume.as_ref()).await;
        let tenant = self.state.registry.tenant(&license);
        tenant.do_send(DashboardPresence { member: member.clone(), connected: true });
        self.state.native.opened(&license);
        let mut gauge = SocketGauge::open(Transport::SocketIo);
        let now = catch_up.now().cloned();
        let recovery = Recovery::plan(catch_up, &member, now);
        // Boxed: the replay runs once, and its state would otherwise stay in the task for the socket's life.
        let ending = match Box::pin(self.replay(&recovery)).await {
            Err(ending) => ending,
            Ok(()) => self.live(dashboard, events, recovery.into_cursor()).await,
        };
        gauge.set_reason(ending.label);
        self.state.native.closed(&license);
        tenant.do_send(DashboardPresence { member, connected: false });
        ending
    }

    /// Sends the missed events, then `recovery:ready` (or just `recovery:reset`).
    async fn replay(&mut self, recovery: &Recovery) -> Result<(), Ending> {
        for event in &recovery.missed {
            self.send_encoded(event.socketio_ws_frame().clone()).await?;
        }
        self.send(packet::event(recovery.notice.0, &recovery.notice.1)).await
    }

    /// Forwards the license's events after `cursor` and answers emits until the socket ends.
    async fn live(
        &mut self,
        dashboard: Dashboard,
        mut events: broadcast::Receiver<Arc<BusEvent>>,
        mut cursor: Cursor,
    ) -> Ending {
        let mut answers: Option<FuturesUnordered<Answer>> = None;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
        let mut last_heard = Instant::now();
        // Made once, not each time round: waiting on a signal every socket shares takes a lock.
        let stopping = self.state.shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => match route(&event, &dashboard.jti, &dashboard.teammate.id, &mut cursor) {
                        Live::Revoked => {
                            let _ = self.send(packet::DISCONNECT.into()).await;
                            return Ending::with(revoked(), "revoked");
                        }
                        Live::Skip => {}
                        Live::Send => {
                            if let Err(ending) = self.send_encoded(event.socketio_ws_frame().clone()).await {
                                return ending;
                            }
                            telemetry::delivered(Transport::SocketIo, Some(event.received));
                        }
                    },
                    // The license's topic keeps a bounded backlog; falling off its end means the client is too slow.
                    Err(RecvError::Lagged(_)) => return Ending::with(too_slow(), "too_slow"),
                    Err(RecvError::Closed) => return Ending::with(restarting(), "restart"),
                },
                frame = self.ws.next() => {
                    last_heard = Instant::now();
                    let text = match read(frame) {
                        Err(ending) => return ending,
                        Ok(None) => continue,
                        Ok(Some(text)) => text,
                    };
                    match Inbound::parse(&text) {
                        Inbound::Event { ack, name, data } => {
                            let (state, teammate) = (self.state.clone(), dashboard.teammate.clone());
                            let answer = async move {
                                let answer = emits::answer(&state, &teammate, &name, data).await;
                                ack.map(|id| (id, answer))
                            };
                            answers.get_or_insert_with(FuturesUnordered::new).push(Box::pin(answer));
                        }
                        Inbound::Binary { ack: Some(id) } => {
                            let refusal = json!({ "ok": false, "error": { "code": "invalid_payload", "message": "binary attachments are not accepted" } });
                            if let Err(ending) = self.send(packet::ack(id, &refusal)).await {
                                return ending;
                            }
                        }
                        Inbound::Ping => if let Err(ending) = self.send(packet::PONG.into()).await { return ending },
                        Inbound::Close => return Ending::gone(),
                        Inbound::Malformed(why) => return Ending::closing(CloseCode::Protocol, why, "protocol"),
                        // Pongs only prove the client alive; a second connect is ignored, as socketioxide does.
                        _ => {}
                    }
                }
                Some(answered) = next_answer(&mut answers) => {
                    if let Some((id, answer)) = answered {
                        if let Err(ending) = self.send(packet::ack(id, &answer)).await {
                            return ending;
                        }
                    }
                }
                _ = &mut stopping => return Ending::with(restarting(), "restart"),
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > PING_INTERVAL + PING_TIMEOUT {
                        return Ending::closing(CloseCode::Away, "ping timeout", "timeout");
                    }
                    if let Err(ending) = self.send(packet::PING.into()).await {
                        return ending;
                    }
                }
            }
        }
    }

    /// Writes one text frame, waiting at most [`SEND_TIMEOUT`] for a client that stopped reading.
    async fn send(&mut self, text: String) -> Result<(), Ending> {
        within_send_timeout(self.ws.send(Message::text(text))).await
    }

    /// Writes `frame`, a whole WebSocket frame encoded once for every socket
    /// ([`BusEvent::socketio_ws_frame`]), straight to the connection: through tungstenite it was copied
    /// into a `String`, then into tungstenite's buffer behind a header made again for each socket.
    /// Whatever tungstenite still holds (a pong it owes) is flushed first, so frames never interleave;
    /// every other send awaits its whole frame, so none is left half-written behind this one.
    async fn send_encoded(&mut self, frame: Bytes) -> Result<(), Ending> {
        let mut rest = frame;
        let ws = &mut self.ws;
        within_send_timeout(std::future::poll_fn(move |cx| {
            ready!(Pin::new(&mut *ws).poll_flush(cx)).map_err(|_| Closed)?;
            while !rest.is_empty() {
                match ready!(Pin::new(ws.get_mut()).poll_write(cx, &rest)) {
                    Ok(written) if written > 0 => rest.advance(written),
                    _ => return Poll::Ready(Err(Closed)),
                }
            }
            Poll::Ready(Ok(()))
        }))
        .await
    }
}

/// The connection failed under a write.
struct Closed;

/// Awaits `sending`, at most [`SEND_TIMEOUT`]: a client that stops reading is given up on.
///
/// Most frames go out at the first try; only one that waits gets a timer, boxed: this future sits in
/// the socket's state for its whole life, and a tokio timer inline would add its size to every socket.
async fn within_send_timeout<E>(sending: impl Future<Output = Result<(), E>>) -> Result<(), Ending> {
    let mut sending = std::pin::pin!(sending);
    let at_once = std::future::poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await;
    let sent = match at_once {
        Poll::Ready(sent) => sent,
        Poll::Pending => match Box::pin(tokio::time::timeout(SEND_TIMEOUT, sending)).await {
            Ok(sent) => sent,
            // Its buffers are full: there is no room for a close either.
            Err(_) => return Err(Ending { close: None, label: "too_slow" }),
        },
    };
    sent.map_err(|_| Ending::gone())
}

/// A frame's text; `None` for frames without any (pings, pongs, binary attachments); `Err` once the
/// connection ends.
fn read(frame: Option<Result<Message, WsError>>) -> Result<Option<Utf8Bytes>, Ending> {
    match frame {
        Some(Ok(Message::Text(text))) => Ok(Some(text)),
        Some(Ok(Message::Close(_))) | None => Err(Ending::gone()),
        Some(Ok(_)) => Ok(None),
        Some(Err(WsError::Capacity(_))) => {
            Err(Ending::closing(CloseCode::Size, "messages are limited to 64 KiB", "too_large"))
        }
        Some(Err(_)) => Err(Ending::gone()),
    }
}

/// The next answered emit; pending while none is being answered.
async fn next_answer(answers: &mut Option<FuturesUnordered<Answer>>) -> Option<Option<(u64, Value)>> {
    match answers {
        Some(answers) if !answers.is_empty() => answers.next().await,
        _ => std::future::pending().await,
    }
}

/// A random id for an Engine.IO session or a Socket.IO socket (20 URL-safe characters, as Socket.IO's).
fn new_id() -> String {
    use base64::Engine;
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
