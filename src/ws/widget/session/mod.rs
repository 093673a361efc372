//! One visitor socket: a `select!` loop over inbound frames, acks of in-flight messages, the
//! conversation's updates and a heartbeat. Every exit path goes through the same clean-up.
//!
//! - [`watching`]: the welcome, the replay of what the visitor missed, and live conversation updates.
//! - [`inbound`]: the visitor's frames: rate limits, messages (acked once stored), typing, reads, context.

mod inbound;
mod watching;

use super::frames::ServerFrame;
use super::hub::WidgetHub;
use crate::actors::{
    ConversationActor, ConversationUpdate, Registry, Unwatch, VisitorConnected, VisitorDisconnected, WidgetTeamStatus,
};
use crate::domain::{ContactId, ConversationId, LicenseKey, ProductKey, VisitorToken};
use crate::limits::RateLimits;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::telemetry::{self, SocketGauge, Transport};
use crate::ws::driver::{close_label, restarting, too_slow, KeepAlive, SendError};
use crate::ws::frame_guard::FrameGuard;
use crate::ws::writer::SocketWriter;
use crate::ws::{next_socket_id, protocol_close};
use actix::Addr;
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use futures_util::future::BoxFuture;
use futures_util::stream::StreamExt;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::watch;
use watching::next_update;

/// The conversation's updates for this socket. flume, not tokio's mpsc: an idle flume channel holds
/// no buffer (tokio's allocates its first 32-slot block and cache-padded ends up front, ~1 KiB a socket).
type Updates = flume::r#async::RecvStream<'static, ConversationUpdate>;
/// Commands and configurations the hub pushes to this socket (a flume channel too, for the same reason).
type Pushes = flume::r#async::RecvStream<'static, Arc<str>>;

/// Messages a visitor may have sent but not yet had acknowledged; reading pauses beyond it.
const MAX_IN_FLIGHT: usize = 256;

/// Why a message was not stored: a wire code (retryable only when `unavailable`) and a message.
type Refusal = (&'static str, String);
/// A message on its way to the store; resolves to the visitor's answer: the ack (or error) frame, and
/// whether the refusal was the license's suspension (the socket closes once the visitor is told).
type AckFuture = BoxFuture<'static, (String, bool)>;

/// Messages on their way to the store, answered in the order the visitor sent them. Only the oldest is
/// polled: each one's answer comes on its own (the actor answers every message), and no ack may overtake
/// an earlier one anyway. A plain queue holds nothing while empty (`FuturesOrdered` allocates its ready
/// queue up front, in every socket).
#[derive(Default)]
struct InFlight(VecDeque<AckFuture>);

impl InFlight {
    /// The oldest message's outcome, once it has one. Cancel-safe: it leaves the queue only when done.
    async fn next(&mut self) -> Option<(String, bool)> {
        let oldest = self.0.front_mut()?;
        let outcome = oldest.await;
        self.0.pop_front();
        Some(outcome)
    }
}

/// The state of one visitor socket.
pub struct WidgetSession {
    ws: SocketWriter,
    /// The client's frames (a field, not an argument of `run`: see there).
    stream: AggregatedMessageStream,
    socket_id: u64,
    license: LicenseKey,
    visitor_id: ContactId,
    visitor_token: VisitorToken,
    registry: Registry,
    store: Store,
    limits: Arc<RateLimits>,
    source: IpAddr,
    shutdown: Shutdown,
    guard: FrameGuard,
    max_frame: usize,
    conversation: Option<(ConversationId, Addr<ConversationActor>)>,
    updates: Option<Updates>,
    delivered_seq: i64,
    /// The product key the widget connected with; recorded on the conversation it opens.
    product_key: ProductKey,
    /// Context sent before the conversation exists (an empty map holds no memory).
    pending_context: serde_json::Map<String, serde_json::Value>,
    refused_in_a_row: u32,
    hub: WidgetHub,
}

/// Who is on the other end of a widget socket.
pub struct Visitor {
    /// The tenant.
    pub license: LicenseKey,
    /// The public id dashboards see.
    pub id: ContactId,
    /// The secret resume token.
    pub token: VisitorToken,
    /// The product key the widget connected with: its conversations remember it (the webhooks' `siteId`).
    pub product_key: ProductKey,
}

/// What a widget socket needs from the server.
pub struct SocketContext {
    /// The live actors.
    pub registry: Registry,
    /// Where replays and a concurrently opened conversation are read from.
    pub store: Store,
    /// Frame, conversation and source budgets.
    pub limits: Arc<RateLimits>,
    /// The client's address, for per-source budgets.
    pub source: IpAddr,
    /// Closes the socket with 1012 when the server stops.
    pub shutdown: Shutdown,
    /// Tells an oversized frame header from other stream errors.
    pub guard: FrameGuard,
    /// Largest frame or message.
    pub max_frame: usize,
    /// Where commands and saved configurations come from.
    pub hub: WidgetHub,
}

/// Why the loop ended.
enum End {
    /// The client went away or closed; nothing to tell it.
    Gone,
    /// Close with this code and reason.
    Close(CloseReason),
}

impl From<SendError> for End {
    fn from(err: SendError) -> Self {
        err.into_close().map_or(End::Gone, End::Close)
    }
}

fn close(code: CloseCode, reason: &str) -> End {
    End::Close(CloseReason { code, description: Some(reason.to_owned()) })
}

impl WidgetSession {
    /// A session for an upgraded socket.
    pub fn new(ws: SocketWriter, stream: AggregatedMessageStream, visitor: Visitor, context: SocketContext) -> Self {
        Self {
            ws,
            stream,
            socket_id: next_socket_id(),
            license: visitor.license,
            visitor_id: visitor.id,
            visitor_token: visitor.token,
            registry: context.registry,
            store: context.store,
            limits: context.limits,
            source: context.source,
            shutdown: context.shutdown,
            guard: context.guard,
            max_frame: context.max_frame,
            conversation: None,
            updates: None,
            delivered_seq: 0,
            product_key: visitor.product_key,
            pending_context: serde_json::Map::new(),
            refused_in_a_row: 0,
            hub: context.hub,
        }
    }

    /// Greets, replays what the visitor missed (when `resuming`: in the conversation its token has, if
    /// any), then serves until the socket ends.
    ///
    /// Boxed: an async fn keeps its arguments for its whole life beside what it moves them into, and this
    /// one lives as long as the socket.
    pub async fn run(mut self: Box<Self>, resuming: bool, last_seq: i64) {
        let tenant = self.registry.tenant(&self.license);
        let mut suspensions = tenant.send(VisitorConnected { visitor_id: self.visitor_id.clone() }).await.ok();
        let status = tenant.send(WidgetTeamStatus).await.unwrap_or_default();
        let team = TeamStatus {
            agents_available: status.agents_available,
            open_now: status.open_now,
            offline_message: status.offline_message,
        };
        let mut gauge = SocketGauge::open(Transport::Widget);
        // Joined before the welcome, so a command sent once the widget is greeted finds it; pushes wait
        // in their queue until the loop serves them, after the welcome and the replay.
        let (_membership, pushes) = self.hub.join(&self.license, &self.visitor_id);
        let mut pushes = pushes.into_stream();
        // Boxed: the welcome and replay run once, and their state would otherwise stay in the task.
        let end = match Box::pin(self.start(resuming, last_seq, team)).await {
            // Borrowed, not moved: an async fn keeps what it is given beside what it unpacks it into.
            Ok(()) => self.serve(&mut suspensions, &mut pushes).await,
            Err(end) => Err(end),
        }
        .err()
        .unwrap_or(End::Gone);
        if let Some((_, addr)) = &self.conversation {
            addr.do_send(Unwatch(self.socket_id));
        }
        self.registry.tenant(&self.license).do_send(VisitorDisconnected { visitor_id: self.visitor_id.clone() });
        if let End::Close(reason) = end {
            gauge.set_reason(close_label(Some(&reason)));
            let _ = self.ws.close(Some(reason)).await;
        }
    }

    async fn serve(&mut self, suspensions: &mut Option<watch::Receiver<u64>>, pushes: &mut Pushes) -> Result<(), End> {
        let mut in_flight = InFlight::default();
        let mut keep_alive = KeepAlive::new();
        // Made once, not each time round: waiting on a signal every socket shares takes a lock.
        let stopping = self.shutdown.triggered();
        let suspension = suspended(suspensions);
        tokio::pin!(stopping, suspension);
        loop {
            // Biased: a message the actor fanned out before storing the visitor's next one goes out
            // before that one's ack, so the client never sees a later number before an earlier one.
            tokio::select! {
                biased;
                update = next_update(&mut self.updates) => match update {
                    Some(update) => if let Some(frame) = self.update_frame(&update)? {
                        self.ws.queue_text(&frame).await?;
                        telemetry::delivered(Transport::Widget, 1, None);
                    },
                    None => return Err(End::Close(too_slow())),
                },
                Some(push) = pushes.next() => {
                    self.ws.queue_text(&push).await?;
                }
                Some((ack, suspended)) = in_flight.next(), if !in_flight.0.is_empty() => {
                    self.ws.queue_text(&ack).await?;
                    if suspended {
                        return Err(close(CloseCode::Policy, "the license is suspended"));
                    }
                }
                frame = self.stream.recv(), if in_flight.0.len() < MAX_IN_FLIGHT => {
                    keep_alive.heard();
                    // Boxed: handling a frame may take several steps (rate limits, opening a conversation),
                    // and their state would otherwise sit in the task for the socket's whole life.
                    Box::pin(self.on_frame(frame, &mut in_flight)).await?;
                }
                _ = &mut stopping => {
                    return Err(End::Close(restarting()));
                }
                _ = &mut suspension => {
                    return Err(close(CloseCode::Policy, "the license is suspended"));
                }
                beat = keep_alive.beat() => {
                    beat.map_err(End::Close)?;
                    self.ws.ping(b"").await?;
                }
                // Last, so taken only when nothing above is ready: the frames queued meanwhile (a commit
                // acknowledges a visitor's messages together) go out in one write, in the order queued.
                () = std::future::ready(()), if self.ws.has_unsent() => {
                    self.ws.flush().await?;
                }
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<AggregatedMessage, ProtocolError>>,
        in_flight: &mut InFlight,
    ) -> Result<(), End> {
        match frame {
            None => Err(End::Gone),
            // Answer the client's close with the same code, as RFC 6455 asks.
            Some(Ok(AggregatedMessage::Close(reason))) => Err(End::Close(reason.unwrap_or(CloseCode::Normal.into()))),
            // Fragmented messages arrive here whole (aggregated within the frame limit).
            Some(Ok(AggregatedMessage::Text(text))) => self.on_text(&text, in_flight).await,
            Some(Ok(AggregatedMessage::Ping(bytes))) => Ok(self.ws.pong(&bytes).await?),
            Some(Ok(AggregatedMessage::Binary(_))) => {
                self.refuse("invalid_frame", "binary frames are not supported; send JSON text".into(), None).await
            }
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Err(err)) => Err(End::Close(protocol_close(&err, &self.guard, self.max_frame))),
        }
    }

    async fn refuse(&mut self, code: &str, message: String, client_msg_id: Option<&str>) -> Result<(), End> {
        self.send(&ServerFrame::Error { code, message, client_msg_id }.to_text()).await
    }

    /// Sends one frame; a client that does not take it within [`SEND_TIMEOUT`](crate::ws::driver::SEND_TIMEOUT) is cut off.
    async fn send(&mut self, text: &str) -> Result<(), End> {
        Ok(self.ws.text(text).await?)
    }
}

fn unavailable(err: &dyn std::fmt::Display) -> End {
    tracing::warn!(error = %err, "widget socket could not reach the store");
    close(CloseCode::Error, "the server cannot reach its store; reconnect shortly")
}

/// Resolves when the license is suspended after the socket opened; never without a tenant to watch.
async fn suspended(suspensions: &mut Option<watch::Receiver<u64>>) {
    let changed = match suspensions {
        Some(rx) => rx.changed().await.is_ok(),
        None => false,
    };
    if !changed {
        // The tenant actor is gone (or never answered): nothing will ever tell of a suspension.
        std::future::pending::<()>().await;
    }
}

/// What the welcome tells the widget about the team: live chat, or the offline form.
pub(super) struct TeamStatus {
    /// A member shows `online`.
    pub agents_available: bool,
    /// Within business hours (always, when they are off).
    pub open_now: bool,
    /// What to show while closed.
    pub offline_message: String,
}
