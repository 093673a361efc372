//! Cuts a Socket.IO connection whose client stopped taking bytes. engineioxide's websocket writer awaits
//! each write with no deadline and looks at its close signal only between writes, so once a frozen
//! client's TCP window is full the writer waits forever: the heartbeat's close cannot reach it, the
//! session is never released and the socket stays counted. Here a write that makes no progress for
//! [`crate::ws::driver::SEND_TIMEOUT`] fails, and so does every later read and write of the connection:
//! the transport sees an error on both sides and Engine.IO closes the session.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A connection whose writes give up after `limit` without progress.
pub(super) struct StallGuard<S> {
    inner: S,
    limit: Duration,
    /// Running while a write or flush waits for the client.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Set once a write gave up: the connection is finished.
    cut: bool,
    /// The reader waiting for bytes, woken when the connection is cut so it sees the error too.
    reader: Option<Waker>,
}

impl<S> StallGuard<S> {
    /// Guards `inner`.
    pub(super) fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit, stalled: None, cut: false, reader: None }
    }

    /// The guarded connection, for a socket that keeps its own deadlines.
    pub(super) fn into_inner(self) -> S {
        self.inner
    }

    fn gone() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading; connection cut")
    }

    /// After the inner write answered `Pending`: keeps waiting, or gives up once `limit` has passed.
    fn wait_or_cut<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let deadline = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        tracing::info!("Socket.IO client took no bytes for {limit:?}: cutting its connection (slow consumer)");
        self.cut = true;
        self.stalled = None;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
        Poll::Ready(Err(Self::gone()))
    }

    /// Passes a write-side answer through, resetting the stall clock on progress.
    fn progress<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(answer) => {
                self.stalled = None;
                Poll::Ready(answer)
            }
            Poll::Pending => self.wait_or_cut(cx),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.cut {
            return Poll::Ready(Err(Self::gone()));
        }
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if polled.is_pending() {
            self.reader = Some(cx.waker().clone());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.cut {
            return Poll::Ready(Err(Self::gone()));
        }
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(polled, cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut {
            return Poll::Ready(Err(Self::gone()));
        }
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(polled, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
