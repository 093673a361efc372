//! The Socket.IO listener's event loops: the actor arbiters' threads (single-threaded runtimes), each
//! connection on one of them, round robin, for its whole life (hyper's serving, socketioxide's session or
//! the native socket's task, and whatever they spawn, relays included).
//!
//! Why not one work-stealing runtime, as before: at a few hundred messages a second its idle workers kept
//! waking each other to look for work (a worker that found a task woke another, ~1.4 times a message at
//! 1,000 dashboards), each a wake-up of an idle CPU; event loops of its own were 0.94× its CPU per
//! delivery at 1,000 sockets. Why the actors' threads rather than loops of its own: a message then often
//! goes from its socket to its conversation's actor, and from the actor to the relay of that thread's
//! sockets, without waking another thread.

use actix::ArbiterHandle;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The listener's event loops.
pub(super) struct EventLoops {
    loops: Vec<ArbiterHandle>,
    next: AtomicUsize,
}

impl EventLoops {
    /// Connections on `loops` (the actor arbiters, `Registry::arbiters`).
    pub(super) fn on(loops: Vec<ArbiterHandle>) -> Self {
        Self { loops, next: AtomicUsize::new(0) }
    }

    /// Runs `task` on the next loop. A connection's stream must be registered there, inside `task`
    /// (`TcpStream::from_std`): a stream stays with the reactor it was registered with, which would wake
    /// the task from another thread at every read.
    pub(super) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len().max(1);
        // An arbiter only stops with the process; a task refused then is a connection dropped at exit.
        if let Some(event_loop) = self.loops.get(n) {
            event_loop.spawn(task);
        }
    }
}
