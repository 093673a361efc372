//! The widget sockets watching a conversation: they start and stop watching, and typing goes to them
//! (and to the bus) without touching the store.

use super::{ConversationActor, ConversationUpdate};
use crate::bus::Event;
use crate::domain::Sender;
use crate::store::Conversation;
use actix::prelude::*;
use std::time::Instant;

/// Someone is typing; goes to the other side, not to the store.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Typing {
    /// Who types.
    pub from: Sender,
    /// Started or stopped.
    pub is_typing: bool,
    /// The socket it came from.
    pub origin: Option<u64>,
}

impl Handler<Typing> for ConversationActor {
    type Result = ();

    fn handle(&mut self, typing: Typing, _: &mut Self::Context) {
        self.last_active = Instant::now();
        self.fan_out(ConversationUpdate::Typing { from: typing.from, is_typing: typing.is_typing }, typing.origin);
        self.publish(Event::Typing {
            conversation_id: self.conversation.id.clone(),
            from: typing.from,
            is_typing: typing.is_typing,
        });
    }
}

/// A widget socket starts receiving this conversation's updates. Answers with the current state.
#[derive(Message, Clone)]
#[rtype(result = "Conversation")]
pub struct Watch {
    /// The socket.
    pub socket_id: u64,
    /// Its bounded queue.
    pub tx: flume::Sender<ConversationUpdate>,
}

impl Handler<Watch> for ConversationActor {
    type Result = MessageResult<Watch>;

    fn handle(&mut self, watch: Watch, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        self.watchers.insert(watch.socket_id, watch.tx);
        MessageResult(self.conversation.clone())
    }
}

/// A widget socket went away.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Unwatch(pub u64);

impl Handler<Unwatch> for ConversationActor {
    type Result = ();

    fn handle(&mut self, Unwatch(socket_id): Unwatch, _: &mut Self::Context) {
        self.last_active = Instant::now();
        self.watchers.remove(&socket_id);
    }
}
