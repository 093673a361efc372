//! What crosses nodes to the live actors: other nodes' conversation events relayed to this node's
//! actors, and changes the store made behind the actors' backs (unassignment, erasure) told to them here
//! and, through the bus, everywhere.

use super::{Inner, Registry};
use crate::actors::{Erase, Remote};
use crate::bus::{Activity, Event, RemoteEvent};
use crate::domain::{ContactId, ConversationId, LicenseKey};
use std::sync::Arc;
use tokio::sync::broadcast;

impl Registry {
    /// Tells dashboards, and the conversations' live actors on every node, that the store unassigned
    /// these conversations (their assignee was deactivated).
    pub fn unassigned(&self, license: &LicenseKey, conversations: Vec<ConversationId>) {
        for conversation_id in conversations {
            let live = self.inner.conversations.get(&conversation_id).map(|entry| entry.value().clone());
            let event = Event::Activity(Activity::Assigned { conversation_id, assignee_id: None, by: None });
            if let Some((_, addr)) = live.filter(|(owner, _)| owner == license) {
                addr.do_send(Remote(event.clone()));
            }
            self.inner.bus.publish(license, event);
        }
    }
}

impl Registry {
    /// Stops the live actors of conversations the store erased, here and (through the bus) on every
    /// node, closing the sockets that watch them; dashboards drop them.
    pub fn erased(&self, license: &LicenseKey, contact_id: Option<ContactId>, conversation_ids: Vec<ConversationId>) {
        if conversation_ids.is_empty() {
            return;
        }
        stop_erased(&self.inner, license, &conversation_ids);
        self.inner
            .bus
            .publish(license, Event::Activity(Activity::ConversationsErased { contact_id, conversation_ids }));
    }
}

/// Tells the live actors among `ids` (of `license`) on this node that their conversation is gone.
fn stop_erased(inner: &Inner, license: &LicenseKey, ids: &[ConversationId]) {
    for id in ids {
        let live = inner.conversations.get(id).map(|entry| entry.value().clone());
        if let Some((owner, addr)) = live.filter(|(owner, _)| owner == license) {
            addr.do_send(Erase);
            inner.conversations.remove_if(id, |_, (o, a)| *o == owner && *a == addr);
        }
    }
}

/// Hands other nodes' events about a conversation to its actor on this node, if it is live here.
pub(super) async fn relay_remote_events(
    registry: std::sync::Weak<Inner>,
    mut events: broadcast::Receiver<Arc<RemoteEvent>>,
) {
    loop {
        let remote = match events.recv().await {
            Ok(remote) => remote,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Watchers catch up from the store with the next message (gap filling).
                tracing::warn!(missed, "remote event relay lagged");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = registry.upgrade() else { return };
        if let Event::Activity(Activity::ConversationsErased { conversation_ids, .. }) = &remote.event {
            stop_erased(&inner, &remote.license, conversation_ids);
            continue;
        }
        let conversation_id = match &remote.event {
            Event::MessageNew { message, .. } => &message.conversation_id,
            Event::Typing { conversation_id, .. }
            | Event::Read { conversation_id, .. }
            | Event::Activity(Activity::ConversationClosed { conversation_id })
            | Event::Activity(Activity::ConversationReopened { conversation_id })
            | Event::Activity(Activity::Assigned { conversation_id, .. }) => conversation_id,
            _ => continue,
        };
        let live = inner.conversations.get(conversation_id).map(|entry| entry.value().clone());
        if let Some((owner, addr)) = live {
            if owner == remote.license {
                addr.do_send(Remote(remote.event.clone()));
            }
        }
    }
}
