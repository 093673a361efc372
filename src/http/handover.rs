//! Connections that ask to upgrade (WebSocket handshakes) leave actix-http's HTTP/1 dispatcher and are
//! served here, on the bare socket.
//!
//! The dispatcher keeps a read and a write buffer of 8 KiB each for a connection's whole life; for a
//! WebSocket that idles between small frames those two buffers were 16 of its 18.3 KiB (heaptrack,
//! issue 14). Here the request still goes through the whole actix-web app (middleware, routing, the
//! handshake handler), but its body reads the socket directly, a read at a time into a stack buffer,
//! and once the 101 is written the connection's write half goes to the socket's own writer
//! ([`crate::ws::writer`], through the response's [`Handover`]): an idle socket holds no buffer at
//! all. A refused handshake (401, 403, 429, …) or any other answer is written here, body and all, and
//! the connection closed.

use super::connection::{Connection, Place};
use crate::ws::writer::Handover;
use actix_codec::{Encoder, Framed, FramedParts};
use actix_http::body::{BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::header::HeaderValue;
use actix_http::{BoxedPayloadStream, ConnectionType, Method, Payload, Request, Response, StatusCode};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::web::{Bytes, BytesMut};
use futures_util::Stream;
use std::future::poll_fn;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Largest read from the socket at once. Client frames are at most 16 KiB and mostly far smaller;
/// actix-ws's decoder gathers a frame that spans reads.
const READ_CHUNK: usize = 4096;

/// Serves one upgrade request on its connection: the app answers it and the answer is written. For a
/// `101 Switching Protocols` the socket stays open: its reads feed the request's body and its writes are
/// the socket writer's; this task (actix-http's connection task, with the dispatcher's state inline) ends
/// here, and the connection's place under the cap travels with the socket ([`super::connection`]). When
/// the socket's loop is done, what the client still sends is read out ([`linger`]). Errors of the
/// connection end it quietly (the client went away); the app's errors become their responses, as on any
/// request.
pub async fn serve<S, B>(
    app: Rc<S>,
    mut req: Request,
    framed: Framed<Connection, Codec>,
) -> Result<(), actix_web::Error>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    copy_header_values(&mut req);
    let FramedParts { io, mut codec, read_buf, .. } = framed.into_parts();
    let (io, place) = io.into_parts();
    let place = place.handed_over();
    let (read, mut write) = io.into_split();
    // Bytes the client sent right behind its handshake (frames sent before the 101 arrived) come first.
    let early = (!read_buf.is_empty()).then(|| read_buf.freeze());
    let head_only = req.method() == Method::HEAD;
    let body: BoxedPayloadStream = Box::pin(SocketBody { early, read: Some(read), place: Some(place) });
    let (req, _) = req.replace_payload(Payload::Stream { payload: body });
    let response: Response<BoxBody> = match app.call(req).await {
        Ok(response) => Response::from(response).map_into_boxed_body(),
        Err(err) => err.into(),
    };
    let (mut head, body) = response.into_parts();
    let handover = head.extensions_mut().remove::<Handover>();
    let upgraded = head.status() == StatusCode::SWITCHING_PROTOCOLS;
    if !upgraded {
        // Only a WebSocket stays open; anything else ends the connection once written.
        head.head_mut().set_connection_type(ConnectionType::Close);
    }
    let mut encoded = BytesMut::new();
    if let Err(err) = codec.encode(Message::Item((head, body.size())), &mut encoded) {
        tracing::debug!(%err, "encoding a handed-over response head");
        return Ok(());
    }
    let body = (!head_only).then_some(body);
    if let Err(err) = write_out(&mut write, encoded.freeze(), body).await {
        tracing::debug!(%err, "a handed-over connection ended");
        return Ok(());
    }
    match handover {
        // The socket's own loop writes from now on, and ends the sending side when it is done; the read
        // side is its request body's, read out once the loop drops it.
        Some(Handover(writer)) if upgraded => {
            let _ = writer.send(write);
        }
        _ => {
            let _ = write.shutdown().await;
        }
    }
    Ok(())
}

/// Gives the request's header values their own memory. actix-http parses without copying: the values
/// point into the connection's 8 KiB read buffer, which then lives as long as the request does, through
/// the handshake's store lookups, and on while actix-web keeps the spent request for reuse (up to 128 a
/// worker). In a reconnect storm those buffers were most of the memory, and freed late, among the
/// sockets' own allocations, they stayed resident (issue 14). A few small copies free it now.
fn copy_header_values(req: &mut Request) {
    let shared = std::mem::take(req.headers_mut());
    let headers = req.headers_mut();
    for (name, value) in shared {
        let copied = HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value);
        headers.append(name, copied);
    }
}

/// Writes the response head, then the body's chunks as they come, what is ready at once in one write
/// (the head goes with the first chunk: a client that reads a refusal's head may not wait for more).
/// Bodies are sent as they are: on an upgrade request the codec frames a body by the connection's end.
async fn write_out(write: &mut OwnedWriteHalf, head: Bytes, body: Option<BoxBody>) -> io::Result<()> {
    let mut ready = vec![head];
    let Some(body) = body else { return write.write_all(&ready[0]).await };
    let mut body = pin!(body);
    loop {
        let ended = poll_fn(|cx| loop {
            match body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => ready.push(chunk),
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(io::Error::other(err.to_string()))),
                Poll::Ready(None) => return Poll::Ready(Ok(true)),
                Poll::Pending if ready.is_empty() => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Ok(false)),
            }
        })
        .await?;
        match ready.as_slice() {
            [one] => write.write_all(one).await?,
            many => write.write_all(&many.concat()).await?,
        }
        ready.clear();
        if ended {
            return Ok(());
        }
    }
}

/// What a lingering connection reads at once (and drops).
const LINGER_CHUNK: usize = 1024;

/// How long a closed connection goes on reading what the client still sends, waiting for its end.
const LINGER: Duration = Duration::from_secs(1);

/// Reads out what the client still sends once this side has said its last (FIN sent), until it closes
/// too or [`LINGER`] passes: closing a socket with unread input makes the kernel send RST, and a client
/// that gets RST may lose the last frames (a close frame with its code) before reading them. Started when
/// the request's body is dropped (a socket loop holds it for its life); the connection keeps its place
/// under the cap until then.
async fn linger(mut read: OwnedReadHalf, place: Option<Place>) {
    let mut sink = [0u8; LINGER_CHUNK];
    let _ = tokio::time::timeout(LINGER, async { while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {} }).await;
    drop(place);
}

/// A handed-over request's body: what came behind the handshake, then the socket itself, read only
/// when the reader asks (so a socket loop that stops reading stops the socket being read). Dropped, it
/// reads the socket out in a task of its own ([`linger`]).
struct SocketBody {
    early: Option<Bytes>,
    read: Option<OwnedReadHalf>,
    place: Option<Place>,
}

impl Stream for SocketBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(early) = this.early.take() {
            return Poll::Ready(Some(Ok(early)));
        }
        let Some(read) = this.read.as_mut() else { return Poll::Ready(None) };
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        match Pin::new(read).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            // A reset is a client gone, as is an end of stream (the dispatcher read it the same way).
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::ConnectionReset => Poll::Ready(None),
            Poll::Ready(Err(err)) => Poll::Ready(Some(Err(PayloadError::Io(err)))),
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(buf.filled())))),
        }
    }
}

impl Drop for SocketBody {
    fn drop(&mut self) {
        let Some(read) = self.read.take() else { return };
        // Outside a runtime (the process is ending) there is nothing to linger for.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(read, self.place.take()));
        }
    }
}
