//! The registry finds or spawns actors. Actors run on a small pool of dedicated actix arbiters, so
//! they can be spawned from any runtime (actix-web workers, the Socket.IO listener, background tasks).

mod relay;

use super::message_rate::MessageRate;
use super::{ConversationActor, Dispatch, Presence, Settle, SharedOpener, SharedWriter, TenantActor};
use crate::bus::{Activity, Event, SharedBus};
use crate::domain::{Channel, ContactId, ConversationId, LicenseKey};
use crate::store::{Conversation, NewConversation, Store, StoreError};
use actix::prelude::*;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why an actor could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Loading or writing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The actor stopped twice in a row while we tried to reach it.
    #[error("the conversation is restarting; retry")]
    Unavailable,
}

/// A cheap-to-clone handle on the live actors.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Commits every conversation's batches together (one transaction for many conversations).
    writer: SharedWriter,
    /// Writes new conversations together (one transaction for all those asked for meanwhile).
    opener: SharedOpener,
    bus: SharedBus,
    dispatch: Arc<dyn Dispatch>,
    presence: Presence,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    conversations: DashMap<ConversationId, (LicenseKey, Addr<ConversationActor>)>,
    tenants: DashMap<LicenseKey, Addr<TenantActor>>,
    idle_after: Duration,
    stored: MessageRate,
}

impl Registry {
    /// Starts `threads` arbiters on their own actix system; actors write to `store`, publish on `bus`,
    /// hand outbound replies to `dispatch`, and stop when idle for `idle_after`.
    pub fn start(
        store: Store,
        bus: SharedBus,
        dispatch: Arc<dyn Dispatch>,
        presence: Presence,
        threads: usize,
        idle_after: Duration,
    ) -> std::io::Result<Self> {
        // One more arbiter than asked, the shared writer's (on PostgreSQL; on SQLite it runs on the writer's
        // own thread) and opener's alone: a shared commit is the node's one serial lane (one at a time on
        // SQLite), so its steps must not queue behind actors' mailboxes.
        let mut arbiters = spawn_arbiters(threads.max(1) + 1)?;
        let own = arbiters.pop().ok_or_else(|| std::io::Error::other("no actor arbiter started"))?;
        let writer = SharedWriter::start(store.clone(), &own);
        let opener = SharedOpener::start(store.clone(), &own);
        let registry = Self {
            inner: Arc::new(Inner {
                store,
                writer,
                opener,
                bus,
                dispatch,
                presence,
                arbiters,
                next_arbiter: AtomicUsize::new(0),
                conversations: DashMap::new(),
                tenants: DashMap::new(),
                idle_after,
                stored: MessageRate::default(),
            }),
        };
        if let Some(remote) = registry.inner.bus.subscribe_remote() {
            tokio::spawn(relay::relay_remote_events(Arc::downgrade(&registry.inner), remote));
        }
        super::tenant::relay_shared_metrics(&registry.inner.bus);
        Ok(registry)
    }

    /// The threads the actors run on (the Socket.IO listener serves its connections there too).
    pub fn arbiters(&self) -> Vec<ArbiterHandle> {
        self.inner.arbiters.clone()
    }

    fn arbiter(&self) -> &ArbiterHandle {
        let n = self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed);
        let arbiters = &self.inner.arbiters;
        // The pool is never empty (start() makes at least one); index modulo its length.
        &arbiters[n % arbiters.len()]
    }

    /// The license's live conversation `id`, spawned from the store if needed; `None` if the license has
    /// no such conversation (another tenant's id included).
    pub async fn conversation(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
    ) -> Result<Option<Addr<ConversationActor>>, StoreError> {
        if let Some(entry) = self.inner.conversations.get(id) {
            let (owner, addr) = entry.value();
            return Ok((owner == license && addr.connected()).then(|| addr.clone()));
        }
        let Some(conversation) = self.inner.store.conversation(license, id).await? else {
            return Ok(None);
        };
        Ok(Some(self.spawn_conversation(conversation)))
    }

    /// Spawns the actor for a conversation just loaded or created, unless one is already live.
    pub fn spawn_conversation(&self, conversation: Conversation) -> Addr<ConversationActor> {
        let id = conversation.id.clone();
        let license = conversation.license_key.clone();
        let mut entry = self.inner.conversations.entry(id).or_insert_with(|| {
            let actor = ConversationActor::new(conversation.clone(), self.clone(), self.inner.idle_after);
            (license.clone(), ConversationActor::start_in_arbiter(self.arbiter(), move |_| actor))
        });
        if !entry.1.connected() {
            // A stopped actor whose removal is still on its way: replace it.
            let actor = ConversationActor::new(conversation, self.clone(), self.inner.idle_after);
            entry.1 = ConversationActor::start_in_arbiter(self.arbiter(), move |_| actor);
        }
        entry.1.clone()
    }

    /// Starts a conversation in the store, announces it, and spawns its actor.
    pub async fn open_conversation(
        &self,
        new: NewConversation,
    ) -> Result<(Conversation, Addr<ConversationActor>), StoreError> {
        let (license, channel) = (new.license.clone(), new.channel);
        let conversation = self.inner.opener.open(new).await?;
        self.inner.bus.publish(
            &license,
            Event::Activity(Activity::ConversationOpened { conversation_id: conversation.id.clone(), channel }),
        );
        let addr = self.spawn_conversation(conversation.clone());
        Ok((conversation, addr))
    }

    /// Sends `msg` to the license's conversation `id`, respawning it once if it stopped meanwhile.
    /// `Ok(None)`: no such conversation for this license.
    pub async fn send<M>(
        &self,
        license: &LicenseKey,
        id: &ConversationId,
        msg: M,
    ) -> Result<Option<M::Result>, RegistryError>
    where
        M: actix::Message + Send + Clone + 'static,
        M::Result: Send,
        ConversationActor: Handler<M>,
    {
        for _ in 0..2 {
            let Some(addr) = self.conversation(license, id).await? else {
                return Ok(None);
            };
            match addr.send(msg.clone()).await {
                Ok(result) => return Ok(Some(result)),
                Err(MailboxError::Closed | MailboxError::Timeout) => self.forget_conversation(id, &addr),
            }
        }
        Err(RegistryError::Unavailable)
    }

    /// The license's tenant actor, spawned if needed.
    pub fn tenant(&self, license: &LicenseKey) -> Addr<TenantActor> {
        let mut entry = self.inner.tenants.entry(license.clone()).or_insert_with(|| self.spawn_tenant(license));
        if !entry.connected() {
            *entry = self.spawn_tenant(license);
        }
        entry.clone()
    }

    fn spawn_tenant(&self, license: &LicenseKey) -> Addr<TenantActor> {
        let actor = TenantActor::new(
            license.clone(),
            self.inner.store.clone(),
            self.inner.bus.clone(),
            self.clone(),
            self.inner.idle_after,
        );
        TenantActor::start_in_arbiter(self.arbiter(), move |_| actor)
    }

    /// Waits (up to `wait`) until every live conversation has stored what it had queued: the group
    /// commits pending at shutdown are written before the process exits.
    pub async fn settle(&self, wait: Duration) {
        let actors: Vec<Addr<ConversationActor>> =
            self.inner.conversations.iter().map(|entry| entry.value().1.clone()).collect();
        let settled = futures_util::future::join_all(actors.iter().map(|addr| addr.send(Settle)));
        if tokio::time::timeout(wait, settled).await.is_err() {
            tracing::warn!("some conversations had not stored their queued messages when shutdown went on");
        }
        // A Settle answered before the flush it scheduled: one more round-trip waits for that flush.
        let flushed = futures_util::future::join_all(actors.iter().map(|addr| addr.send(Settle)));
        let _ = tokio::time::timeout(wait, flushed).await;
    }

    /// Removes a stopped conversation actor, unless a newer one already took its place.
    pub(super) fn forget_conversation(&self, id: &ConversationId, addr: &Addr<ConversationActor>) {
        self.inner.conversations.remove_if(id, |_, (_, live)| live == addr);
    }

    /// Removes a stopped tenant actor, unless a newer one already took its place.
    pub(super) fn forget_tenant(&self, license: &LicenseKey, addr: &Addr<TenantActor>) {
        self.inner.tenants.remove_if(license, |_, live| live == addr);
    }

    /// The store the actors write to.
    pub(super) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The node's shared writer, for the conversation actors' group commits.
    pub(super) fn writer(&self) -> &SharedWriter {
        &self.inner.writer
    }

    /// Counts visitors online across nodes.
    pub(super) fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    /// Sends outbound channel messages.
    pub(super) fn dispatch(&self) -> &Arc<dyn Dispatch> {
        &self.inner.dispatch
    }

    /// Finds the conversation with a channel contact, starting one on first contact. Answers its id.
    pub async fn contact_conversation(
        &self,
        license: &LicenseKey,
        channel: Channel,
        account_id: &str,
        contact_id: &ContactId,
    ) -> Result<ConversationId, StoreError> {
        if let Some(existing) = self.inner.store.conversation_by_contact(license, channel, contact_id).await? {
            return Ok(existing.id);
        }
        let metadata = serde_json::json!({ "account_id": account_id });
        let new = NewConversation {
            license: license.clone(),
            channel,
            contact_id: contact_id.clone(),
            visitor_token: None,
            metadata,
        };
        match self.open_conversation(new).await {
            Ok((conversation, _)) => Ok(conversation.id),
            // A concurrent webhook for the same new contact won: use its conversation.
            Err(StoreError::Duplicate) => self
                .inner
                .store
                .conversation_by_contact(license, channel, contact_id)
                .await?
                .map(|c| c.id)
                .ok_or(StoreError::Duplicate),
            Err(err) => Err(err),
        }
    }

    /// The bus the actors publish on.
    pub(super) fn bus(&self) -> &SharedBus {
        &self.inner.bus
    }

    /// Counts a message this node stored (for `/api/admin/stats`).
    pub(super) fn note_stored(&self) {
        self.inner.stored.note(crate::domain::now_millis() / 1000);
    }

    /// Messages this node stored over the last minute (the current second included).
    pub fn stored_last_minute(&self) -> u64 {
        self.inner.stored.last_minute(crate::domain::now_millis() / 1000)
    }

    /// Live conversation actors on this node, per license.
    pub fn live_conversations(&self) -> HashMap<LicenseKey, usize> {
        let mut counts = HashMap::new();
        for entry in self.inner.conversations.iter() {
            *counts.entry(entry.value().0.clone()).or_default() += 1;
        }
        counts
    }

    /// Live tenant actors on this node.
    pub fn live_tenants(&self) -> Vec<(LicenseKey, Addr<TenantActor>)> {
        self.inner.tenants.iter().map(|entry| (entry.key().clone(), entry.value().clone())).collect()
    }
}

/// Runs an actix system on a thread of its own with `threads` arbiters, and returns their handles.
fn spawn_arbiters(threads: usize) -> std::io::Result<Vec<ArbiterHandle>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("actors".into()).spawn(move || {
        let system = System::new();
        system.block_on(async move {
            let handles: Vec<ArbiterHandle> = (0..threads).map(|_| Arbiter::new().handle()).collect();
            let _ = tx.send(handles);
        });
        // Serves until the process exits; the arbiters keep their own threads.
        let _ = system.run();
    })?;
    rx.recv().map_err(|_| std::io::Error::other("the actor system did not start"))
}
