//! The visitor's frames: parsed, rate limited (a flood closes the socket), then a message goes to the
//! conversation's actor and its ack follows once the store has it; typing, reads and page context go
//! to the actor without an answer.

use super::{close, unavailable, End, InFlight, Refusal, WidgetSession};
use crate::actors::{ConversationActor, MergeMetadata, Post, Rate, Read, Typing};
use crate::domain::{parse_client_msg_id, parse_message_text, Channel, MessageKind, Sender, MAX_CSAT_COMMENT_CHARS};
use crate::error::ApiError;
use crate::store::{Appended, NewConversation, NewMessage, StoreError};
use crate::ws::widget::frames::{parse_client_frame, ClientFrame, ServerFrame};
use actix::{Addr, MailboxError};
use actix_ws::CloseCode;

/// Refused frames in a row (rate limit) before the socket is closed as a flood.
const MAX_REFUSED_IN_A_ROW: u32 = 50;
/// Largest metadata a visitor may attach, serialised.
const MAX_METADATA_BYTES: usize = 4096;

impl WidgetSession {
    pub(super) async fn on_text(&mut self, text: &str, in_flight: &mut InFlight) -> Result<(), End> {
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err((code, message)) => return self.refuse(code, message, None).await,
        };
        if matches!(frame, ClientFrame::Ping) {
            return self.send(&ServerFrame::Pong.to_text()).await;
        }
        let allowed = self.limits.allow_source_frame(self.source)
            && self.limits.allow_visitor_frame(&self.license, self.visitor_id.as_str()).await;
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
            ClientFrame::Context { metadata } => Box::pin(self.on_context(metadata)).await,
            ClientFrame::Csat { rating, comment } => Box::pin(self.on_csat(rating, comment)).await,
            ClientFrame::Ping => Ok(()),
        }
    }

    async fn on_message(
        &mut self,
        text: String,
        client_msg_id: Option<String>,
        in_flight: &mut InFlight,
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
            // Boxed, as the other once-in-a-while steps: their state would otherwise sit in every
            // socket's task for its whole life (the task is as big as its largest state).
            None => Box::pin(self.open_conversation()).await?,
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
        in_flight.0.push_back(Box::pin(async move {
            let result = match request.await {
                Ok(Ok(appended)) => Ok(appended),
                Ok(Err(err)) => Err(refusal(err)),
                Err(MailboxError::Closed | MailboxError::Timeout) => {
                    Err(("unavailable", "the conversation is restarting; resend".into()))
                }
            };
            stored(client_msg_id, result)
        }));
        Ok(())
    }

    async fn open_conversation(&mut self) -> Result<Addr<ConversationActor>, End> {
        // The key first, then the visitor's context over it: the same last word a later merge has.
        let mut metadata = serde_json::Map::from_iter([(
            "product_key".to_owned(),
            serde_json::Value::from(self.product_key.as_str()),
        )]);
        metadata.extend(std::mem::take(&mut self.pending_context));
        let new = NewConversation {
            license: self.license.clone(),
            channel: Channel::Widget,
            contact_id: self.visitor_id.clone(),
            visitor_token: Some(self.visitor_token.clone()),
            metadata: serde_json::Value::Object(metadata),
        };
        let opened = self.registry.open_conversation(new).await;
        let (id, addr) = match opened {
            Ok((conversation, addr)) => (conversation.id, addr),
            // Another tab of this visitor (on any node) opened it first: join that conversation.
            Err(StoreError::Duplicate) => {
                let existing = self.store.conversation_by_visitor(&self.license, &self.visitor_token).await;
                let conversation =
                    existing.map_err(|e| unavailable(&e))?.ok_or_else(|| unavailable(&"conversation vanished"))?;
                (conversation.id.clone(), self.registry.spawn_conversation(conversation))
            }
            Err(err) => return Err(unavailable(&err)),
        };
        self.watch(&id, addr.clone()).await?;
        Ok(addr)
    }

    async fn on_csat(&mut self, rating: i64, comment: Option<String>) -> Result<(), End> {
        let comment = comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        if !(1..=5).contains(&rating) {
            return self.refuse("invalid_value", "rating must be 1 to 5".into(), None).await;
        }
        if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_CSAT_COMMENT_CHARS || c.contains('\0')) {
            let message = format!("the comment is limited to {MAX_CSAT_COMMENT_CHARS} characters");
            return self.refuse("invalid_value", message, None).await;
        }
        let Some((_, addr)) = &self.conversation else {
            return self.refuse("csat_unavailable", "there is no conversation to rate".into(), None).await;
        };
        match addr.send(Rate { rating, comment }).await {
            Ok(Ok(true)) => self.send(&ServerFrame::CsatSaved.to_text()).await,
            Ok(Ok(false)) => {
                let message = "only a closed conversation can be rated, and only once".to_owned();
                self.refuse("csat_unavailable", message, None).await
            }
            Ok(Err(err)) => Err(unavailable(&err)),
            Err(_) => self.refuse("unavailable", "the conversation is restarting; resend".into(), None).await,
        }
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
}

/// The answer to a stored (or refused) message: its ack or error frame, and whether the refusal was the
/// license's suspension (the socket closes once the visitor is told).
fn stored(client_msg_id: Option<String>, result: Result<Appended, Refusal>) -> (String, bool) {
    let frame = match &result {
        Ok(appended) => ServerFrame::Ack {
            id: appended.message.id.as_str(),
            seq: appended.message.seq,
            client_msg_id: client_msg_id.as_deref(),
            conversation_id: appended.message.conversation_id.as_str(),
            created_at: appended.message.created_at,
            duplicate: appended.duplicate,
        },
        Err((code, message)) => {
            ServerFrame::Error { code, message: message.clone(), client_msg_id: client_msg_id.as_deref() }
        }
    };
    (frame.to_text(), matches!(result, Err(("license_suspended", _))))
}

/// The widget's answer to a failed write, with the code HTTP would answer ([`ApiError`], the one
/// mapping) — except that an unexpected failure is told as `unavailable`: only that code tells widget.js
/// to resend, and a resend is the visitor's best chance.
fn refusal(err: StoreError) -> Refusal {
    match ApiError::from(err) {
        ApiError::Internal(source) => {
            tracing::error!(error = ?source, "storing a widget message failed");
            ("unavailable", "the message could not be stored; resend".into())
        }
        err => (err.code(), err.to_string()),
    }
}
