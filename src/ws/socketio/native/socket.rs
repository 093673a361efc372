//! One native Socket.IO dashboard socket: Engine.IO's open, Socket.IO's connect with the auth payload
//! (refused with `connect_error`, and the client may try again on the same connection), then the same life
//! as a plain dashboard: what it missed since `{offset, epoch}`, the notice, and the license's live events,
//! each as a `42["name",data]` frame encoded once for every socket and written by the license's relay
//! ([`crate::ws::room`]). Emits are answered through their acks while events keep flowing; a heartbeat pings
//! every [`PING_INTERVAL`].

use super::ending::{Ending, Farewell};
use super::line_io::LineIo;
use super::packet::{self, Inbound};
use crate::actors::DashboardPresence;
use crate::telemetry::{SocketGauge, Transport};
use crate::ws::driver::{self, coalesced_interval, restarting, revoked, too_slow, SEND_TIMEOUT};
use crate::ws::line::{Cut, Line};
use crate::ws::recovery::Recovery;
use crate::ws::room::{Seat, SocketIoFrames};
use crate::ws::socketio::listener::{unwrap_upgraded, ConnectionSlots};
use crate::ws::socketio::{emits, Dashboard, SocketIoState, MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT};
use actix_ws::CloseCode;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{Sink, SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use serde_json::{json, Value};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::ready;
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// How long a client has to send its Socket.IO connect after the open packet (socketioxide's default).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);
/// Refused connects after which the connection is closed: a client may retry on it, not guess tokens on it.
const MAX_REFUSED_CONNECTS: usize = 5;

type Ws = WebSocketStream<LineIo>;
/// An emit being answered: its ack id (if the client waits for one) and the answer.
type Answer = BoxFuture<'static, Option<(u64, Value)>>;

/// A native Socket.IO connection.
pub(super) struct Connection {
    ws: Ws,
    /// The connection under `ws`, which the license's relay writes events to.
    line: Arc<Line>,
    state: SocketIoState,
    /// Counts the connection against the listener's caps while it lives.
    _slots: ConnectionSlots,
}

impl Connection {
    /// Serves the upgraded `connection` from `source` until it ends.
    pub(super) async fn start(connection: Upgraded, state: SocketIoState, source: IpAddr) {
        let Some((tcp, early, slots)) = unwrap_upgraded(connection) else {
            tracing::error!("a Socket.IO WebSocket upgrade that did not come through the listener; closed");
            return;
        };
        let line = Arc::new(Line::new(tcp));
        let config = WebSocketConfig::default()
            // Dashboards send small frames (pongs, emits): a 256-byte read buffer, grown for a larger one,
            // rather than 128 KiB (issue 14: 1 KiB was a sixth of a socket).
            .read_buffer_size(256)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_PAYLOAD))
            .max_frame_size(Some(MAX_PAYLOAD));
        let ws = WebSocketStream::from_raw_socket(LineIo::new(line.clone(), early), Role::Server, Some(config)).await;
        // Boxed: the socket lives as long as the client stays, and an async fn keeps its arguments.
        Box::new(Self { ws, line, state, _slots: slots }).run(source).await;
    }

    async fn run(mut self: Box<Self>, source: IpAddr) {
        let ending = match Box::pin(self.handshake(source)).await {
            Ok(dashboard) => self.serve(dashboard).await,
            Err(ending) => ending,
        };
        match ending.farewell {
            Farewell::Nothing => {}
            Farewell::Close(close) => {
                let code = u16::from(close.code).into();
                let frame = CloseFrame { code, reason: close.description.unwrap_or_default().into() };
                let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(Some(frame))).await;
            }
            Farewell::Answer => {
                let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.flush()).await;
            }
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
        // Seated before the catch-up: the live events overlap it, and the cursor skips the overlap.
        let seat = Arc::new(Seat::<SocketIoFrames>::new(self.line.clone(), dashboard.jti.clone(), member.clone()));
        let membership = self.state.relays.join(&self.state.bus, &license, |room| room.enter(seat.clone()));
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
            Ok(()) => {
                seat.go_live(recovery.into_cursor());
                self.live(dashboard).await
            }
        };
        drop(membership);
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

    /// Answers emits while the relay writes the license's events, until the socket ends.
    async fn live(&mut self, dashboard: Dashboard) -> Ending {
        let mut answers: Option<FuturesUnordered<Answer>> = None;
        let mut heartbeat = coalesced_interval(PING_INTERVAL);
        let mut last_heard = Instant::now();
        let mut stalled = None;
        // Made once, not each time round: waiting on a signal every socket shares takes a lock.
        let stopping = self.state.shutdown.triggered();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                cut = self.line.until_cut(&mut stalled) => return match cut {
                    Some(Cut::Revoked) => {
                        let _ = self.send(packet::DISCONNECT.into()).await;
                        Ending::with(revoked(), "revoked")
                    }
                    // More events wait than a topic's backlog: the client is too slow.
                    Some(Cut::TooSlow) => Ending::with(too_slow(), "too_slow"),
                    Some(Cut::Restart) => Ending::with(restarting(), "restart"),
                    Some(Cut::Gone | Cut::Left) => Ending::gone(),
                    None => Ending::too_slow(),
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
        sent_in_time(self.ws.send(Message::text(text))).await
    }

    /// Writes `frame`, a whole WebSocket frame encoded once for every socket
    /// ([`crate::bus::BusEvent::socketio_ws_frame`]), to the connection under tungstenite. Whatever
    /// tungstenite still holds (a pong it owes) is flushed first, so frames never interleave; the line
    /// takes the frame whole.
    async fn send_encoded(&mut self, frame: Bytes) -> Result<(), Ending> {
        let (ws, mut written) = (&mut self.ws, false);
        sent_in_time(std::future::poll_fn(move |cx| {
            ready!(Pin::new(&mut *ws).poll_flush(cx)).map_err(|_| Closed)?;
            if !written {
                ready!(Pin::new(ws.get_mut()).poll_write(cx, &frame)).map_err(|_| Closed)?;
                written = true;
            }
            Pin::new(ws.get_mut()).poll_flush(cx).map_err(|_| Closed)
        }))
        .await
    }
}

/// The connection failed under a write.
struct Closed;

/// Awaits `sending` ([`driver::within_send_timeout`]): a client that stops reading is given up on.
async fn sent_in_time<E>(sending: impl Future<Output = Result<(), E>>) -> Result<(), Ending> {
    match driver::within_send_timeout(sending).await {
        Ok(sent) => sent.map_err(|_| Ending::gone()),
        Err(_too_slow) => Err(Ending::too_slow()),
    }
}

/// A frame's text; `None` for frames without any (pings, pongs, binary attachments); `Err` once the
/// connection ends.
fn read(frame: Option<Result<Message, WsError>>) -> Result<Option<Utf8Bytes>, Ending> {
    match frame {
        Some(Ok(Message::Text(text))) => Ok(Some(text)),
        Some(Ok(Message::Close(_))) => Err(Ending::client_closed()),
        None => Err(Ending::gone()),
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
