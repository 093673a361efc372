//! The dashboard fan-out scenarios: receivers (Socket.IO or plain WebSocket dashboards) and the driver
//! that injects probes at a fixed rate, round-robin over the tenants; the widget scenario is in
//! [`crate::scenario::visitors`].

pub mod commands;
pub mod driver;
pub mod http_me;
pub mod mix;
pub mod visitors;

use crate::config::Params;
use crate::connect;
use crate::probe;
use crate::setup::Tenant;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep_until, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The receivers of this process still counting. Each closes its socket only once none is left (or at
/// the deadline): otherwise the close handshakes of the sockets that have everything compete, here and
/// in the server, with the fan-out of the last messages still on their way to the others, and those
/// messages' latencies measure the closing (the run's last message read 0.2–0.6 s every time).
#[derive(Clone)]
pub struct Departures(Arc<(AtomicUsize, Notify)>);

impl Departures {
    /// `receivers` will count.
    pub fn new(receivers: usize) -> Self {
        Departures(Arc::new((AtomicUsize::new(receivers), Notify::new())))
    }

    /// Waits until every receiver is done counting, or `deadline`. One wake-up for all when the last one
    /// is done (a watch channel woke every waiter at each departure: thousands squared).
    async fn all_done(&self, deadline: Instant) {
        let (left, last) = &*self.0;
        let notified = last.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if left.load(Ordering::Acquire) > 0 {
            let _ = timeout_at(deadline, notified).await;
        }
    }
}

/// One receiver counting; done when dropped, whichever way the receiver returns.
struct Counting(Departures);

impl Drop for Counting {
    fn drop(&mut self) {
        let (left, last) = &*self.0 .0;
        if left.fetch_sub(1, Ordering::AcqRel) == 1 {
            last.notify_waiters();
        }
    }
}

/// Absolute times of a run.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    /// Injection starts (receivers should be connected).
    pub start: Instant,
    /// Injection ends.
    pub end: Instant,
    /// Receivers give up waiting.
    pub deadline: Instant,
}

impl Timeline {
    /// Whatever happens, the process ends 10 s after the deadline (exit status 3).
    pub fn exit_after_deadline(&self) {
        let hard = self.deadline + Duration::from_secs(10);
        tokio::spawn(async move {
            sleep_until(hard).await;
            eprintln!("loadgen: hard deadline passed; exiting");
            std::process::exit(3);
        });
    }
}

/// Paces `total` injections at `rate` a second from the timeline's start, on a 2 ms tick.
pub struct Pacer {
    tick: tokio::time::Interval,
    start: Instant,
    stop: Instant,
    rate: u64,
    total: u64,
}

impl Pacer {
    /// Waits for `tl.start`; gives up 1 s after `tl.end`.
    pub async fn start(tl: Timeline, rate: u64, total: u64) -> Self {
        sleep_until(tl.start).await;
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Pacer { tick, start: tl.start, stop: tl.end + Duration::from_secs(1), rate, total }
    }

    /// With `sent` injections made: how many should be made by the next tick, or `None` when all are
    /// made or time is up.
    pub async fn due(&mut self, sent: u64) -> Option<u64> {
        if sent >= self.total || Instant::now() >= self.stop {
            return None;
        }
        self.tick.tick().await;
        Some((self.start.elapsed().as_micros() as u64 * self.rate / 1_000_000).min(self.total))
    }
}

/// How many probes each tenant was sent, once the driver is done.
pub type Finals = watch::Receiver<Option<Arc<Vec<u64>>>>;

/// What one socket saw.
#[derive(Debug, Default)]
pub struct SocketStats {
    /// Probes counted (first copy of each).
    pub delivered: u64,
    /// Copies of a probe already counted.
    pub duplicates: u64,
    /// Send → receipt of each counted probe, µs.
    pub latency_us: Vec<u32>,
    /// When each counted probe was sent ([`probe::now_us`]), in `latency_us`'s order.
    pub sent_us: Vec<u64>,
    /// Payload bytes of the counted frames.
    pub frame_bytes: u64,
    /// Other frames the server wrote once injection started (other events, acks; not Engine.IO pings):
    /// with `delivered`, the frames a server pays for (Switchboard's dashboards also get `metrics:updated`).
    pub other_frames: u64,
    /// First and last receipt ([`probe::now_us`]).
    pub first_us: u64,
    /// See `first_us`.
    pub last_us: u64,
    /// Connected (Socket.IO: CONNECT answered).
    pub connected: bool,
    /// Connected after injection started.
    pub late: bool,
    /// Open → connected, µs.
    pub connect_us: u32,
    /// The server closed it before we did.
    pub closed_early: bool,
    /// Why it failed to connect.
    pub error: Option<String>,
}

/// Which dashboard protocol the receivers speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Engine.IO v4 / Socket.IO v5 over a WebSocket.
    SocketIo,
    /// `/ws/dashboard?token=…`.
    Plain,
    /// A widget visitor, `/ws/widget?product_key=…`, counting widget commands (`mix` only).
    Widget,
}

/// The Socket.IO endpoint.
pub fn sio_url(p: &Params) -> String {
    format!("{}/socket.io/?EIO=4&transport=websocket", Params::ws_base(&p.sio_url))
}

/// One receiver: connects, counts probes of its tenant until it has them all (once the driver says how
/// many) or the deadline passes.
pub async fn receiver(
    p: Arc<Params>,
    g: usize,
    tenant: Tenant,
    kind: Kind,
    tl: Timeline,
    mut finals: Finals,
    departures: Departures,
) -> SocketStats {
    let counting = Counting(departures.clone());
    let mut st = SocketStats::default();
    let url = match kind {
        Kind::SocketIo => sio_url(&p),
        Kind::Plain => format!("{}/ws/dashboard?token={}", Params::ws_base(&p.base_url), tenant.token),
        Kind::Widget => format!(
            "{}/ws/widget?product_key={}",
            Params::ws_base(&p.base_url),
            tenant.product_key.as_deref().unwrap_or_default()
        ),
    };
    let t0 = probe::now_us();
    let mut ws = match timeout_at(tl.deadline, connect::open(&url, g, p.spread_ips)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return failed(st, e),
        Err(_) => return failed(st, "connect timed out".into()),
    };
    let connected = |st: &mut SocketStats| {
        st.connected = true;
        st.connect_us = (probe::now_us() - t0) as u32;
        st.late = Instant::now() > tl.start;
    };
    if kind == Kind::Plain {
        connected(&mut st);
    }
    let mut seen: Vec<bool> = Vec::new();
    let mut want: Option<u64> = None;
    let mut watching = true;
    let deadline = sleep_until(tl.deadline);
    tokio::pin!(deadline);
    loop {
        if want.is_some_and(|w| st.delivered >= w) {
            break;
        }
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        st.closed_early = st.connected;
                        if !st.connected {
                            st.error = Some("closed before connecting".into());
                        }
                        return st;
                    }
                    Some(Ok(_)) => continue,
                };
                let b = text.as_bytes();
                if kind == Kind::Widget && !st.connected && text.starts_with(r#"{"type":"welcome""#) {
                    connected(&mut st);
                    continue;
                }
                if kind == Kind::SocketIo {
                    match b.first() {
                        Some(b'2') => {
                            let _ = ws.send(Message::text("3")).await;
                            continue;
                        }
                        Some(b'0') => {
                            let connect = format!("40{}", serde_json::json!({ "token": tenant.token }));
                            let _ = ws.send(Message::text(connect)).await;
                            continue;
                        }
                        _ if !st.connected && text.starts_with("40") => {
                            connected(&mut st);
                            continue;
                        }
                        _ if text.starts_with("44") => return failed(st, format!("connect_error {text}")),
                        _ => {}
                    }
                }
                let Some(found) = probe::find(&text) else {
                    st.other_frames += u64::from(Instant::now() >= tl.start);
                    continue;
                };
                if found.tenant != tenant.index {
                    continue;
                }
                let n = found.n as usize;
                if seen.len() <= n {
                    seen.resize(n + 1, false);
                }
                if std::mem::replace(&mut seen[n], true) {
                    st.duplicates += 1;
                    continue;
                }
                let now = probe::now_us();
                st.delivered += 1;
                st.frame_bytes += b.len() as u64;
                st.latency_us.push(now.saturating_sub(found.sent_us) as u32);
                st.sent_us.push(found.sent_us);
                if st.first_us == 0 {
                    st.first_us = now;
                    if p.show_frame && g == 0 {
                        eprintln!("loadgen: message:new frame ({} bytes): {text}", b.len());
                    }
                }
                st.last_us = now;
            }
            changed = finals.changed(), if watching => {
                match changed {
                    Ok(()) => want = finals.borrow().as_ref().and_then(|f| f.get(tenant.index).copied()),
                    // The driver is gone (its totals already read, or it failed): the deadline ends us.
                    Err(_) => watching = false,
                }
            }
            () = &mut deadline => break,
        }
    }
    if std::env::var("LOADGEN_DEBUG").is_ok() && want != Some(st.delivered) {
        let missing: Vec<usize> = seen.iter().enumerate().filter(|(_, s)| !**s).map(|(i, _)| i).collect();
        eprintln!(
            "receiver {g} tenant {}: {} of {want:?}, missing {missing:?} (seen up to {})",
            tenant.index,
            st.delivered,
            seen.len()
        );
    }
    drop(counting);
    departures.all_done(tl.deadline).await;
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    st
}

fn failed(mut st: SocketStats, error: String) -> SocketStats {
    st.error = Some(error);
    st
}
