//! Events other nodes published about this conversation. A message that arrives ahead of ones this
//! node has not seen yet is a gap: the missing messages are read from the store first, in order.

use super::{ConversationActor, ConversationUpdate};
use crate::bus::{Activity, Event};
use crate::domain::ConversationStatus;
use actix::prelude::*;
use std::time::Instant;

/// An event another node published about this conversation.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Remote(pub Event);

impl Handler<Remote> for ConversationActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, Remote(event): Remote, _: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let message = match event {
            Event::MessageNew { message, .. } => message,
            Event::Typing { from, is_typing, .. } => {
                self.fan_out(ConversationUpdate::Typing { from, is_typing }, None);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Read { from, seq, .. } => {
                self.note_read(from, seq);
                self.fan_out(ConversationUpdate::Read { from, seq }, None);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Activity(Activity::ConversationClosed { .. }) => {
                self.apply_status(ConversationStatus::Closed, false);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Activity(Activity::ConversationReopened { .. }) => {
                self.apply_status(ConversationStatus::Open, false);
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            Event::Activity(Activity::Assigned { assignee_id, .. }) => {
                // Permission checks here compare against the current assignee.
                self.conversation.assignee_id = assignee_id;
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
            _ => return AtomicResponse::new(Box::pin(fut::ready(()))),
        };
        if message.seq <= self.conversation.last_seq + 1 {
            self.show(&message, None);
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        // Messages before this one have not reached us yet: read them from the store, in order.
        let store = self.store.clone();
        let license = self.conversation.license_key.clone();
        let id = self.conversation.id.clone();
        let known = self.conversation.last_seq;
        AtomicResponse::new(Box::pin(
            async move { store.messages_after(&license, &id, known, message.seq - known).await }.into_actor(self).map(
                |fetched, act, _| match fetched {
                    Ok(messages) => {
                        for message in &messages {
                            act.show(message, None);
                        }
                    }
                    Err(err) => tracing::warn!(%err, "could not fill a gap in a conversation"),
                },
            ),
        ))
    }
}
