//! The Socket.IO listener's threads: a single-threaded tokio runtime on each (an event loop), and each
//! connection on one of them, round robin, for its whole life (hyper's serving, socketioxide's session or
//! the native socket's task, and whatever they spawn, relays included).
//!
//! Why not one work-stealing runtime of as many threads, as before: at a few hundred messages a second
//! its idle workers kept waking each other to look for work (a worker that found a task woke another,
//! ~1.4 times a message at 1,000 dashboards), each a wake-up of an idle CPU. Measured in pairs against it
//! (issue 14, `loadtest/pair`): 0.94× the CPU per delivery at 1,000 sockets and the same at 8,000 (a
//! single thread of that runtime was 0.92× and 0.95×, but caps the listener at one core).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;
use tokio::sync::watch;

/// The listener's event loops.
pub(super) struct EventLoops {
    loops: Vec<Handle>,
    next: AtomicUsize,
    /// Set to end the loops' threads.
    stop: watch::Sender<bool>,
}

impl EventLoops {
    /// Starts `threads` loops (at least one), each on a thread of its own named `socketio`.
    pub(super) fn start(threads: usize) -> std::io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut loops = Vec::with_capacity(threads.max(1));
        for _ in 0..threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            loops.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            std::thread::Builder::new().name("socketio".into()).spawn(move || {
                // Serves its connections until told to stop; dropping the runtime then drops what is left.
                runtime.block_on(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
            })?;
        }
        Ok(Self { loops, next: AtomicUsize::new(0), stop })
    }

    /// Runs `task` on the next loop. A connection's stream must be registered there, inside `task`
    /// (`TcpStream::from_std`): a stream stays with the reactor it was registered with, which would wake
    /// the task from another thread at every read.
    pub(super) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len();
        if let Some(event_loop) = self.loops.get(n) {
            drop(event_loop.spawn(task));
        }
    }
}

impl Drop for EventLoops {
    /// Ends the loops' threads, dropping the tasks still on them.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
