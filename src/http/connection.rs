//! The HTTP listener's connection cap, counted by the connection itself rather than by the task that
//! accepted it.
//!
//! actix-server counts a connection for as long as the task that accepted it runs. A WebSocket leaves
//! that task once its 101 is written (`http::handover`): the task, with actix-http's dispatcher state
//! inline (~1.5 KiB), would otherwise last as long as the socket. So each accepted connection takes a
//! permit from [`OpenConnections`] and carries it, through the handover, to the end of the socket's
//! linger: `MAX_CONNECTIONS` still bounds everything open, HTTP and WebSocket.

use crate::limits::Admitted;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An accepted connection, holding its place under the cap until it is dropped.
pub type Connection = Admitted<TcpStream, Place>;

/// A connection's place under the cap; dropping it makes room for another.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    sockets: Arc<Semaphore>,
    socket: Option<OwnedSemaphorePermit>,
}

impl Place {
    /// Counts the connection among those handed over (WebSockets): the ones the shutdown waits for, as
    /// actix-server no longer does.
    pub fn handed_over(mut self) -> Self {
        self.socket = self.sockets.clone().try_acquire_owned().ok();
        self
    }
}

/// The permits for connections open at once, over all workers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OpenConnections {
    permits: Arc<Semaphore>,
    /// As many again, taken by connections handed over.
    sockets: Arc<Semaphore>,
    max: u32,
}

impl OpenConnections {
    /// Room for `max` connections at once.
    pub fn new(max: usize) -> Self {
        let max = u32::try_from(max.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        Self { permits: Arc::new(Semaphore::new(max as usize)), sockets: Arc::new(Semaphore::new(max as usize)), max }
    }

    /// `io` as a counted connection, or `None` when the cap is reached (the caller closes it).
    pub fn admit(&self, io: TcpStream) -> Option<Connection> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(Admitted::new(io, Place { _permit: permit, sockets: self.sockets.clone(), socket: None }))
    }

    /// Waits until every handed-over connection has ended, at most `grace`; true when they all did.
    /// (actix-server waits for the others, and closes the idle ones, when it stops.)
    pub async fn drained(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.sockets.acquire_many(self.max)).await.is_ok_and(|all| all.is_ok())
    }
}
