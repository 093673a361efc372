//! The driver: one injector socket per tenant (a Socket.IO dashboard, or a widget visitor), probes at
//! RATE msgs/s round-robin over the tenants, then the per-tenant totals for the receivers.

use super::{sio_url, Pacer, Timeline};
use crate::config::Params;
use crate::connect::{self, Ws};
use crate::probe;
use crate::setup::Tenant;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// An injector's sending half, shared by the driver and the pong answers.
type Shared = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

/// What the driver did.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Probes sent.
    pub sent: u64,
    /// Expected deliveries: Σ over sent probes of the receivers of their tenant.
    pub expected: u64,
    /// Send → acknowledgement (Switchboard: stored and published), µs.
    pub ack_us: Vec<u32>,
    /// Sends that failed, negative acks, and acks that never came.
    pub errors: u64,
}

#[derive(Default)]
struct Acks {
    pending: Mutex<HashMap<String, u64>>,
    latencies: Mutex<Vec<u32>>,
    errors: AtomicU64,
}

impl Acks {
    fn settle(&self, id: &str, ok: bool, detail: &str) {
        let sent = self.pending.lock().ok().and_then(|mut p| p.remove(id));
        match (sent, ok) {
            (Some(at), true) => {
                if let Ok(mut l) = self.latencies.lock() {
                    l.push(probe::now_us().saturating_sub(at) as u32);
                }
            }
            (Some(_), false) => {
                if self.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("loadgen: injection failed: {}", detail.chars().take(300).collect::<String>());
                }
            }
            (None, _) => {}
        }
    }

    fn outstanding(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }
}

/// Opens the injectors, waits for `tl.start`, sends, publishes the totals, waits for the acks.
pub async fn run(
    p: Arc<Params>,
    tenants: Vec<Tenant>,
    tl: Timeline,
    finals: watch::Sender<Option<Arc<Vec<u64>>>>,
) -> Result<DriverStats, String> {
    let acks = Arc::new(Acks::default());
    let mut sinks = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        let ws = open_injector(&p, tenant).await?;
        let (sink, stream) = ws.split();
        let sink = Arc::new(tokio::sync::Mutex::new(sink));
        tokio::spawn(read_acks(stream, sink.clone(), acks.clone(), p.inject == "widget"));
        sinks.push(sink);
    }
    let mut stats = DriverStats::default();
    let pad = "x".repeat(p.pad_bytes + if p.target == "node-peer" { p.peer_pad_bytes } else { 0 });
    let total = p.rate * p.duration;
    let t = tenants.len();
    let mut per_tenant = vec![0u64; t];
    let mut n = 0u64;
    let mut pacer = Pacer::start(tl, p.rate, total).await;
    while let Some(due) = pacer.due(n).await {
        while n < due {
            let i = (n % t as u64) as usize;
            let text = probe::text(i, per_tenant[i], &pad);
            let frame = frame(&p, &tenants[i], &text, n, &acks);
            match sinks[i].lock().await.send(Message::text(frame)).await {
                Ok(()) => {
                    per_tenant[i] += 1;
                    stats.sent += 1;
                    stats.expected += p.receivers_of(i) as u64;
                }
                Err(e) => {
                    if stats.errors == 0 {
                        eprintln!("loadgen: injector {i}: {e}");
                    }
                    stats.errors += 1;
                }
            }
            n += 1;
        }
    }
    if n < total {
        eprintln!("loadgen: the driver fell behind: {n} of {total} probes sent by the end");
        stats.errors += total - n;
    }
    let _ = finals.send(Some(Arc::new(per_tenant)));
    while acks.outstanding() > 0 && Instant::now() < tl.deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if acks.outstanding() > 0 {
        eprintln!("loadgen: {} injections never acknowledged", acks.outstanding());
    }
    stats.errors += acks.outstanding() as u64 + acks.errors.load(Ordering::Relaxed);
    stats.ack_us = acks.latencies.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
    for sink in sinks {
        let _ = tokio::time::timeout(Duration::from_millis(200), async { sink.lock().await.close().await }).await;
    }
    Ok(stats)
}

/// The injection frame for probe `n`, its acknowledgement registered where one will come.
fn frame(p: &Params, tenant: &Tenant, text: &str, n: u64, acks: &Acks) -> String {
    let register = |id: String| {
        if let Ok(mut pending) = acks.pending.lock() {
            pending.insert(id, probe::now_us());
        }
    };
    if p.inject == "widget" {
        register(format!("d{n}"));
        return json!({ "type": "message", "text": text, "client_msg_id": format!("d{n}") }).to_string();
    }
    if p.target != "switchboard" {
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        return format!("42{}", json!(["message:send", { "text": text, "ts": ts }]));
    }
    register(n.to_string());
    let data = json!({ "conversation_id": tenant.conversation, "text": text, "client_msg_id": format!("d{n}") });
    format!("42{n}{}", json!(["message:send", data]))
}

/// A connected injector: a Socket.IO dashboard past CONNECT, or a widget visitor past its welcome.
async fn open_injector(p: &Params, tenant: &Tenant) -> Result<Ws, String> {
    let widget = p.inject == "widget";
    let url = match (&tenant.product_key, widget) {
        (Some(key), true) => format!("{}/ws/widget?product_key={key}", Params::ws_base(&p.base_url)),
        _ => sio_url(p),
    };
    let mut ws = connect::open(&url, p.sockets + tenant.index, p.spread_ips).await?;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame.map_err(|e| e.to_string())? else { continue };
        if widget {
            if text.starts_with(r#"{"type":"welcome""#) {
                return Ok(ws);
            }
            continue;
        }
        if text.starts_with('2') {
            // Engine.IO pings as soon as the socket opens: a ping left unanswered here closes it 20 s on.
            ws.send(Message::text("3")).await.map_err(|e| e.to_string())?;
        } else if text.starts_with('0') {
            let connect = format!("40{}", json!({ "token": tenant.token }));
            ws.send(Message::text(connect)).await.map_err(|e| e.to_string())?;
        } else if text.starts_with("40") {
            return Ok(ws);
        } else if text.starts_with("44") {
            return Err(format!("injector {}: {text}", tenant.index));
        }
    }
    Err(format!("injector {} closed while connecting", tenant.index))
}

/// Settles acknowledgements and answers Engine.IO pings.
async fn read_acks(mut stream: SplitStream<Ws>, sink: Shared, acks: Arc<Acks>, widget: bool) {
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => return,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("loadgen: injector: {e}");
                return;
            }
        };
        if !widget && text.starts_with('2') {
            let _ = sink.lock().await.send(Message::text("3")).await;
        } else if widget {
            if text.starts_with(r#"{"type":"ack""#) || text.starts_with(r#"{"type":"error""#) {
                let f: Value = serde_json::from_str(&text).unwrap_or_default();
                if let Some(id) = f["client_msg_id"].as_str() {
                    acks.settle(id, f["type"] == "ack", &text);
                }
            }
        } else if let Some(rest) = text.strip_prefix("43") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            acks.settle(&digits, rest.contains(r#""ok":true"#), &text);
        }
    }
}
