//! A dashboard socket's connection, shared by the socket's task and its license's relay (plain and
//! native Socket.IO dashboards alike).
//!
//! The relay writes each live event's frame straight into the connection (one `sendto` from the relay's
//! thread) instead of waking the socket's task to write it: at 8,000 sockets that wake-up, not the write,
//! was the user-space cost of a delivery (issue 14). The task keeps everything else: reads, its own
//! frames (pongs, acks, pings, the close; a native socket's through tungstenite over its `LineIo`), and
//! whatever the kernel did not take at once. Frames never interleave: every write, the relay's and the
//! task's, goes through the one queue here, whole, under its lock.

use crate::ws::driver::{within_send_timeout, SendError, SEND_TIMEOUT};
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Why a line's socket must end, as its relay (or a failed write) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The connection failed under a write: the client is gone.
    Gone,
    /// More frames waited for the client than [`Line::MAX_UNSENT`]: it does not keep up.
    TooSlow,
    /// The socket's own session was revoked.
    Revoked,
    /// The relay ended under it (the bus is gone or left it behind): the client reconnects and recovers.
    Restart,
    /// The socket is closing: the relay writes to it no more.
    Left,
}

/// A connection written from two places: the socket's task and its license's relay.
pub struct Line {
    /// Set once the socket has its connection (a plain socket gets it once the 101 is written).
    conn: OnceLock<Conn>,
    state: Mutex<State>,
}

/// What a line writes to.
enum Conn {
    /// The whole connection (a native socket's task reads from it too).
    Whole(TcpStream),
    /// The write half (a plain socket's reads stay with the HTTP layer).
    WriteHalf(OwnedWriteHalf),
}

#[derive(Default)]
struct State {
    /// Whole frames, or the rest of one, the kernel has not taken yet, oldest first.
    unsent: VecDeque<Bytes>,
    /// Since when bytes wait without the kernel taking any (`None` while nothing waits).
    waiting_since: Option<Instant>,
    /// Set once the socket must end; the relay writes no more after it.
    cut: Option<Cut>,
    /// The socket's task: woken when bytes start waiting and when the socket is cut.
    task: Option<Waker>,
}

impl State {
    fn wake_task(&self) {
        if let Some(task) = &self.task {
            task.wake_by_ref();
        }
    }
}

impl Line {
    /// Frames that may wait for one client before it counts as too slow (a bus topic's backlog).
    pub const MAX_UNSENT: usize = crate::bus::TOPIC_CAPACITY;

    /// A line over `tcp`.
    pub fn new(tcp: TcpStream) -> Self {
        Self { conn: OnceLock::from(Conn::Whole(tcp)), state: Mutex::default() }
    }

    /// A line whose connection comes later ([`Self::connect`]); what is written meanwhile waits.
    pub fn unconnected() -> Self {
        Self { conn: OnceLock::new(), state: Mutex::default() }
    }

    /// Gives the line its connection's write half (once; a second is dropped) and wakes the socket's
    /// task to write what waits.
    pub fn connect(&self, write: OwnedWriteHalf) {
        let _ = self.conn.set(Conn::WriteHalf(write));
        self.state().wake_task();
    }

    /// The connection, once it is there.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self.conn.get()? {
            Conn::Whole(tcp) => Some(tcp),
            Conn::WriteHalf(write) => Some(write.as_ref()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock is still whole: nothing under it can stop halfway through a change.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes one of the relay's frames, unless the socket is cut: at once if nothing waits before it,
    /// else after what waits (the socket's task writes it when the client takes more).
    pub fn relay(&self, frame: &Bytes) {
        let mut state = self.state();
        if state.cut.is_none() {
            // What waits is a slice of the frame every socket shares, not a copy.
            self.write(&mut state, frame, |written| frame.slice(written..));
        }
    }

    /// Marks the socket to end for `why` (the first reason stays) and wakes its task.
    pub fn cut(&self, why: Cut) {
        let mut state = self.state();
        state.cut.get_or_insert(why);
        state.wake_task();
    }

    /// Writes `bytes` behind whatever waits; what the kernel does not take at once (`rest` of what it took)
    /// is queued and the socket's task woken to wait for the client.
    fn write(&self, state: &mut State, bytes: &[u8], rest: impl FnOnce(usize) -> Bytes) {
        if state.cut == Some(Cut::Gone) {
            return;
        }
        let mut written = 0;
        if state.unsent.is_empty() {
            written = match self.tcp().map(|tcp| tcp.try_write(bytes)) {
                Some(Ok(n)) => n,
                None => 0,
                Some(Err(err)) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Some(Err(_)) => return self.fail(state),
            };
            if written == bytes.len() {
                return;
            }
            state.waiting_since = Some(Instant::now());
            state.wake_task();
        }
        state.unsent.push_back(rest(written));
        if state.unsent.len() > Self::MAX_UNSENT && state.cut.is_none() {
            state.cut = Some(Cut::TooSlow);
        }
    }

    fn fail(&self, state: &mut State) {
        state.cut = Some(Cut::Gone);
        state.unsent.clear();
        state.waiting_since = None;
        state.wake_task();
    }

    /// For the socket's task: `Ready` with the reason once the socket is cut; meanwhile writes what waits
    /// as the client takes it. `waiting_since` is then when the client last took nothing.
    pub fn poll_cut(&self, cx: &mut Context<'_>) -> Poll<Cut> {
        let mut state = self.state();
        if !state.task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
            state.task = Some(cx.waker().clone());
        }
        if let Some(cut) = state.cut {
            return Poll::Ready(cut);
        }
        match self.drain(&mut state, cx) {
            Poll::Ready(Err(cut)) => Poll::Ready(cut),
            _ => Poll::Pending,
        }
    }

    /// Until the line is cut (`Some`), or until the client has taken none of the bytes waiting for it for
    /// [`SEND_TIMEOUT`] (`None`). Only a client that falls behind gets a timer, boxed (as in
    /// [`within_send_timeout`]).
    pub async fn until_cut(&self, stalled: &mut Option<Pin<Box<Sleep>>>) -> Option<Cut> {
        std::future::poll_fn(|cx| {
            if let Poll::Ready(cut) = self.poll_cut(cx) {
                return Poll::Ready(Some(cut));
            }
            let Some(since) = self.waiting_since() else {
                *stalled = None;
                return Poll::Pending;
            };
            let deadline = tokio::time::Instant::from_std(since + SEND_TIMEOUT);
            let timer = stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    /// Since when the client has taken none of the bytes that wait for it (`None`: nothing waits).
    pub fn waiting_since(&self) -> Option<Instant> {
        self.state().waiting_since
    }

    /// Writes what waits until nothing does (`Ready(Ok)`), the client stops taking bytes (`Pending`,
    /// woken when it takes more) or the connection fails.
    fn drain(&self, state: &mut State, cx: &mut Context<'_>) -> Poll<Result<(), Cut>> {
        if state.unsent.is_empty() {
            state.waiting_since = None;
            return Poll::Ready(Ok(()));
        }
        // Woken by `connect`: the task registered its waker before it got here.
        let Some(tcp) = self.tcp() else { return Poll::Pending };
        while let Some(front) = state.unsent.front_mut() {
            match tcp.try_write(front) {
                Ok(n) => {
                    front.advance(n);
                    if front.is_empty() {
                        state.unsent.pop_front();
                    }
                    state.waiting_since = Some(Instant::now());
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    // Readiness was cleared by the failed try: this registers for the next.
                    ready!(tcp.poll_write_ready(cx)).map_err(|_| Cut::Gone)?;
                }
                Err(_) => {
                    self.fail(state);
                    return Poll::Ready(Err(Cut::Gone));
                }
            }
        }
        state.waiting_since = None;
        Poll::Ready(Ok(()))
    }

    /// Waits until nothing is left to write (for the socket task's own frames).
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Cut>> {
        let mut state = self.state();
        if state.task.is_none() {
            state.task = Some(cx.waker().clone());
        }
        if state.cut == Some(Cut::Gone) {
            return Poll::Ready(Err(Cut::Gone));
        }
        self.drain(&mut state, cx)
    }

    /// Queues one of the socket task's own frames, whole, behind whatever waits (`Err` once the
    /// connection failed).
    pub fn push(&self, frame: &[u8]) -> Result<(), Cut> {
        let mut state = self.state();
        if state.cut == Some(Cut::Gone) {
            return Err(Cut::Gone);
        }
        self.write(&mut state, frame, |written| Bytes::copy_from_slice(&frame[written..]));
        Ok(())
    }

    /// Writes one of the socket task's own frames behind whatever waits, and waits until everything
    /// is written, at most [`SEND_TIMEOUT`]: then the client counts as too slow.
    pub async fn send(&self, frame: &[u8]) -> Result<(), SendError> {
        self.push(frame).map_err(|_| SendError::Gone)?;
        within_send_timeout(std::future::poll_fn(|cx| self.poll_flush(cx))).await?.map_err(|_| SendError::Gone)
    }
}
