//! One visitor socket: a `select!` loop over inbound frames, acks of in-flight messages, the
//! conversation's updates and a heartbeat. Every exit path goes through the same clean-up.

use super::frames::{parse_client_frame, ClientFrame, ServerFrame};
use crate::actors::{
    ConversationActor, ConversationUpdate, MergeMetadata, Post, Read, Registry, Typing, Unwatch, VisitorConnected,
    VisitorDisconnected, Watch, WATCHER_QUEUE,
};
use crate::domain::{parse_client_msg_id, parse_message_text, Channel, LicenseKey, MessageKind, Sender};
use crate::limits::RateLimits;
use crate::shutdown::Shutdown;
use crate::store::{Appended, Conversation, NewMessage, StoreError};
use crate::ws::frame_guard::FrameGuard;
use crate::ws::{
    next_socket_id, protocol_close, CLIENT_TIMEOUT, CLOSE_RESTART, CLOSE_TOO_SLOW, HEARTBEAT, SEND_TIMEOUT,
};
use actix::{Addr, MailboxError};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Messages a visitor may have sent but not yet had acknowledged; reading pauses beyond it.
const MAX_IN_FLIGHT: usize = 256;
/// Refused frames in a row (rate limit) before the socket is closed as a flood.
const MAX_REFUSED_IN_A_ROW: u32 = 50;
/// Largest metadata a visitor may attach, serialised.
const MAX_METADATA_BYTES: usize = 4096;

/// Why a message was not stored: a wire code (retryable only when `unavailable`) and a message.
type Refusal = (&'static str, String);
type AckFuture = BoxFuture<'static, (Option<String>, Result<Appended, Refusal>)>;

/// The state of one visitor socket.
pub struct WidgetSession {
    ws: actix_ws::Session,
    socket_id: u64,
    license: LicenseKey,
    visitor_id: String,
    visitor_token: String,
    registry: Registry,
    limits: Arc<RateLimits>,
    source: IpAddr,
    shutdown: Shutdown,
    guard: FrameGuard,
    max_frame: usize,
    conversation: Option<(String, Addr<ConversationActor>)>,
    updates: Option<mpsc::Receiver<ConversationUpdate>>,
    delivered_seq: i64,
    pending_context: serde_json::Map<String, serde_json::Value>,
    refused_in_a_row: u32,
}

/// Who is on the other end of a widget socket.
pub struct Visitor {
    /// The tenant.
    pub license: LicenseKey,
    /// The public id dashboards see.
    pub id: String,
    /// The secret resume token.
    pub token: String,
}

/// What a widget socket needs from the server.
pub struct SocketContext {
    /// The live actors.
    pub registry: Registry,
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
}

/// Why the loop ended.
enum End {
    /// The client went away or closed; nothing to tell it.
    Gone,
    /// Close with this code and reason.
    Close(CloseReason),
}

fn close(code: CloseCode, reason: &str) -> End {
    End::Close(CloseReason { code, description: Some(reason.to_owned()) })
}

impl WidgetSession {
    /// A session for an upgraded socket.
    pub fn new(ws: actix_ws::Session, visitor: Visitor, context: SocketContext) -> Self {
        Self {
            ws,
            socket_id: next_socket_id(),
            license: visitor.license,
            visitor_id: visitor.id,
            visitor_token: visitor.token,
            registry: context.registry,
            limits: context.limits,
            source: context.source,
            shutdown: context.shutdown,
            guard: context.guard,
            max_frame: context.max_frame,
            conversation: None,
            updates: None,
            delivered_seq: 0,
            pending_context: serde_json::Map::new(),
            refused_in_a_row: 0,
        }
    }

    /// Greets, replays what the visitor missed, then serves until the socket ends.
    pub async fn run(mut self, stream: AggregatedMessageStream, resume: Option<Conversation>, last_seq: i64) {
        let tenant = self.registry.tenant(&self.license);
        tenant.do_send(VisitorConnected { visitor_id: self.visitor_id.clone() });
        let end = match self.start(resume, last_seq).await {
            Ok(()) => self.serve(stream).await,
            Err(end) => Err(end),
        }
        .err()
        .unwrap_or(End::Gone);
        if let Some((_, addr)) = &self.conversation {
            addr.do_send(Unwatch(self.socket_id));
        }
        self.registry.tenant(&self.license).do_send(VisitorDisconnected { visitor_id: self.visitor_id.clone() });
        if let End::Close(reason) = end {
            let _ = self.ws.close(Some(reason)).await;
        }
    }

    async fn start(&mut self, resume: Option<Conversation>, last_seq: i64) -> Result<(), End> {
        let snapshot = match resume {
            Some(conversation) => self.watch_existing(&conversation.id).await?,
            None => None,
        };
        let welcome = ServerFrame::Welcome {
            visitor_token: &self.visitor_token,
            visitor_id: &self.visitor_id,
            conversation_id: snapshot.as_ref().map(|c| c.id.as_str()),
            status: snapshot.as_ref().map(|c| c.status),
            last_seq: snapshot.as_ref().map_or(0, |c| c.last_seq),
        }
        .to_text();
        self.send(welcome).await?;
        if let Some(conversation) = snapshot {
            // A client cannot have seen more than exists; a larger number would hide new messages.
            self.replay(last_seq.min(conversation.last_seq)).await?;
        }
        Ok(())
    }

    /// Starts watching a stored conversation; returns its live state.
    async fn watch_existing(&mut self, id: &str) -> Result<Option<Conversation>, End> {
        let addr = match self.registry.conversation(&self.license, id).await {
            Ok(Some(addr)) => addr,
            Ok(None) => return Ok(None),
            Err(err) => return Err(unavailable(&err)),
        };
        self.watch(id, addr).await.map(Some)
    }

    async fn watch(&mut self, id: &str, addr: Addr<ConversationActor>) -> Result<Conversation, End> {
        let (tx, rx) = mpsc::channel(WATCHER_QUEUE);
        let snapshot = addr
            .send(Watch { socket_id: self.socket_id, tx })
            .await
            .map_err(|_| close(CloseCode::Again, "the conversation is restarting; reconnect"))?;
        self.conversation = Some((id.to_owned(), addr));
        self.updates = Some(rx);
        Ok(snapshot)
    }

    /// Sends every stored message after `last_seq`, in order; live updates are held back meanwhile
    /// and deduplicated by number afterwards.
    async fn replay(&mut self, last_seq: i64) -> Result<(), End> {
        const PAGE: i64 = 500;
        let Some((id, _)) = self.conversation.clone() else {
            return Ok(());
        };
        self.delivered_seq = last_seq;
        loop {
            let page = self
                .registry
                .store()
                .messages_after(&self.license, &id, self.delivered_seq, PAGE)
                .await
                .map_err(|e| unavailable(&e))?;
            for message in &page {
                self.send(ServerFrame::Message { from: message.sender, message }.to_text()).await?;
                self.delivered_seq = message.seq;
            }
            if (page.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }

    async fn serve(&mut self, mut stream: AggregatedMessageStream) -> Result<(), End> {
        let mut in_flight: FuturesOrdered<AckFuture> = FuturesOrdered::new();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut last_heard = Instant::now();
        loop {
            // Biased: a message the actor fanned out before storing the visitor's next one goes out
            // before that one's ack, so the client never sees a later number before an earlier one.
            tokio::select! {
                biased;
                update = next_update(&mut self.updates) => match update {
                    Some(update) => self.on_update(update).await?,
                    None => return Err(close(CloseCode::Other(CLOSE_TOO_SLOW), "too slow: the client stopped reading")),
                },
                Some((client_msg_id, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    self.on_stored(client_msg_id, result).await?;
                }
                frame = stream.recv(), if in_flight.len() < MAX_IN_FLIGHT => {
                    last_heard = Instant::now();
                    self.on_frame(frame, &mut in_flight).await?;
                }
                _ = self.shutdown.triggered() => {
                    return Err(close(CloseCode::Other(CLOSE_RESTART), "the server is restarting; reconnect"));
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > CLIENT_TIMEOUT {
                        return Err(close(CloseCode::Away, "no frames or pongs for 60 s"));
                    }
                    self.ws.ping(b"").await.map_err(|_| End::Gone)?;
                }
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<AggregatedMessage, ProtocolError>>,
        in_flight: &mut FuturesOrdered<AckFuture>,
    ) -> Result<(), End> {
        match frame {
            None => Err(End::Gone),
            // Answer the client's close with the same code, as RFC 6455 asks.
            Some(Ok(AggregatedMessage::Close(reason))) => Err(End::Close(reason.unwrap_or(CloseCode::Normal.into()))),
            // Fragmented messages arrive here whole (aggregated within the frame limit).
            Some(Ok(AggregatedMessage::Text(text))) => self.on_text(&text, in_flight).await,
            Some(Ok(AggregatedMessage::Ping(bytes))) => self.ws.pong(&bytes).await.map_err(|_| End::Gone),
            Some(Ok(AggregatedMessage::Binary(_))) => {
                self.refuse("invalid_frame", "binary frames are not supported; send JSON text".into(), None).await
            }
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Err(err)) => Err(End::Close(protocol_close(&err, &self.guard, self.max_frame))),
        }
    }

    async fn on_text(&mut self, text: &str, in_flight: &mut FuturesOrdered<AckFuture>) -> Result<(), End> {
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err((code, message)) => return self.refuse(code, message, None).await,
        };
        if matches!(frame, ClientFrame::Ping) {
            return self.send(ServerFrame::Pong.to_text()).await;
        }
        let allowed = self.limits.allow_source_frame(self.source)
            && self.limits.allow_visitor_frame(&self.license, &self.visitor_id).await;
        if !allowed {
            let client_msg_id = match &frame {
                ClientFrame::Message { client_msg_id, .. } => client_msg_id.clone(),
                _ => None,
            };
            self.refused_in_a_row += 1;
            if self.refused_in_a_row > MAX_REFUSED_IN_A_ROW {
                return Err(close(CloseCode::Policy, "too many frames: rate limit exceeded repeatedly"));
            }
            let message = "too many frames; slow down and resend".to_owned();
            return self.refuse("rate_limited", message, client_msg_id.as_deref()).await;
        }
        self.refused_in_a_row = 0;
        match frame {
            ClientFrame::Message { text, client_msg_id } => self.on_message(text, client_msg_id, in_flight).await,
            ClientFrame::Typing { is_typing } => {
                if let Some((_, addr)) = &self.conversation {
                    addr.do_send(Typing { from: Sender::Visitor, is_typing, origin: Some(self.socket_id) });
                }
                Ok(())
            }
            ClientFrame::Read { seq } => {
                if let Some((_, addr)) = &self.conversation {
                    addr.do_send(Read { from: Sender::Visitor, seq, origin: Some(self.socket_id) });
                }
                Ok(())
            }
            ClientFrame::Context { metadata } => self.on_context(metadata).await,
            ClientFrame::Ping => Ok(()),
        }
    }

    async fn on_message(
        &mut self,
        text: String,
        client_msg_id: Option<String>,
        in_flight: &mut FuturesOrdered<AckFuture>,
    ) -> Result<(), End> {
        let parsed = parse_message_text(&text).and_then(|t| Ok((t, parse_client_msg_id(client_msg_id.as_deref())?)));
        let (text, client_msg_id) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => return self.refuse("invalid_value", err.0, client_msg_id.as_deref()).await,
        };
        let addr = match &self.conversation {
            Some((_, addr)) => addr.clone(),
            None if !self.limits.allow_new_conversation(self.source) => {
                let message = "too many new conversations from this address; try again in a minute".to_owned();
                return self.refuse("rate_limited", message, client_msg_id.as_deref()).await;
            }
            None => self.open_conversation().await?,
        };
        let post = Post {
            message: NewMessage {
                sender: Sender::Visitor,
                kind: MessageKind::Text,
                text,
                client_msg_id: client_msg_id.clone(),
                author_id: None,
                delivery: None,
            },
            origin: Some(self.socket_id),
        };
        // The mailbox takes the message now, so order is kept; the ack waits for the store.
        let request = addr.send(post);
        in_flight.push_back(Box::pin(async move {
            let result = match request.await {
                Ok(Ok(appended)) => Ok(appended),
                Ok(Err(err)) => Err(refusal(&err)),
                Err(MailboxError::Closed | MailboxError::Timeout) => {
                    Err(("unavailable", "the conversation is restarting; resend".into()))
                }
            };
            (client_msg_id, result)
        }));
        Ok(())
    }

    async fn open_conversation(&mut self) -> Result<Addr<ConversationActor>, End> {
        let metadata = serde_json::Value::Object(std::mem::take(&mut self.pending_context));
        let opened = self
            .registry
            .open_conversation(&self.license, Channel::Widget, &self.visitor_id, Some(&self.visitor_token), &metadata)
            .await;
        let (id, addr) = match opened {
            Ok((conversation, addr)) => (conversation.id, addr),
            // Another tab of this visitor (on any node) opened it first: join that conversation.
            Err(StoreError::Duplicate) => {
                let existing = self.registry.store().conversation_by_visitor(&self.license, &self.visitor_token).await;
                let conversation =
                    existing.map_err(|e| unavailable(&e))?.ok_or_else(|| unavailable(&"conversation vanished"))?;
                (conversation.id.clone(), self.registry.spawn_conversation(conversation))
            }
            Err(err) => return Err(unavailable(&err)),
        };
        self.watch(&id, addr.clone()).await?;
        Ok(addr)
    }

    async fn on_context(&mut self, metadata: serde_json::Map<String, serde_json::Value>) -> Result<(), End> {
        if serde_json::to_string(&metadata).map_or(usize::MAX, |s| s.len()) > MAX_METADATA_BYTES {
            let message = format!("metadata is limited to {MAX_METADATA_BYTES} bytes");
            return self.refuse("invalid_value", message, None).await;
        }
        match &self.conversation {
            Some((_, addr)) => addr.do_send(MergeMetadata(metadata)),
            None => self.pending_context.extend(metadata),
        }
        Ok(())
    }

    async fn on_stored(&mut self, client_msg_id: Option<String>, result: Result<Appended, Refusal>) -> Result<(), End> {
        let frame = match &result {
            Ok(appended) => ServerFrame::Ack {
                id: &appended.message.id,
                seq: appended.message.seq,
                client_msg_id: client_msg_id.as_deref(),
                conversation_id: &appended.message.conversation_id,
                created_at: appended.message.created_at,
                duplicate: appended.duplicate,
            },
            Err((code, message)) => {
                ServerFrame::Error { code, message: message.clone(), client_msg_id: client_msg_id.as_deref() }
            }
        };
        self.send(frame.to_text()).await?;
        match result {
            Err(("license_suspended", _)) => Err(close(CloseCode::Policy, "the license is suspended")),
            _ => Ok(()),
        }
    }

    async fn on_update(&mut self, update: ConversationUpdate) -> Result<(), End> {
        let frame = match &update {
            ConversationUpdate::Message(message) => {
                if message.seq <= self.delivered_seq {
                    return Ok(()); // already replayed
                }
                self.delivered_seq = message.seq;
                ServerFrame::Message { from: message.sender, message }
            }
            ConversationUpdate::Typing { from, is_typing } => {
                ServerFrame::Typing { from: *from, is_typing: *is_typing }
            }
            ConversationUpdate::Read { from, seq } => ServerFrame::Read { from: *from, seq: *seq },
            ConversationUpdate::Status(status) => ServerFrame::Status { status: *status },
        };
        self.send(frame.to_text()).await
    }

    async fn refuse(&mut self, code: &str, message: String, client_msg_id: Option<&str>) -> Result<(), End> {
        self.send(ServerFrame::Error { code, message, client_msg_id }.to_text()).await
    }

    /// Sends one frame; a client that does not take it within [`SEND_TIMEOUT`] is cut off.
    async fn send(&mut self, text: String) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, self.ws.text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_closed)) => Err(End::Gone),
            Err(_elapsed) => Err(close(CloseCode::Other(CLOSE_TOO_SLOW), "too slow: the client stopped reading")),
        }
    }
}

/// The next update, or never when the socket watches no conversation yet.
async fn next_update(rx: &mut Option<mpsc::Receiver<ConversationUpdate>>) -> Option<ConversationUpdate> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The widget's answer to a failed write: only `unavailable` tells widget.js to resend.
fn refusal(err: &StoreError) -> Refusal {
    match err {
        StoreError::Unavailable(_) => ("unavailable", "the message store is unavailable; resend shortly".into()),
        StoreError::LicenseSuspended => ("license_suspended", "the license is suspended".into()),
        StoreError::InvalidValue(reason) => ("invalid_value", reason.clone()),
        other => {
            tracing::error!(error = %other, "storing a widget message failed");
            ("unavailable", "the message could not be stored; resend".into())
        }
    }
}

fn unavailable(err: &dyn std::fmt::Display) -> End {
    tracing::warn!(error = %err, "widget socket could not reach the store");
    close(CloseCode::Error, "the server cannot reach its store; reconnect shortly")
}
