//! What the visitor sees of its conversation: the welcome, the replay of what it missed (live updates
//! held back meanwhile, then deduplicated by number), and the live updates themselves.

use super::{close, unavailable, End, Updates, WidgetSession};
use crate::actors::{ConversationActor, ConversationUpdate, Watch, WATCHER_QUEUE};
use crate::domain::{ConversationId, MessageKind};
use crate::store::Conversation;
use crate::ws::widget::frames::ServerFrame;
use actix::Addr;
use actix_ws::CloseCode;
use futures_util::StreamExt;

impl WidgetSession {
    pub(super) async fn start(&mut self, resuming: bool, last_seq: i64, team: super::TeamStatus) -> Result<(), End> {
        let resume = if resuming {
            self.store.conversation_by_visitor(&self.license, &self.visitor_token).await.map_err(|e| unavailable(&e))?
        } else {
            None
        };
        let snapshot = match resume {
            Some(conversation) => self.watch_existing(&conversation.id).await?,
            None => None,
        };
        let welcome = ServerFrame::Welcome {
            visitor_token: self.visitor_token.as_str(),
            visitor_id: self.visitor_id.as_str(),
            conversation_id: snapshot.as_ref().map(|c| c.id.as_str()),
            status: snapshot.as_ref().map(|c| c.status),
            last_seq: snapshot.as_ref().map_or(0, |c| c.last_seq),
            agents_available: team.agents_available,
            open_now: team.open_now,
            offline_message: &team.offline_message,
            rated: snapshot.as_ref().is_some_and(|c| c.csat_rating.is_some()),
            agent_read_seq: snapshot.as_ref().map_or(0, |c| c.agent_read_seq),
        }
        .to_text();
        self.send(&welcome).await?;
        if let Some(conversation) = snapshot {
            // A client cannot have seen more than exists; a larger number would hide new messages.
            self.replay(last_seq.min(conversation.last_seq)).await?;
        }
        Ok(())
    }

    /// Starts watching a stored conversation; returns its live state.
    async fn watch_existing(&mut self, id: &ConversationId) -> Result<Option<Conversation>, End> {
        let addr = match self.registry.conversation(&self.license, id).await {
            Ok(Some(addr)) => addr,
            Ok(None) => return Ok(None),
            Err(err) => return Err(unavailable(&err)),
        };
        self.watch(id, addr).await.map(Some)
    }

    pub(super) async fn watch(
        &mut self,
        id: &ConversationId,
        addr: Addr<ConversationActor>,
    ) -> Result<Conversation, End> {
        let (tx, rx) = flume::bounded(WATCHER_QUEUE);
        let snapshot = addr
            .send(Watch { socket_id: self.socket_id, tx })
            .await
            .map_err(|_| close(CloseCode::Again, "the conversation is restarting; reconnect"))?;
        self.conversation = Some((id.clone(), addr));
        self.updates = Some(rx.into_stream());
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
                .store
                .messages_after(&self.license, &id, self.delivered_seq, PAGE)
                .await
                .map_err(|e| unavailable(&e))?;
            for message in &page {
                if message.kind != MessageKind::Note {
                    self.send(&ServerFrame::Message { from: message.sender, message }.to_text()).await?;
                }
                self.delivered_seq = message.seq;
            }
            if (page.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }

    /// The frame that shows the visitor `update`, if any. Not async, and the send is the caller's: this
    /// runs inside the socket's loop, whose future holds the largest state of any step for its whole life.
    pub(super) fn update_frame(&mut self, update: &ConversationUpdate) -> Result<Option<String>, End> {
        let frame = match update {
            ConversationUpdate::Message(message) => {
                if message.seq <= self.delivered_seq {
                    return Ok(None); // already replayed
                }
                self.delivered_seq = message.seq;
                if message.kind == MessageKind::Note {
                    return Ok(None); // the team's private notes never reach the visitor
                }
                ServerFrame::Message { from: message.sender, message }
            }
            ConversationUpdate::Typing { from, is_typing } => {
                ServerFrame::Typing { from: *from, is_typing: *is_typing }
            }
            ConversationUpdate::Read { from, seq } => ServerFrame::Read { from: *from, seq: *seq },
            ConversationUpdate::Status { status, rated } => ServerFrame::Status { status: *status, rated: *rated },
            ConversationUpdate::Erased => return Err(close(CloseCode::Policy, "the conversation was erased")),
        };
        Ok(Some(frame.to_text()))
    }
}

/// The next update, or never when the socket watches no conversation yet.
pub(super) async fn next_update(updates: &mut Option<Updates>) -> Option<ConversationUpdate> {
    match updates {
        Some(updates) => updates.next().await,
        None => std::future::pending().await,
    }
}
