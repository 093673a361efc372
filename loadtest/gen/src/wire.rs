//! The floor server's raw WebSocket: the upgrade answer, server frames encoded once, client frames read
//! from a buffer. Only what the floor needs (text, close, ping; no fragments, no extensions).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use sha1::{Digest, Sha1};

/// The `101 Switching Protocols` answer to a request carrying `key` (Sec-WebSocket-Key).
pub fn upgrade_response(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = STANDARD.encode(sha.finalize());
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
}

/// A whole unmasked server frame (FIN set) with `opcode` around `payload`.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.extend_from_slice(&[0x80 | opcode]);
    match payload.len() {
        n if n < 126 => out.extend_from_slice(&[n as u8]),
        n if n < 65536 => {
            out.extend_from_slice(&[126]);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.extend_from_slice(&[127]);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out.freeze()
}

/// A text frame.
pub fn text(payload: &str) -> Bytes {
    frame(1, payload.as_bytes())
}

/// One client frame: its opcode and unmasked payload.
pub struct ClientFrame {
    /// 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// Takes the first whole frame off `buf`, or `None` until more bytes arrive.
pub fn next_frame(buf: &mut BytesMut) -> Option<ClientFrame> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        126 | 127 => return None,
        n => (usize::from(n), 2),
    };
    let mask_at = at;
    if masked {
        at += 4;
    }
    if buf.len() < at + len {
        return None;
    }
    let mut payload = buf[at..at + len].to_vec();
    if masked {
        let mask = [buf[mask_at], buf[mask_at + 1], buf[mask_at + 2], buf[mask_at + 3]];
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    buf.advance(at + len);
    Some(ClientFrame { opcode, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455() {
        assert!(upgrade_response("dGhlIHNhbXBsZSBub25jZQ==").contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    }

    #[test]
    fn reads_back_a_masked_frame() {
        let mut buf = BytesMut::from(&[0x81u8, 0x82, 1, 2, 3, 4, b'4' ^ 1, b'0' ^ 2, 0x81][..]);
        let f = next_frame(&mut buf).map(|f| (f.opcode, f.payload));
        assert_eq!(f, Some((1, b"40".to_vec())));
        assert_eq!(buf.len(), 1);
        assert!(next_frame(&mut buf).is_none());
    }
}
