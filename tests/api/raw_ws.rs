//! A WebSocket client that writes frames byte by byte, for what well-behaved clients never send:
//! lying length headers, fragments, half-sent frames. Also: connecting from a chosen 127.0.0.x address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a continuation frame.
pub const CONTINUATION: u8 = 0x0;

/// A TCP connection to `address` (`host:port`) from the local address `from`.
pub async fn connect_from(from: IpAddr, address: &str) -> std::io::Result<TcpStream> {
    let target: SocketAddr = address.parse().expect("address is ip:port");
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(target).await
}

/// A raw WebSocket after its handshake.
pub struct RawSocket {
    pub stream: TcpStream,
}

impl RawSocket {
    /// Upgrades `path_and_query` on `address` (`127.0.0.1:port`); panics unless the server answers 101.
    pub async fn open(address: &str, path_and_query: &str) -> Self {
        let stream = TcpStream::connect(address).await.expect("connects");
        Self::handshake(stream, address, path_and_query).await.expect("upgraded")
    }

    /// Sends the upgrade request on `stream`; `Err` with the status line unless it is 101.
    pub async fn handshake(stream: TcpStream, host: &str, path_and_query: &str) -> Result<Self, String> {
        Self::handshake_with(stream, host, path_and_query, &[]).await
    }

    /// [`Self::handshake`] with `early` (whole frames, see [`frame`]) in the same write as the request,
    /// before the server has answered.
    pub async fn handshake_with(
        mut stream: TcpStream,
        host: &str,
        path_and_query: &str,
        early: &[u8],
    ) -> Result<Self, String> {
        let mut request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        request.extend_from_slice(early);
        stream.write_all(&request).await.map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
            match read {
                Ok(Ok(1)) => head.push(byte[0]),
                _ => return Err(format!("no complete response: {}", String::from_utf8_lossy(&head))),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("HTTP/1.1 101") {
            Ok(Self { stream })
        } else {
            Err(head)
        }
    }

    /// Writes one masked frame (mask 0: the payload goes as is); `fin` false leaves the message open.
    pub async fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(&frame(fin, opcode, payload)).await
    }

    /// Writes only a text frame's header announcing `length` payload bytes.
    pub async fn send_header(&mut self, length: u64) -> std::io::Result<()> {
        self.stream.write_all(&frame_header(true, TEXT, length)).await
    }

    /// Reads frames until a text frame (its payload as JSON) or a close (`Err(code)`); panics after 5 s.
    pub async fn recv(&mut self) -> Result<serde_json::Value, u16> {
        loop {
            let (opcode, payload) = self.read_frame().await;
            match opcode {
                TEXT => return Ok(serde_json::from_slice(&payload).expect("text frames are JSON")),
                0x8 => return Err(payload.get(..2).map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]))),
                _ => {} // pings
            }
        }
    }

    /// Skips text frames until the close; returns its code.
    pub async fn recv_close(&mut self) -> u16 {
        loop {
            if let Err(code) = self.recv().await {
                return code;
            }
        }
    }

    /// Text frames until one of `kind`.
    pub async fn recv_type(&mut self, kind: &str) -> serde_json::Value {
        loop {
            let frame = self.recv().await.unwrap_or_else(|code| panic!("closed with {code} while expecting {kind}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    async fn read_frame(&mut self) -> (u8, Vec<u8>) {
        let read = async {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await?;
            let length = match head[1] & 0x7f {
                126 => u64::from(self.stream.read_u16().await?),
                127 => self.stream.read_u64().await?,
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(length).expect("server frames are small")];
            self.stream.read_exact(&mut payload).await?;
            Ok::<_, std::io::Error>((head[0] & 0x0f, payload))
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a frame within 5 s")
            .expect("the connection stays readable")
    }
}

/// One masked frame (mask 0: the payload goes as is); `fin` false leaves the message open.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = frame_header(fin, opcode, payload.len() as u64);
    frame.extend_from_slice(payload);
    frame
}

fn frame_header(fin: bool, opcode: u8, length: u64) -> Vec<u8> {
    let mut header = vec![if fin { 0x80 } else { 0 } | opcode];
    match length {
        0..=125 => header.push(0x80 | length as u8),
        126..=0xffff => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(length as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&length.to_be_bytes());
        }
    }
    header.extend_from_slice(&[0, 0, 0, 0]);
    header
}
