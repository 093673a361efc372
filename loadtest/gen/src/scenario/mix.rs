//! `SCENARIO=mix`, the generator side of `loadtest/many_nodes`: one process per node holds a mix of widget
//! visitors, plain-WebSocket dashboards and Socket.IO dashboards against that node, all processes on one
//! absolute timeline and one set of tenants (`ROLE=setup` makes them and writes `TENANTS_FILE`).
//! The process with `DRIVE=1` injects: agent replies over Socket.IO (RATE, [`super::driver`]), which every
//! dashboard of the license on every node receives as `message:new`, and widget commands over HTTP
//! (COMMAND_RATE, [`super::commands`]), which every visitor socket of the license receives. Each socket
//! knows how many probes its tenant gets (round-robin, deterministic), so it counts what is missing,
//! duplicated, and whether it got anything at all.

use super::{commands, driver, receiver, Departures, Kind, SocketStats, Timeline};
use crate::config::{Mix, Params};
use crate::report::{round3, trend_ms};
use crate::setup::{self, Tenant};
use crate::{probe, procstat};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;

/// Runs the role; prints (and writes to SUMMARY) the JSON summary; `Ok(true)` when everything held.
pub async fn run(p: Arc<Params>, m: Mix) -> Result<(Value, bool), String> {
    if m.role == "setup" {
        let tenants = setup::tenants(&p).await?;
        let list: Vec<Value> = tenants
            .iter()
            .map(|t| json!({ "index": t.index, "token": t.token, "product_key": t.product_key, "conversation": t.conversation }))
            .collect();
        std::fs::write(&m.tenants_file, Value::from(list).to_string())
            .map_err(|e| format!("{}: {e}", m.tenants_file))?;
        return Ok((json!({ "role": "setup", "tenants": tenants.len() }), true));
    }
    // Probe times are shared across processes: one zero for all, an hour before injection.
    probe::set_epoch_ms(m.start_at_ms.saturating_sub(3_600_000));
    let tenants = read_tenants(&m.tenants_file)?;
    if tenants.len() != p.tenants {
        return Err(format!("TENANTS={} but {} holds {}", p.tenants, m.tenants_file, tenants.len()));
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let lead = m.start_at_ms.checked_sub(now_ms).ok_or("START_AT_MS has passed")?;
    let start = Instant::now() + Duration::from_millis(lead);
    let end = start + Duration::from_secs(p.duration);
    let tl = Timeline { start, end, deadline: end + Duration::from_secs(p.drain_seconds) };
    tl.exit_after_deadline();
    let pid = p.server_pid;
    let rss_baseline = pid.and_then(procstat::rss_kib);
    let peak = procstat::peak_rss(pid, Duration::from_millis(500));
    let at_start = tokio::spawn(async move {
        tokio::time::sleep_until(start).await;
        let own_rss = procstat::rss_kib(std::process::id());
        (pid.and_then(procstat::cpu_seconds), pid.and_then(procstat::rss_kib), procstat::own_cpu_seconds(), own_rss)
    });
    let dash_total = p.rate * p.duration;
    let cmd_total = m.command_rate * p.duration;
    let want = |total: u64| Arc::new((0..p.tenants).map(|t| p.share_of(total, t)).collect::<Vec<u64>>());
    let (dash_tx, dash_rx) = watch::channel(None);
    let (cmd_tx, cmd_rx) = watch::channel(None);
    let plan = plan(&m);
    // Connects are spread evenly over CONNECT_SECONDS, at most 85 % of the time left before injection:
    // the rest lets slow handshakes finish before the first event.
    let window = Duration::from_secs(p.connect_seconds).min(Duration::from_millis(lead).mul_f64(0.85));
    let spacing = window / plan.len().max(1) as u32;
    let t0 = Instant::now();
    let mut sockets = Vec::with_capacity(plan.len());
    let departures = Departures::new(plan.len());
    for (g, (kind, i)) in plan.into_iter().enumerate() {
        let tenant = tenants[(i + m.part) % tenants.len()].clone();
        let finals = if kind == Kind::Widget { cmd_rx.clone() } else { dash_rx.clone() };
        let (p, at, departures) = (p.clone(), t0 + spacing * g as u32, departures.clone());
        sockets.push((
            kind,
            tenant.index,
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                receiver(p, g, tenant, kind, tl, finals, departures).await
            }),
        ));
    }
    let _ = dash_tx.send(Some(want(dash_total)));
    let _ = cmd_tx.send(Some(want(cmd_total)));
    let mut summary = json!({ "role": "hold", "part": m.part, "node": p.base_url, "params": p.recorded });
    let mut errors = 0u64;
    if m.drive {
        let (unused_tx, _unused_rx) = watch::channel(None);
        let (driven, sent) = tokio::join!(
            driver::run(p.clone(), tenants.clone(), tl, unused_tx),
            commands::run(&p, m.command_rate, &tenants, tl)
        );
        let d = driven?;
        errors += d.errors + sent.errors;
        let (mut ack, mut answer) = (d.ack_us, sent.answer_us);
        summary["replies"] = json!({ "sent": d.sent, "errors": d.errors, "ack_ms": trend_ms(&mut ack) });
        summary["commands"] = json!({ "sent": sent.sent, "errors": sent.errors,
            "server_delivered": sent.server_delivered, "answer_ms": trend_ms(&mut answer) });
    }
    let mut kinds = [Tally::new("visitor"), Tally::new("ws_dashboard"), Tally::new("sio_dashboard")];
    for (kind, tenant, task) in sockets {
        let s = task.await.map_err(|e| e.to_string())?;
        let total = if kind == Kind::Widget { cmd_total } else { dash_total };
        let k = match kind {
            Kind::Widget => 0,
            Kind::Plain => 1,
            Kind::SocketIo => 2,
        };
        kinds[k].add(s, p.share_of(total, tenant));
    }
    let (cpu0, rss_connected, own0, own_rss) = at_start.await.map_err(|e| e.to_string())?;
    let cpu1 = pid.and_then(procstat::cpu_seconds);
    let mut lat = Vec::new();
    for (file_kind, ks) in [("visitor", &kinds[..1]), ("dashboard", &kinds[1..])] {
        let bytes: Vec<u8> = ks.iter().flat_map(|k| k.latency_us.iter().flat_map(|l| l.to_le_bytes())).collect();
        if let Some(f) = &p.latency_file {
            std::fs::write(format!("{f}.{file_kind}"), bytes).map_err(|e| format!("{f}: {e}"))?;
        }
    }
    for k in &kinds {
        errors += k.errors();
        lat.extend_from_slice(&k.latency_us);
        summary["kinds"][k.name] = k.to_json();
    }
    summary["latency_ms"] = trend_ms(&mut lat);
    summary["server"] = json!({
        "pid": pid, "rss_baseline_kib": rss_baseline, "rss_connected_kib": rss_connected,
        "rss_peak_kib": peak.load(Ordering::Relaxed),
        "cpu_seconds_window": cpu0.zip(cpu1).map(|(a, b)| round3(b - a)),
        "window_s": round3(start.elapsed().as_secs_f64()),
    });
    summary["loadgen_rss_kib"] = json!(own_rss);
    summary["loadgen_cpu_seconds"] = json!(round3(procstat::own_cpu_seconds()));
    summary["loadgen_cpu_seconds_window"] = json!(round3(procstat::own_cpu_seconds() - own0));
    summary["error_total"] = json!(errors);
    summary["ok"] = json!(errors == 0);
    Ok((summary, errors == 0))
}

/// The process's sockets, kinds interleaved in proportion (each kind's i-th socket at (i + ½)/count of
/// the way through), so every kind connects throughout the connect window; each with its index in its kind.
fn plan(m: &Mix) -> Vec<(Kind, usize)> {
    let mut all: Vec<(f64, Kind, usize)> = Vec::new();
    for (kind, n) in [(Kind::Widget, m.visitors), (Kind::Plain, m.ws_dashboards), (Kind::SocketIo, m.sio_dashboards)] {
        all.extend((0..n).map(|i| ((i as f64 + 0.5) / n as f64, kind, i)));
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all.into_iter().map(|(_, k, i)| (k, i)).collect()
}

fn read_tenants(path: &str) -> Result<Vec<Tenant>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let list: Vec<Value> = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let s = |v: &Value| v.as_str().map(str::to_owned);
    Ok(list
        .iter()
        .map(|t| Tenant {
            index: t["index"].as_u64().unwrap_or(0) as usize,
            token: s(&t["token"]).unwrap_or_default(),
            product_key: s(&t["product_key"]),
            conversation: s(&t["conversation"]),
        })
        .collect())
}

/// One kind's sockets, added up.
struct Tally {
    name: &'static str,
    sockets: u64,
    connected: u64,
    late: u64,
    connect_errors: u64,
    closed_early: u64,
    /// Connected, yet received nothing.
    silent: u64,
    delivered: u64,
    expected: u64,
    duplicates: u64,
    latency_us: Vec<u32>,
    connect_us: Vec<u32>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Tally {
            name,
            sockets: 0,
            connected: 0,
            late: 0,
            connect_errors: 0,
            closed_early: 0,
            silent: 0,
            delivered: 0,
            expected: 0,
            duplicates: 0,
            latency_us: Vec::new(),
            connect_us: Vec::new(),
        }
    }

    fn add(&mut self, s: SocketStats, expected: u64) {
        self.sockets += 1;
        if let Some(e) = &s.error {
            self.connect_errors += 1;
            if self.connect_errors <= 3 {
                eprintln!("loadgen: {}: {e}", self.name);
            }
        }
        if s.connected {
            self.connected += 1;
            self.connect_us.push(s.connect_us);
            self.silent += u64::from(s.delivered == 0);
        }
        self.late += u64::from(s.late);
        self.closed_early += u64::from(s.closed_early);
        self.delivered += s.delivered;
        self.expected += expected;
        self.duplicates += s.duplicates;
        self.latency_us.extend(s.latency_us);
    }

    /// Everything that fails the run: a socket not connected in time, closed by the server, silent, a
    /// missing or duplicated probe.
    fn errors(&self) -> u64 {
        (self.sockets - self.connected)
            + self.late
            + self.closed_early
            + self.silent
            + self.expected.abs_diff(self.delivered)
            + self.duplicates
    }

    fn to_json(&self) -> Value {
        let (mut lat, mut connect) = (self.latency_us.clone(), self.connect_us.clone());
        json!({
            "sockets": self.sockets, "connected": self.connected, "late_connects": self.late,
            "connect_errors": self.connect_errors, "closed_early": self.closed_early,
            "silent_sockets": self.silent, "delivered": self.delivered, "expected": self.expected,
            "missing": self.expected.saturating_sub(self.delivered), "duplicates": self.duplicates,
            "latency_ms": trend_ms(&mut lat), "connect_ms": trend_ms(&mut connect),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_holds_every_socket_once_with_the_kinds_interleaved() {
        let m = Mix {
            role: "hold".into(),
            tenants_file: String::new(),
            visitors: 4,
            ws_dashboards: 2,
            sio_dashboards: 2,
            command_rate: 1,
            start_at_ms: 1,
            drive: false,
            part: 0,
        };
        let plan = plan(&m);
        assert_eq!(plan.len(), 8);
        let count = |k: Kind| plan.iter().filter(|(kind, _)| *kind == k).count();
        assert_eq!((count(Kind::Widget), count(Kind::Plain), count(Kind::SocketIo)), (4, 2, 2));
        // The first half of the window opens half of each kind.
        let first: Vec<Kind> = plan[..4].iter().map(|(k, _)| *k).collect();
        assert_eq!(first.iter().filter(|k| **k == Kind::Widget).count(), 2);
        assert!(first.contains(&Kind::Plain) && first.contains(&Kind::SocketIo));
    }

    #[test]
    fn round_robin_shares_add_up() {
        let p = Params::parse(
            ["SCENARIO=mix", "TENANTS=3", "TENANTS_FILE=x", "START_AT_MS=1"].map(String::from).into_iter(),
        );
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((0..3).map(|t| p.share_of(10, t)).collect::<Vec<_>>(), vec![4, 3, 3]);
    }
}
