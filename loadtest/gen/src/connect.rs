//! WebSocket connections from a spread of loopback source addresses (one source address runs out of
//! ephemeral ports near 28k sockets to one destination), with Nagle off as browsers have it.

use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{client_async, WebSocketStream};

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
    let (ws, _) = client_async(url, stream).await.map_err(|e| format!("upgrade {url}: {e}"))?;
    Ok(ws)
}
