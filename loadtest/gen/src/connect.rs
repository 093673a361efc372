//! WebSocket connections from a spread of loopback source addresses (one source address runs out of
//! ephemeral ports near 28k sockets to one destination), with Nagle off as browsers have it.

use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// Opens `url` (`ws://127.0.0.1:port/…`) from 127.0.0.(1 + index % spread).
pub async fn open(url: &str, index: usize, spread: u8) -> Result<Ws, String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| format!("not a ws:// url: {url}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let dest: SocketAddr =
        authority.replace("localhost", "127.0.0.1").parse().map_err(|e| format!("{authority}: {e}"))?;
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    let last = (index % usize::from(spread)) as u8;
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1 + last), 0))).map_err(|e| e.to_string())?;
    let stream = socket.connect(dest).await.map_err(|e| format!("connect {dest}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // tungstenite reads through a 128 KiB buffer per socket by default: 1 GiB at 8k sockets. Frames here
    // are a few hundred bytes.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) =
        client_async_with_config(url, stream, Some(config)).await.map_err(|e| format!("upgrade {url}: {e}"))?;
    Ok(ws)
}
