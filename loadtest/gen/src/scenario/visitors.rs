//! `widget_chat`: VISITORS widget sockets over TENANTS tenants, each its own conversation, each sending
//! RATE msgs/s for DURATION s (schedules spread over one period); the ack comes after the store has the
//! message, so ack latency is persist latency and acked msgs/s the sustained write rate.

use super::Timeline;
use crate::config::Params;
use crate::connect;
use crate::probe;
use crate::setup::Tenant;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message;

/// What one visitor saw.
#[derive(Debug, Default)]
pub struct VisitorStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// Send → ack, µs.
    pub ack_us: Vec<u32>,
    /// Error frames, failed sends, messages never acknowledged, a failed connect.
    pub errors: u64,
    /// First and last ack ([`probe::now_us`]).
    pub first_us: u64,
    /// See `first_us`.
    pub last_us: u64,
}

/// One visitor's run.
pub async fn visitor(p: Arc<Params>, v: usize, tenant: Tenant, tl: Timeline) -> VisitorStats {
    let mut st = VisitorStats::default();
    let Some(key) = tenant.product_key.as_deref() else {
        st.errors += 1;
        return st;
    };
    let url = format!("{}/ws/widget?product_key={key}", Params::ws_base(&p.base_url));
    let mut ws = match tokio::time::timeout_at(tl.start, connect::open(&url, v, p.spread_ips)).await {
        Ok(Ok(ws)) => ws,
        outcome => {
            eprintln!(
                "loadgen: visitor {v}: {}",
                outcome.map_or_else(|_| "connect timed out".into(), |r| r.err().unwrap_or_default())
            );
            st.errors += p.rate * p.duration;
            return st;
        }
    };
    let period = Duration::from_micros(1_000_000 / p.rate.max(1));
    let offset = period.mul_f64(v as f64 / p.sockets.max(1) as f64);
    let mut next = tl.start + offset;
    let total = p.rate * p.duration;
    let mut pending: HashMap<String, u64> = HashMap::new();
    let pad = "x".repeat(p.pad_bytes);
    loop {
        let sending = st.sent < total;
        if !sending && pending.is_empty() {
            break;
        }
        tokio::select! {
            () = sleep_until(next), if sending => {
                let id = format!("v{v}-{}", st.sent);
                let text = probe::text(tenant.index, st.sent, &pad);
                let frame = json!({ "type": "message", "text": text, "client_msg_id": id });
                pending.insert(id, probe::now_us());
                st.sent += 1;
                next += period;
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    st.errors += 1;
                    break;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        eprintln!("loadgen: visitor {v}: {e}");
                        break;
                    }
                };
                if !(text.starts_with(r#"{"type":"ack""#) || text.starts_with(r#"{"type":"error""#)) {
                    continue;
                }
                let f: Value = serde_json::from_str(&text).unwrap_or_default();
                let Some(at) = f["client_msg_id"].as_str().and_then(|id| pending.remove(id)) else { continue };
                if f["type"] != "ack" {
                    st.errors += 1;
                    continue;
                }
                let now = probe::now_us();
                st.acked += 1;
                st.ack_us.push(now.saturating_sub(at) as u32);
                if st.first_us == 0 {
                    st.first_us = now;
                }
                st.last_us = now;
            }
            () = sleep_until(tl.deadline) => break,
        }
    }
    st.errors += pending.len() as u64 + (total - st.sent);
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    st
}
