//! Refuses oversized WebSocket frames on the length their header announces, before any payload is
//! buffered.
//!
//! actix-ws checks its `max_frame_size` only once a whole frame has arrived, so a header announcing
//! 2^40 bytes followed by a slow stream would be buffered without bound. This guard sits between the
//! connection and actix-ws's decoder, follows the frame boundaries in the raw bytes, and ends the
//! stream with an error as soon as a header announces more than the limit, or a fragment would take
//! its message (the data frames up to the one with FIN) past it. The socket loop sees the
//! error, checks [`FrameGuard::tripped`], and closes with 1009.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Longest frame header: 2 bytes, an 8-byte extended length, a 4-byte mask.
const MAX_HEADER: usize = 14;

/// Shared flag telling the socket loop why its stream ended.
#[derive(Clone, Default)]
pub struct FrameGuard(Arc<AtomicBool>);

impl FrameGuard {
    /// Whether a frame header announced more than the limit.
    pub fn tripped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Wraps a request's payload so frames announcing more than `max_frame` bytes end it at once.
pub fn guard_payload(payload: Payload, max_frame: usize) -> (Payload, FrameGuard) {
    let guard = FrameGuard::default();
    let stream = GuardedStream { inner: payload, scanner: Scanner::new(max_frame as u64), guard: guard.clone() };
    (Payload::Stream { payload: Box::pin(stream) }, guard)
}

struct GuardedStream {
    inner: Payload,
    scanner: Scanner,
    guard: FrameGuard,
}

impl Stream for GuardedStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.guard.tripped() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => match this.scanner.feed(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(announced) => {
                    this.guard.0.store(true, Ordering::Relaxed);
                    tracing::info!(announced, "WebSocket frame refused on its announced length");
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            },
            other => other,
        }
    }
}

/// Follows frame boundaries in a byte stream (client frames, always masked).
#[derive(Debug)]
struct Scanner {
    max_frame: u64,
    /// Payload bytes of the current frame still to skip.
    remaining: u64,
    /// Payload bytes announced so far by the data frames of the current (fragmented) message.
    message: u64,
    /// A header collected across chunks.
    header: [u8; MAX_HEADER],
    header_len: usize,
}

impl Scanner {
    fn new(max_frame: u64) -> Self {
        Self { max_frame, remaining: 0, message: 0, header: [0; MAX_HEADER], header_len: 0 }
    }

    /// Consumes `bytes`; `Err(announced)` when a header announces more than the limit.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), u64> {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let skip = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(bytes.len());
                bytes = &bytes[skip..];
                self.remaining -= skip as u64;
                continue;
            }
            let take = (MAX_HEADER - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            let available = self.header_len + take;
            let parsed = header_size(&self.header[..available]);
            // Control frames (opcode ≥ 8) may interleave with fragments and are not part of the message.
            let is_data = self.header[0] & 0x0f < 8;
            let message = if is_data { self.message } else { 0 };
            if let Some((_, announced)) = parsed.filter(|(_, n)| message.saturating_add(*n) > self.max_frame) {
                return Err(message.saturating_add(announced));
            }
            match parsed.filter(|(size, _)| available >= *size) {
                None => {
                    // Not a whole header yet: keep what came, wait for more.
                    self.header_len = available;
                    return Ok(());
                }
                Some((size, announced)) => {
                    if is_data {
                        let fin = self.header[0] & 0x80 != 0;
                        self.message = if fin { 0 } else { message + announced };
                    }
                    // Bytes of this chunk that belong to the header (some may have been kept earlier).
                    bytes = &bytes[size - self.header_len..];
                    self.header_len = 0;
                    self.remaining = announced;
                }
            }
        }
        Ok(())
    }
}

/// `(header length, announced payload length)` once `buf` holds the length field; the header is
/// whole when `buf` holds `header length` bytes.
fn header_size(buf: &[u8]) -> Option<(usize, u64)> {
    let second = *buf.get(1)?;
    let masked = second & 0x80 != 0;
    let mask_len = if masked { 4 } else { 0 };
    let (length_len, announced) = match second & 0x7f {
        126 => (2, u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]))),
        127 => {
            let raw: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (8, u64::from_be_bytes(raw))
        }
        short => (0, u64::from(short)),
    };
    Some((2 + length_len + mask_len, announced))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u64) -> Vec<u8> {
        fragment(true, 0x1, len)
    }

    fn fragment(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => out.push(0x80 | len as u8),
            126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend(std::iter::repeat_n(b'x', len.min(70_000) as usize));
        out
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_chunking() {
        let mut stream = Vec::new();
        for len in [0, 5, 125, 126, 300, 16_384] {
            stream.extend(frame(len));
        }
        for chunk in [1, 2, 3, 7, 13, 64, 4096, stream.len()] {
            let mut scanner = Scanner::new(16_384);
            for piece in stream.chunks(chunk) {
                assert_eq!(scanner.feed(piece), Ok(()), "chunk size {chunk}");
            }
            assert_eq!(scanner.remaining, 0);
            assert_eq!(scanner.header_len, 0);
        }
    }

    #[test]
    fn an_oversized_announcement_is_refused_from_the_header_alone() {
        for announced in [16_385, 1 << 40, 1 << 62, u64::MAX] {
            let mut header = frame(0);
            header.truncate(2);
            header[1] = 0x80 | 127;
            header.extend_from_slice(&announced.to_be_bytes());
            let mut scanner = Scanner::new(16_384);
            // Byte by byte: refused once the length is known, before the mask arrives.
            let refused = header.iter().map(|b| scanner.feed(&[*b])).find(Result::is_err);
            assert_eq!(refused, Some(Err(announced)));
        }
    }

    #[test]
    fn fragments_count_towards_their_message_and_control_frames_do_not() {
        let mut stream = fragment(false, 0x1, 8_000);
        stream.extend(fragment(true, 0x9, 100)); // a ping between fragments
        stream.extend(fragment(true, 0x0, 8_000));
        stream.extend(fragment(false, 0x1, 10_000)); // the next message starts from zero
        let mut scanner = Scanner::new(16_384);
        assert_eq!(scanner.feed(&stream), Ok(()));
        assert_eq!(scanner.feed(&fragment(false, 0x0, 7_000)), Err(17_000));
    }

    #[test]
    fn an_oversized_frame_after_good_ones_is_refused() {
        let mut stream = frame(10);
        stream.extend(frame(70_000));
        let mut scanner = Scanner::new(16_384);
        assert_eq!(scanner.feed(&stream), Err(70_000));
    }
}
