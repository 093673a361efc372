//! Pushes to live widgets on every node: commands from the tenant's backend and saved configurations.
//!
//! Each node keeps a directory of its own widget sockets (license → socket → visitor and a bounded
//! queue). A push travels as a node-wide broadcast on the bus; every node that receives it delivers
//! to its matching sockets — only those registered under the push's license, so one tenant can never
//! reach another's visitors — and answers with a receipt saying how many took it. The sender knows
//! from the bus how many nodes the push reached, waits for that many receipts (at most
//! [`RECEIPT_WAIT`]) and adds them up: the count is exact across nodes, and says so when a node did
//! not answer in time.

use crate::bus::SharedBus;
use crate::domain::{new_id, CommandTarget, ContactId, LicenseKey};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Pushes a socket may have waiting; a socket that lets more pile up misses the next ones (not counted).
pub const PUSH_QUEUE: usize = 32;
/// How long a sender waits for the other nodes' receipts.
pub const RECEIPT_WAIT: Duration = Duration::from_secs(3);

/// What a push reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Widget sockets (tabs) that took the frame, on every node that answered.
    pub delivered: usize,
    /// Nodes the push reached.
    pub nodes: usize,
    /// Nodes that answered with their count in time.
    pub nodes_answered: usize,
}

/// A node-wide message between hubs.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum HubMessage {
    /// Deliver `frame` to the license's matching sockets, then answer `origin`.
    Push { id: String, origin: String, license: LicenseKey, target: CommandTarget, frame: String },
    /// A node's count for push `id`.
    Receipt { id: String, origin: String, delivered: usize },
}

/// One widget socket as the directory knows it.
struct Port {
    visitor: ContactId,
    tx: flume::Sender<Arc<str>>,
}

/// This node's widget sockets, and the pushes it waits receipts for. Cheap to clone.
#[derive(Clone)]
pub struct WidgetHub {
    inner: Arc<Inner>,
}

struct Inner {
    /// This process, as origin of its pushes.
    node: String,
    bus: SharedBus,
    sockets: DashMap<LicenseKey, HashMap<u64, Port>>,
    pending: DashMap<String, mpsc::UnboundedSender<usize>>,
    next_port: AtomicU64,
}

/// A socket's place in the directory; leaving it (drop) removes the socket.
pub struct Membership {
    hub: Weak<Inner>,
    license: LicenseKey,
    port: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let Some(inner) = self.hub.upgrade() else { return };
        if let Some(mut ports) = inner.sockets.get_mut(&self.license) {
            ports.remove(&self.port);
        }
        inner.sockets.remove_if(&self.license, |_, ports| ports.is_empty());
    }
}

impl WidgetHub {
    /// A hub on `bus`; starts the task that serves other nodes' pushes and receipts.
    pub fn start(bus: SharedBus) -> Self {
        let broadcasts = bus.subscribe_broadcasts();
        let hub = Self {
            inner: Arc::new(Inner {
                node: new_id(),
                bus,
                sockets: DashMap::new(),
                pending: DashMap::new(),
                next_port: AtomicU64::new(1),
            }),
        };
        tokio::spawn(serve(Arc::downgrade(&hub.inner), broadcasts));
        hub
    }

    /// Registers a socket of `visitor`; pushes for it arrive on the receiver until the membership is dropped.
    pub fn join(&self, license: &LicenseKey, visitor: &ContactId) -> (Membership, flume::Receiver<Arc<str>>) {
        let (tx, rx) = flume::bounded(PUSH_QUEUE);
        let port = self.inner.next_port.fetch_add(1, Ordering::Relaxed);
        self.inner.sockets.entry(license.clone()).or_default().insert(port, Port { visitor: visitor.clone(), tx });
        (Membership { hub: Arc::downgrade(&self.inner), license: license.clone(), port }, rx)
    }

    /// Sends the widget frame `frame` to the license's sockets that `target` names, on every node, and
    /// counts who took it.
    pub async fn push(&self, license: &LicenseKey, target: CommandTarget, frame: String) -> Reach {
        let id = new_id();
        let (tx, mut receipts) = mpsc::unbounded_channel();
        // Registered before the broadcast: a fast receipt finds its collector.
        self.inner.pending.insert(id.clone(), tx);
        let message = HubMessage::Push {
            id: id.clone(),
            origin: self.inner.node.clone(),
            license: license.clone(),
            target,
            frame,
        };
        let payload = serde_json::to_string(&message).unwrap_or_default();
        let nodes = self.inner.bus.broadcast(Arc::from(payload)).await;
        let mut reach = Reach { delivered: 0, nodes, nodes_answered: 0 };
        let deadline = tokio::time::sleep(RECEIPT_WAIT);
        tokio::pin!(deadline);
        while reach.nodes_answered < nodes {
            tokio::select! {
                Some(delivered) = receipts.recv() => {
                    reach.delivered += delivered;
                    reach.nodes_answered += 1;
                }
                _ = &mut deadline => {
                    tracing::warn!(answered = reach.nodes_answered, nodes, "a widget push's receipts are missing");
                    break;
                }
            }
        }
        self.inner.pending.remove(&id);
        reach
    }
}

impl Inner {
    /// Queues `frame` on this node's matching sockets of `license`; answers how many took it.
    fn deliver(&self, license: &LicenseKey, target: &CommandTarget, frame: &str) -> usize {
        let Some(ports) = self.sockets.get(license) else { return 0 };
        let frame: Arc<str> = Arc::from(frame);
        ports
            .values()
            .filter(|port| target.reaches(&port.visitor))
            .filter(|port| port.tx.try_send(frame.clone()).is_ok())
            .count()
    }

    async fn on_broadcast(&self, payload: &str) {
        match serde_json::from_str::<HubMessage>(payload) {
            Ok(HubMessage::Push { id, origin, license, target, frame }) => {
                let delivered = self.deliver(&license, &target, &frame);
                let receipt = HubMessage::Receipt { id, origin, delivered };
                let payload = serde_json::to_string(&receipt).unwrap_or_default();
                self.bus.broadcast(Arc::from(payload)).await;
            }
            Ok(HubMessage::Receipt { id, origin, delivered }) if origin == self.node => {
                if let Some(collector) = self.pending.get(&id) {
                    let _ = collector.send(delivered);
                }
            }
            Ok(HubMessage::Receipt { .. }) => {}
            // Another release's broadcast, or not a hub's: not ours to read.
            Err(_) => {}
        }
    }
}

async fn serve(hub: Weak<Inner>, mut broadcasts: broadcast::Receiver<Arc<str>>) {
    loop {
        let payload = match broadcasts.recv().await {
            Ok(payload) => payload,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "widget hub lagged behind the node-wide broadcasts");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(inner) = hub.upgrade() else { return };
        inner.on_broadcast(&payload).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::LocalBus;

    #[tokio::test]
    async fn pushes_reach_only_their_license_and_target() -> Result<(), Box<dyn std::error::Error>> {
        let hub = WidgetHub::start(Arc::new(LocalBus::new(10)));
        let (a, b) = (LicenseKey::parse("INTL-AAAA-AAAA-AAAA")?, LicenseKey::parse("INTL-BBBB-BBBB-BBBB")?);
        let (ana, bob) = (ContactId::from("v_ana".to_owned()), ContactId::from("v_bob".to_owned()));
        let (_m1, ana_rx) = hub.join(&a, &ana);
        let (_m2, bob_rx) = hub.join(&a, &bob);
        let (_m3, other_rx) = hub.join(&b, &ana);
        let reach = hub.push(&a, CommandTarget::Visitor(ana.clone()), "hi".into()).await;
        assert_eq!(reach, Reach { delivered: 1, nodes: 1, nodes_answered: 1 });
        assert_eq!(ana_rx.recv_async().await.ok().as_deref(), Some("hi"));
        assert!(bob_rx.try_recv().is_err() && other_rx.try_recv().is_err());
        assert_eq!(hub.push(&a, CommandTarget::All, "all".into()).await.delivered, 2);
        drop(_m2);
        assert_eq!(hub.push(&a, CommandTarget::All, "again".into()).await.delivered, 1);
        Ok(())
    }
}
