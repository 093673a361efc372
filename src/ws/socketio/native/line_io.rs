//! A native socket's task side of its [`Line`], for tungstenite: reads from the connection, writes
//! through the line's queue, so its frames never interleave with the relay's.

use crate::ws::line::{Cut, Line};
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads from the connection (after any bytes the HTTP server had read past the upgrade), writes
/// through the line's queue.
pub(super) struct LineIo {
    line: Arc<Line>,
    /// Bytes read before the upgrade was handed over, served first.
    early: Bytes,
}

impl LineIo {
    /// `line`'s task side; `early` are bytes already read from it.
    pub(super) fn new(line: Arc<Line>, early: Bytes) -> Self {
        // Copied out: even empty, `early` is a slice of the HTTP server's read buffer and would keep all of
        // it (kilobytes) for the socket's life.
        Self { line, early: Bytes::copy_from_slice(&early) }
    }
}

fn broken(_: Cut) -> io::Error {
    io::Error::from(io::ErrorKind::BrokenPipe)
}

impl AsyncRead for LineIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.early.is_empty() {
            let n = self.early.len().min(buf.remaining());
            buf.put_slice(&self.early.split_to(n));
            return Poll::Ready(Ok(()));
        }
        // A native line is made with its connection.
        let Some(tcp) = self.line.tcp() else { return Poll::Ready(Err(io::ErrorKind::NotConnected.into())) };
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            match tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl AsyncWrite for LineIo {
    /// Takes all of `bytes` (queued behind the relay's frames if it must wait): a frame is never split
    /// around another's.
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        self.line.push(bytes).map_err(broken)?;
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.line.poll_flush(cx).map_err(broken)
    }

    /// Flushes; the connection itself closes when the line is dropped (the relay may still hold it).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
