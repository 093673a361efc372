//! A connection together with what admitted it (a listener's permit, a source's slot), released when the
//! connection is dropped. Listeners hand connections on (an HTTP server to a WebSocket, hyper to
//! engineioxide) past the task that accepted them: the caps go with the stream, so they count it until it
//! closes, not until the accepting task lets go.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, holding `held` for as long as it lives.
pub struct Admitted<S, H> {
    io: S,
    held: H,
}

impl<S, H> Admitted<S, H> {
    /// `io`, counted by `held`.
    pub fn new(io: S, held: H) -> Self {
        Self { io, held }
    }

    /// The stream and what admitted it (keep the second as long as the stream is open).
    pub fn into_parts(self) -> (S, H) {
        (self.io, self.held)
    }
}

impl<S: AsyncRead + Unpin, H: Unpin> AsyncRead for Admitted<S, H> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin, H: Unpin> AsyncWrite for Admitted<S, H> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
