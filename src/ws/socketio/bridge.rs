//! The per-license bridge from the bus into this node's Socket.IO room: one task per license with sockets
//! here, started with the first and stopped with the last. It broadcasts each event once to the room (the
//! packet is encoded once), and it admits new sockets between two events: a socket gets what it missed
//! up to what the room has been sent, `recovery:ready` (or `recovery:reset`), and only then joins the
//! room, so it sees every event once and in order without any per-socket filtering of broadcasts.

use super::{member_room, room, Dashboard};
use crate::bus::Position;
use crate::bus::{BusEvent, CatchUp, Cursor, Event, Notification, SharedBus};
use crate::domain::{LicenseKey, UserId};
use crate::ws::recovery::Recovery;
use dashmap::DashMap;
use socketioxide::extract::SocketRef;
use socketioxide::{BroadcastError, SendError, SocketError, SocketIo};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

/// Missed events replayed between two live ones; a longer replay runs beside the bridge (see [`Pump::admit`]).
const QUICK_REPLAY: usize = 64;
/// How long a long replay may wait for a socket's queue to have room before the socket counts as too slow.
const REPLAY_PATIENCE: Duration = Duration::from_secs(10);

/// A socket waiting to join its license's room.
pub(super) struct Admission {
    /// The socket.
    pub(super) socket: SocketRef,
    /// Whose it is: another member's notifications are not replayed to it.
    pub(super) member: UserId,
    /// Where the client says it stopped; `None` for a fresh start.
    pub(super) from: Option<Position>,
}

/// The running bridges of this node, by license.
pub(super) struct Bridges {
    running: DashMap<LicenseKey, Bridge>,
    bus: SharedBus,
    io: Arc<OnceLock<SocketIo>>,
}

struct Bridge {
    sockets: usize,
    task: tokio::task::JoinHandle<()>,
    // Unbounded: it holds at most the sockets connecting right now, which the listener's caps bound.
    admissions: mpsc::UnboundedSender<Admission>,
}

impl Bridges {
    /// No bridges yet.
    pub(super) fn new(bus: SharedBus, io: Arc<OnceLock<SocketIo>>) -> Self {
        Self { running: DashMap::new(), bus, io }
    }

    /// Counts a socket of `license`, starting the license's bridge with its first, and queues its admission.
    pub(super) fn attach(&self, license: &LicenseKey, admission: Admission) {
        let mut bridge = self.running.entry(license.clone()).or_insert_with(|| self.spawn(license));
        bridge.sockets += 1;
        let _ = bridge.admissions.send(admission);
    }

    /// Uncounts a socket; the last one stops the bridge.
    pub(super) fn detach(&self, license: &LicenseKey) {
        let removed = self.running.remove_if_mut(license, |_, bridge| {
            bridge.sockets = bridge.sockets.saturating_sub(1);
            bridge.sockets == 0
        });
        if let Some((_, bridge)) = removed {
            bridge.task.abort();
        }
    }

    fn spawn(&self, license: &LicenseKey) -> Bridge {
        // Subscribed before the bridge reads where the history stands: nothing falls between the two.
        let events = self.bus.subscribe(license);
        let (admissions, queued) = mpsc::unbounded_channel();
        let pump = Pump {
            bus: self.bus.clone(),
            io: self.io.clone(),
            license: license.clone(),
            room: room(license),
            cursor: Cursor::default(),
            waiting: Vec::new(),
            readmit: admissions.clone(),
        };
        Bridge { sockets: 0, task: tokio::spawn(pump.run(events, queued)), admissions }
    }
}

/// One license's bridge task.
struct Pump {
    bus: SharedBus,
    io: Arc<OnceLock<SocketIo>>,
    license: LicenseKey,
    room: String,
    /// What the room has been sent.
    cursor: Cursor,
    /// Sockets that saw more than the room has been sent yet (they came from a node ahead of this one).
    waiting: Vec<Admission>,
    readmit: mpsc::UnboundedSender<Admission>,
}

impl Pump {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<Arc<BusEvent>>,
        mut admissions: mpsc::UnboundedReceiver<Admission>,
    ) {
        self.cursor = Cursor::new(self.bus.catch_up(&self.license, None).await.now().cloned());
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => {
                        if !self.cursor.advance(&event) {
                            continue;
                        }
                        if let Some(io) = self.io.get() {
                            deliver(io, &self.room, &event).await;
                        }
                        for admission in std::mem::take(&mut self.waiting) {
                            self.admit(admission).await;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, room = self.room, "Socket.IO bridge lagged behind the bus");
                    }
                    Err(RecvError::Closed) => return,
                },
                Some(admission) = admissions.recv() => self.admit(admission).await,
            }
        }
    }

    /// Replays what the socket missed up to the room's cursor, tells it where it is, and lets it in.
    async fn admit(&mut self, admission: Admission) {
        let Admission { socket, member, from } = admission;
        if !socket.connected() {
            return;
        }
        let at = self.cursor.position().cloned();
        let catch_up = match (&from, &at) {
            (None, Some(at)) => CatchUp::Missed { events: Vec::new(), now: at.clone() },
            (None, None) => CatchUp::Reset { now: None },
            (Some(from), _) => self.bus.catch_up(&self.license, Some(from)).await,
        };
        if let (CatchUp::Missed { now, .. }, Some(from), Some(at)) = (&catch_up, &from, &at) {
            if now.epoch == at.epoch && from.epoch == at.epoch && from.offset > at.offset {
                // Its events are on their way here; it joins once the room has been sent them.
                self.waiting.push(Admission { socket, member, from: Some(from.clone()) });
                return;
            }
        }
        let recovery = Recovery::plan(catch_up, &member, at.clone());
        if recovery.missed.len() > QUICK_REPLAY {
            // Too many to queue at once: replay them beside the bridge, then come back from `at`.
            let readmit = self.readmit.clone();
            tokio::spawn(async move {
                if replay_patiently(&socket, &recovery.missed).await {
                    let _ = readmit.send(Admission { socket, member, from: at });
                }
            });
            return;
        }
        for event in &recovery.missed {
            let _ = socket.emit(event.name(), event.socketio_data());
        }
        let _ = socket.emit(recovery.notice.0, &recovery.notice.1);
        socket.join([member_room(&self.room, &member), self.room.clone()]);
        if !socket.connected() {
            // It went away meanwhile: its rooms were emptied before the join.
            socket.leave_all();
        }
    }
}

/// Emits `events` to one socket, waiting for room in its queue; a socket that makes none within
/// [`REPLAY_PATIENCE`] is disconnected as too slow. Returns whether every event was queued.
async fn replay_patiently(socket: &SocketRef, events: &[Arc<BusEvent>]) -> bool {
    let deadline = tokio::time::Instant::now() + REPLAY_PATIENCE;
    for event in events {
        loop {
            match socket.emit(event.name(), event.socketio_data()) {
                Ok(()) => break,
                Err(SendError::Socket(SocketError::InternalChannelFull)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(_) => {
                    let _ = socket.clone().disconnect();
                    return false;
                }
            }
        }
    }
    true
}

/// Broadcasts to the room's sockets on this node, encoding the packet once. A socket whose bounded queue
/// is full misses the event, and Engine.IO closes it when its next ping cannot be queued either, so a
/// stalled dashboard costs at most [`super::SOCKET_QUEUE`] packets of memory and is gone within a ping interval.
async fn deliver(io: &SocketIo, room: &str, event: &BusEvent) {
    if let Event::SessionRevoked { .. } = &event.event {
        for socket in io.local().to(room.to_owned()).sockets() {
            if socket.extensions.get::<Dashboard>().is_some_and(|d| event.event.revokes(&d.jti)) {
                let _ = socket.disconnect();
            }
        }
        return;
    }
    let to = match &event.event {
        Event::Notification(Notification { recipient: Some(member), .. }) => member_room(room, member),
        _ => room.to_owned(),
    };
    let emitted = io.local().to(to).emit(event.name(), event.socketio_data()).await;
    crate::telemetry::delivered(crate::telemetry::Transport::SocketIo, 1, Some(event.received));
    match emitted {
        Ok(()) => {}
        Err(BroadcastError::Socket(failed)) => {
            tracing::debug!(sockets = failed.len(), room, "event dropped for full or closing dashboard sockets");
        }
        Err(err) => tracing::warn!(%err, room, "Socket.IO broadcast failed"),
    }
}
