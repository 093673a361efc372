//! `floor`: the least a fan-out server can do, for measurement only. It speaks just enough Engine.IO /
//! Socket.IO (open packet, CONNECT with `{token}`, `message:send`) and `/ws/dashboard?token=…` to run the
//! fan-out scenarios: a socket joins its token's `license_key` room (the token's signature is not
//! checked), and each `message:send` becomes one `message:new` shaped and sized like Switchboard's,
//! encoded once per transport, the same bytes handed to every other socket of the room; a writer per
//! socket writes what is queued in one syscall. Like Switchboard, a room that relayed a message gets its
//! `metrics:updated` (Switchboard-sized) once a second, so both servers write the same frames. No store, no
//! pings, no limits, nothing else.
//!
//! Env: HOST (127.0.0.1), PORT (3199), FLOOR_THREADS (runtime workers; default: the CPUs).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use switchboard_loadgen::wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

struct Member {
    id: u64,
    tx: mpsc::UnboundedSender<Bytes>,
    plain: bool,
}

#[derive(Default)]
struct Floor {
    rooms: Mutex<HashMap<String, Vec<Member>>>,
    /// Messages relayed per room; the rooms with any are sent their numbers at the next second.
    stale: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
    seq: AtomicU64,
}

fn main() {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3199".into());
    let threads = std::env::var("FLOOR_THREADS").ok().and_then(|t| t.parse().ok());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    let result: Result<(), String> = builder.enable_all().build().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(async {
            let listener = TcpListener::bind(format!("{host}:{port}")).await.map_err(|e| e.to_string())?;
            eprintln!("floor listening on {host}:{port}");
            let floor = Arc::new(Floor::default());
            tokio::spawn(push_metrics(floor.clone()));
            loop {
                let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(floor.clone(), stream));
            }
        })
    });
    if let Err(e) = result {
        eprintln!("floor: {e}");
        std::process::exit(1);
    }
}

async fn serve(floor: Arc<Floor>, mut stream: TcpStream) {
    let mut buf = BytesMut::with_capacity(4096);
    let head = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break String::from_utf8_lossy(&buf.split_to(end + 4)).into_owned();
        }
        if buf.len() > 16384 || !matches!(stream.read_buf(&mut buf).await, Ok(n) if n > 0) {
            return;
        }
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let key = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim().to_owned())
    });
    let Some(key) = key else {
        let body = if path == "/healthz" { r#"{"ok":true}"# } else { r#"{"error":"not found"}"# };
        let status = if path == "/healthz" { "200 OK" } else { "404 Not Found" };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        let _ = stream.write_all(answer.as_bytes()).await;
        return;
    };
    if stream.write_all(wire::upgrade_response(&key).as_bytes()).await.is_err() {
        return;
    }
    let (mut read, write) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(writer(write, rx));
    let id = floor.next_id.fetch_add(1, Ordering::Relaxed);
    let plain = path.starts_with("/ws/dashboard");
    let mut room: Option<String> = None;
    if plain {
        let token = path.split_once("token=").map(|(_, t)| t.split('&').next().unwrap_or(t)).unwrap_or("");
        room = license_of(token);
        join(&floor, room.as_deref(), id, &tx, true);
    } else {
        let open = format!(
            r#"0{{"sid":"f{id}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
        );
        let _ = tx.send(wire::text(&open));
    }
    loop {
        while let Some(frame) = wire::next_frame(&mut buf) {
            match frame.opcode {
                8 => {
                    let _ = tx.send(wire::frame(8, &[]));
                    leave(&floor, room.as_deref(), id);
                    return;
                }
                9 => {
                    let _ = tx.send(wire::frame(10, &frame.payload));
                }
                1 if !plain => {
                    let text = String::from_utf8_lossy(&frame.payload);
                    if let Some(auth) = text.strip_prefix("40") {
                        let token = serde_json::from_str::<serde_json::Value>(auth)
                            .ok()
                            .and_then(|v| v["token"].as_str().map(str::to_owned));
                        room = token.as_deref().and_then(license_of);
                        if room.is_none() {
                            let _ = tx.send(wire::text(r#"44{"message":"unauthorized"}"#));
                            continue;
                        }
                        let _ = tx.send(wire::text(&format!(r#"40{{"sid":"s{id}"}}"#)));
                        join(&floor, room.as_deref(), id, &tx, false);
                    } else if text.starts_with(r#"42["message:send""#) {
                        if let (Some(room), Some(literal)) = (room.as_deref(), text_literal(&text)) {
                            relay(&floor, room, id, literal);
                        }
                    }
                }
                _ => {}
            }
        }
        if !matches!(read.read_buf(&mut buf).await, Ok(n) if n > 0) {
            leave(&floor, room.as_deref(), id);
            return;
        }
    }
}

/// Writes whatever is queued, coalesced into one write.
async fn writer(mut write: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    let mut out = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let result = match rx.try_recv() {
            Err(_) => write.write_all(&first).await,
            Ok(second) => {
                out.clear();
                out.extend_from_slice(&first);
                out.extend_from_slice(&second);
                while let Ok(more) = rx.try_recv() {
                    out.extend_from_slice(&more);
                }
                write.write_all(&out).await
            }
        };
        if result.is_err() {
            return;
        }
    }
}

/// The `license_key` claim of a JWT (unverified: the floor measures fan-out, not authentication).
fn license_of(token: &str) -> Option<String> {
    let claims = B64.decode(token.split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&claims).ok()?;
    claims["license_key"].as_str().map(str::to_owned)
}

fn join(floor: &Floor, room: Option<&str>, id: u64, tx: &mpsc::UnboundedSender<Bytes>, plain: bool) {
    let Some(room) = room else { return };
    if let Ok(mut rooms) = floor.rooms.lock() {
        rooms.entry(room.to_owned()).or_default().push(Member { id, tx: tx.clone(), plain });
    }
}

fn leave(floor: &Floor, room: Option<&str>, id: u64) {
    let Some(room) = room else { return };
    if let Ok(mut rooms) = floor.rooms.lock() {
        if let Some(members) = rooms.get_mut(room) {
            members.retain(|m| m.id != id);
        }
    }
}

/// The `"text"` value of a `message:send`, as the JSON string literal it arrived as (quotes included).
fn text_literal(frame: &str) -> Option<&str> {
    let start = frame.find(r#""text":""#)? + r#""text":"#.len();
    let bytes = frame.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(&frame[start..=i]),
            _ => i += 1,
        }
    }
    None
}

/// Encodes the event once per transport and queues the same bytes on every other socket of the room.
fn relay(floor: &Floor, room: &str, from: u64, text: &str) {
    let seq = floor.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let data = message_new(seq, text);
    // Switchboard's places in the license's history: `_epoch`/`_offset` in the Socket.IO argument,
    // `epoch`/`offset` beside `data` in the plain frame.
    let epoch = "0123456789abcdef";
    let body = data.strip_prefix('{').unwrap_or(&data);
    let sio = wire::text(&format!(r#"42["message:new",{{"_epoch":"{epoch}","_offset":{seq},{body}]"#));
    let plain = wire::text(&format!(r#"{{"data":{data},"epoch":"{epoch}","event":"message:new","offset":{seq}}}"#));
    fan_out(floor, room, Some(from), &sio, &plain);
    if let Ok(mut stale) = floor.stale.lock() {
        *stale.entry(room.to_owned()).or_default() += 1;
    }
}

/// Switchboard's `metrics:updated`: at most once a second, to every socket of a room whose numbers changed
/// (a tenant actor with dashboards pushes its license's numbers on the second after an event).
async fn push_metrics(floor: Arc<Floor>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut totals: HashMap<String, u64> = HashMap::new();
    loop {
        tick.tick().await;
        let stale = floor.stale.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        for (room, relayed) in stale {
            let today = totals.entry(room.clone()).or_default();
            *today += relayed;
            let data = format!(
                concat!(
                    r#"{{"at":{now},"csat_average":null,"csat_responses":0,"median_first_response_ms":null,"#,
                    r#""messages_today":{today},"open_conversations":1,"visitors_online":0}}"#
                ),
                now = now,
                today = today
            );
            let sio = wire::text(&format!(r#"42["metrics:updated",{data}]"#));
            let plain = wire::text(&format!(r#"{{"event":"metrics:updated","data":{data}}}"#));
            fan_out(&floor, &room, None, &sio, &plain);
        }
    }
}

/// Queues the same bytes, one encoding per transport, on every socket of `room` but `except`.
fn fan_out(floor: &Floor, room: &str, except: Option<u64>, sio: &Bytes, plain: &Bytes) {
    if let Ok(rooms) = floor.rooms.lock() {
        for m in rooms.get(room).into_iter().flatten().filter(|m| Some(m.id) != except) {
            let _ = m.tx.send(if m.plain { plain.clone() } else { sio.clone() });
        }
    }
}

/// Switchboard's `message:new` payload for an agent reply, field for field and byte for byte in size.
fn message_new(seq: u64, text: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!(
        concat!(
            r#"{{"channel":"widget","message":{{"author_id":"00000000-0000-4000-8000-000000000000","#,
            r#""client_msg_id":"d{seq}","conversation_id":"{conv:032x}","created_at":{now},"id":"{seq:032x}","#,
            r#""kind":"text","sender":"agent","seq":{seq},"text":{text}}}}}"#
        ),
        seq = seq,
        conv = 1u64,
        now = now,
        text = text
    )
}
