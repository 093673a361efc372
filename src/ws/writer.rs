//! Writing a WebSocket's frames straight to its connection, from the socket's own loop.
//!
//! The HTTP layer hands an upgraded connection over (`http::handover`) and passes its write half to the
//! socket's [`SocketWriter`] through the 101 response's [`Handover`]. Each frame is encoded and written
//! by the loop that decided to send it: no queue between the loop and the connection, no second task to
//! wake per frame (actix-ws's session put every frame through a 32-slot channel, 1.8 KiB a socket, and a
//! task that wrote it out). A client that stops reading fills the kernel's buffers and the write waits,
//! at most [`SEND_TIMEOUT`](super::driver::SEND_TIMEOUT) for any frame: then the send fails as [`SendError::TooSlow`].

use super::driver::{within_send_timeout, SendError};
use actix_http::ws::{CloseReason, OpCode, Parser};
use actix_web::web::Buf;
use actix_web::web::{Bytes, BytesMut};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;

/// Queued bytes past which [`SocketWriter::queue_text`] writes at once: a loop kept busy by its reads
/// still sends what it owes its client.
const QUEUE_LIMIT: usize = 16 * 1024;

/// The socket's end of a handover: the HTTP layer sends the connection's write half here once the 101
/// response is on the wire. Carried as an extension of that response.
pub struct Handover(pub oneshot::Sender<OwnedWriteHalf>);

/// The client is gone (or was never handed over): nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Closed;

/// Writes frames to one WebSocket.
pub struct SocketWriter {
    state: State,
    /// What a send cut short (its wait timed out) left unwritten of its frame: written first by the next
    /// send, so the stream stays well-formed frames (a close after a timeout goes out whole, behind it).
    unsent: Option<Bytes>,
}

enum State {
    /// The 101 is not sent yet; the write half comes once it is.
    Waiting(oneshot::Receiver<OwnedWriteHalf>),
    Open(OwnedWriteHalf),
    Closed,
}

impl SocketWriter {
    /// A writer, and the handover the 101 response must carry to give it its connection.
    pub fn new() -> (Self, Handover) {
        let (tx, rx) = oneshot::channel();
        (Self { state: State::Waiting(rx), unsent: None }, Handover(tx))
    }

    /// Takes the connection's write half, once the 101 has been written (`None` if the client went
    /// first), for a socket whose frames are written elsewhere ([`crate::ws::line`]); nothing more can be
    /// written through this writer.
    pub async fn take_connection(&mut self) -> Option<OwnedWriteHalf> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Waiting(handover) => handover.await.ok(),
            State::Open(write) => Some(write),
            State::Closed => None,
        }
    }

    /// Sends a text frame.
    pub async fn text(&mut self, text: &str) -> Result<(), SendError> {
        self.frame(OpCode::Text, text.as_bytes()).await
    }

    /// Queues a text frame behind any queued before it, writing nothing yet unless the queue has grown
    /// past [`QUEUE_LIMIT`]; [`Self::flush`] (or any send) writes the queue in one go. For a loop that has
    /// several frames ready at once (a commit acknowledges a visitor's messages together): one syscall.
    pub async fn queue_text(&mut self, text: &str) -> Result<(), SendError> {
        self.push(encode(OpCode::Text, text.as_bytes()));
        match self.unsent.as_ref().is_some_and(|queued| queued.len() > QUEUE_LIMIT) {
            true => self.flush().await,
            false => Ok(()),
        }
    }

    /// Whether frames are queued (or left by a send cut short) that [`Self::flush`] would write.
    pub fn has_unsent(&self) -> bool {
        self.unsent.is_some()
    }

    /// Sends a ping.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.frame(OpCode::Ping, payload).await
    }

    /// Answers a ping.
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.frame(OpCode::Pong, payload).await
    }

    /// Sends a close frame and ends the connection's sending side (FIN); the HTTP layer reads out
    /// whatever the client still sends.
    pub async fn close(mut self, reason: Option<CloseReason>) -> Result<(), SendError> {
        let sent = self.write(encode_close(reason)).await;
        if let State::Open(write) = &mut self.state {
            let _ = write.shutdown().await;
        }
        sent
    }

    async fn frame(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.write(encode(opcode, payload)).await
    }

    /// Writes `frame` after whatever is queued or an earlier, cut-short send left.
    async fn write(&mut self, frame: Bytes) -> Result<(), SendError> {
        self.push(frame);
        self.flush().await
    }

    /// Puts `frame` behind what is still to be written.
    fn push(&mut self, frame: Bytes) {
        self.unsent = Some(match self.unsent.take() {
            None => frame,
            Some(rest) => [rest, frame].concat().into(),
        });
    }

    /// Writes what is queued, waiting at most [`SEND_TIMEOUT`](super::driver::SEND_TIMEOUT). Cancel-safe:
    /// what is left to write is kept in `self`, and a socket write that is cancelled writes nothing. The
    /// waiting is a hand-written poll, so this future (in every socket loop's state) stays a few words.
    pub async fn flush(&mut self) -> Result<(), SendError> {
        within_send_timeout(std::future::poll_fn(|cx| self.poll_flush(cx))).await?.map_err(|Closed| SendError::Gone)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        if let State::Waiting(handover) = &mut self.state {
            self.state = match Pin::new(handover).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(handed) => handed.map_or(State::Closed, State::Open),
            };
        }
        let State::Open(write) = &mut self.state else {
            self.unsent = None;
            return Poll::Ready(Err(Closed));
        };
        while let Some(bytes) = self.unsent.as_mut() {
            match Pin::new(&mut *write).poll_write(cx, bytes) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(n)) if n > 0 => {
                    bytes.advance(n);
                    if bytes.is_empty() {
                        self.unsent = None;
                    }
                }
                Poll::Ready(_) => {
                    self.state = State::Closed;
                    self.unsent = None;
                    return Poll::Ready(Err(Closed));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// One whole, unmasked frame of `opcode` carrying `payload`.
pub fn encode(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut frame, payload, opcode, true, false);
    frame.freeze()
}

/// A close frame with `reason`.
pub fn encode_close(reason: Option<CloseReason>) -> Bytes {
    let mut frame = BytesMut::new();
    Parser::write_close(&mut frame, reason, false);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::driver::{too_slow, SEND_TIMEOUT};
    use actix_codec::Decoder;
    use actix_http::ws::{CloseCode, Codec, Frame};
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A writer on one end of a real TCP connection, and the client's end.
    async fn connected() -> (SocketWriter, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let client = TcpStream::connect(listener.local_addr().expect("address")).await.expect("connects");
        let (server, _) = listener.accept().await.expect("accepts");
        let (writer, Handover(handover)) = SocketWriter::new();
        let (_read, write) = server.into_split();
        assert!(handover.send(write).is_ok());
        (writer, client)
    }

    /// Everything the client reads, decoded as server frames, until the connection ends.
    async fn frames(mut client: TcpStream) -> Vec<Frame> {
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).await.expect("reads to the end");
        let mut buf = BytesMut::from(&bytes[..]);
        let mut codec = Codec::new().max_size(64 << 20).client_mode();
        std::iter::from_fn(|| codec.decode(&mut buf).expect("well-formed frames")).collect()
    }

    #[tokio::test]
    async fn a_send_cut_short_is_finished_before_the_close_so_the_frames_stay_whole() {
        let (mut writer, client) = connected().await;
        // Far more than the kernel's buffers hold while the client reads nothing: the send times out part-way.
        let big = "x".repeat(16 << 20);
        let cut = tokio::time::timeout(Duration::from_millis(200), writer.text(&big)).await;
        assert!(cut.is_err(), "the send should still be waiting for the client");
        assert!(writer.unsent.is_some(), "the rest of the frame is kept");
        let reader = tokio::spawn(frames(client));
        let reason = CloseReason { code: CloseCode::Other(4001), description: Some("too slow".into()) };
        assert_eq!(writer.close(Some(reason.clone())).await, Ok(()));
        let frames = reader.await.expect("reader");
        assert_eq!(frames.len(), 2, "the text frame, whole, then the close");
        assert!(matches!(&frames[0], Frame::Text(text) if text.len() == big.len()));
        assert!(matches!(&frames[1], Frame::Close(Some(got)) if *got == reason));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_given_up_on_after_the_send_timeout() {
        let (mut writer, _client) = connected().await;
        let started = tokio::time::Instant::now();
        // A frame far larger than the kernel's buffers, to a client that reads nothing.
        assert_eq!(writer.text(&"x".repeat(16 << 20)).await, Err(SendError::TooSlow(too_slow())));
        assert!(started.elapsed() >= SEND_TIMEOUT);
        // Pings wait the same way (the keep-alive must not hang on a client that stopped reading).
        assert_eq!(writer.ping(b"").await, Err(SendError::TooSlow(too_slow())));
    }

    #[tokio::test]
    async fn queued_frames_go_out_at_the_flush_in_order() {
        let (mut writer, mut client) = connected().await;
        for text in ["one", "two", "three"] {
            assert_eq!(writer.queue_text(text).await, Ok(()));
        }
        let mut probe = [0u8; 64];
        let early = tokio::time::timeout(Duration::from_millis(50), client.read(&mut probe)).await;
        assert!(early.is_err(), "nothing is written before the flush: {early:?}");
        assert_eq!(writer.flush().await, Ok(()));
        assert!(!writer.has_unsent());
        assert_eq!(writer.close(None).await, Ok(()));
        let texts: Vec<_> = frames(client)
            .await
            .into_iter()
            .filter_map(|frame| match frame {
                Frame::Text(text) => Some(String::from_utf8_lossy(&text).into_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
    }

    #[tokio::test]
    async fn a_queue_past_its_limit_is_written_at_once() {
        let (mut writer, mut client) = connected().await;
        assert_eq!(writer.queue_text("small").await, Ok(()));
        assert!(writer.has_unsent());
        assert_eq!(writer.queue_text(&"x".repeat(QUEUE_LIMIT)).await, Ok(()));
        assert!(!writer.has_unsent(), "the queue went out without a flush");
        let mut probe = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut probe)).await;
        assert!(matches!(read, Ok(Ok(n)) if n > 0), "{read:?}");
    }

    #[tokio::test]
    async fn a_writer_never_handed_its_connection_is_closed() {
        let (mut writer, handover) = SocketWriter::new();
        drop(handover);
        assert_eq!(writer.text("hello").await, Err(SendError::Gone));
        assert_eq!(writer.ping(b"").await, Err(SendError::Gone));
    }
}
