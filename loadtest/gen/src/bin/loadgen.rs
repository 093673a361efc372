//! `loadgen KEY=VALUE…`: runs one fan-out or widget scenario against a server on loopback and prints a
//! JSON summary (also written to SUMMARY). Bounded: it exits by itself at the scenario's deadline plus
//! a few seconds, whatever the server does. See loadtest/README.md for the parameters.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_loadgen::config::Params;
use switchboard_loadgen::report::{round3, trend_ms, ServerReading};
use switchboard_loadgen::scenario::{self, driver, http_me, mix, visitors, Kind, Timeline};
use switchboard_loadgen::{probe, procstat, setup};
use tokio::time::Instant;

/// How long before the first send the "all connected" memory is read.
const RSS_LEAD: Duration = Duration::from_millis(100);

fn main() {
    let params = match Params::parse(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(params.threads).enable_all().build();
    let code = match runtime.map_err(|e| e.to_string()).and_then(|rt| rt.block_on(run(Arc::new(params)))) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("loadgen: {e}");
            1
        }
    };
    // Sockets still closing are not waited for.
    std::process::exit(code);
}

async fn run(p: Arc<Params>) -> Result<bool, String> {
    if let Some(m) = p.mix.clone() {
        let (summary, ok) = mix::run(p.clone(), m).await?;
        let text = summary.to_string();
        if let Some(path) = &p.summary {
            std::fs::write(path, &text).map_err(|e| format!("{path}: {e}"))?;
        }
        println!("{text}");
        return Ok(ok);
    }
    let wall0 = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let us0 = probe::now_us();
    let epoch_ms = move |us: u64| wall0 + us.saturating_sub(us0) / 1000;
    let loadavg_start = procstat::loadavg();
    let tenants = setup::tenants(&p).await?;
    let mut reading =
        ServerReading { rss_baseline_kib: p.server_pid.and_then(procstat::rss_kib), ..Default::default() };
    let start = Instant::now() + Duration::from_secs(p.connect_seconds);
    let end = start + Duration::from_secs(p.duration);
    let tl = Timeline { start, end, deadline: end + Duration::from_secs(p.drain_seconds) };
    tl.exit_after_deadline();
    let peak = procstat::peak_rss(p.server_pid, Duration::from_millis(250));
    let at_start = {
        let pid = p.server_pid;
        tokio::spawn(async move {
            // Memory just before the first send: read at `start` itself, it raced the first messages (a
            // widget visitor's first one opens a conversation), which made widget rows swing by 2–4 KiB a socket.
            tokio::time::sleep_until(start - RSS_LEAD).await;
            let rss = pid.and_then(procstat::rss_kib);
            tokio::time::sleep_until(start).await;
            (pid.and_then(procstat::cpu_seconds), rss, procstat::own_cpu_seconds())
        })
    };
    let outcome = if p.scenario == "widget_chat" {
        visitors_run(&p, &tenants, tl).await
    } else if p.scenario == "http_auth" {
        me_run(&p, &tenants, tl).await
    } else {
        dashboards_run(&p, tenants, tl).await?
    };
    let (cpu0, rss_connected, own0) = at_start.await.map_err(|e| e.to_string())?;
    let cpu1 = p.server_pid.and_then(procstat::cpu_seconds);
    reading.cpu_seconds = cpu0.zip(cpu1).map(|(a, b)| b - a);
    reading.span_s = start.elapsed().as_secs_f64();
    reading.rss_connected_kib = rss_connected;
    reading.rss_peak_kib = peak.load(std::sync::atomic::Ordering::Relaxed);
    let own = procstat::own_cpu_seconds() - own0;
    let o = outcome;
    let window_s = (o.last_us > o.first_us).then(|| (o.last_us - o.first_us) as f64 / 1e6);
    let error_total: u64 = o.errors.as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let ok = error_total == 0 && o.delivered == o.expected && o.delivered > 0;
    let summary = json!({
        "scenario": p.scenario, "target": p.target, "generator": "loadgen", "params": p.recorded,
        "delivered": o.delivered, "expected": o.expected, "sent": o.sent,
        "missing": o.expected.saturating_sub(o.delivered),
        "window_s": window_s.map(round3),
        "window_start_ms": (o.first_us > 0).then(|| epoch_ms(o.first_us)),
        "window_end_ms": (o.last_us > 0).then(|| epoch_ms(o.last_us)),
        "delivered_per_s": window_s.map(|w| (o.delivered as f64 / w).round()),
        "latency_metric": o.latency_metric, "latency_ms": o.trends[o.latency_metric], "trends": o.trends,
        "frame_bytes_avg": (o.frame_bytes > 0).then(|| round3(o.frame_bytes as f64 / o.delivered as f64)),
        "other_frames": o.other_frames,
        "errors": o.errors, "error_total": error_total, "info": o.info, "checks_failed": 0, "ok": ok,
        "server": reading.to_json(o.delivered, o.other_frames, if p.scenario == "widget_chat" { p.sockets } else { p.sockets + p.tenants }),
        "loadgen_cpu_seconds": round3(own),
        "loadavg_start": loadavg_start, "loadavg_end": procstat::loadavg(),
    });
    let text = summary.to_string();
    if let Some(path) = &p.summary {
        std::fs::write(path, &text).map_err(|e| format!("{path}: {e}"))?;
    }
    println!("{text}");
    eprintln!(
        "loadgen: {} {}: {} of {} delivered, p50 {} ms p99 {} ms, server {} CPU-s → {} per CPU-s; loadgen {:.2} CPU-s",
        p.scenario,
        p.target,
        o.delivered,
        o.expected,
        summary["latency_ms"]["p50"],
        summary["latency_ms"]["p99"],
        summary["server"]["cpu_seconds"],
        summary["server"]["delivered_per_cpu_second"],
        own
    );
    Ok(ok)
}

struct Outcome {
    delivered: u64,
    expected: u64,
    sent: u64,
    first_us: u64,
    last_us: u64,
    frame_bytes: u64,
    other_frames: u64,
    latency_metric: &'static str,
    trends: serde_json::Map<String, Value>,
    errors: Value,
    info: Value,
}

impl Outcome {
    fn new(latency_metric: &'static str) -> Self {
        Outcome {
            delivered: 0,
            expected: 0,
            sent: 0,
            first_us: u64::MAX,
            last_us: 0,
            frame_bytes: 0,
            other_frames: 0,
            latency_metric,
            trends: serde_json::Map::new(),
            errors: json!({}),
            info: json!({}),
        }
    }
}

async fn dashboards_run(p: &Arc<Params>, tenants: Vec<setup::Tenant>, tl: Timeline) -> Result<Outcome, String> {
    let kind = if p.scenario == "dashboard_ws" { Kind::Plain } else { Kind::SocketIo };
    let (finals_tx, finals_rx) = tokio::sync::watch::channel(None);
    let spacing = Duration::from_secs(p.connect_seconds).mul_f64(0.5) / p.sockets.max(1) as u32;
    let mut receivers = Vec::with_capacity(p.sockets);
    let departures = scenario::Departures::new(p.sockets);
    for g in 0..p.sockets {
        let (p, tenant, finals) = (p.clone(), tenants[g % tenants.len()].clone(), finals_rx.clone());
        let departures = departures.clone();
        let at = Instant::now() + spacing * g as u32;
        receivers.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            scenario::receiver(p, g, tenant, kind, tl, finals, departures).await
        }));
    }
    let tenant_count = tenants.len();
    let driven = driver::run(p.clone(), tenants, tl, finals_tx).await;
    let mut o = Outcome::new("delivery_ms");
    let (mut lat, mut connect) = (Vec::new(), Vec::new());
    let (mut connect_errors, mut late, mut early, mut dups) = (0u64, 0u64, 0u64, 0u64);
    let mut series = String::new();
    for (g, r) in receivers.into_iter().enumerate() {
        let s = r.await.map_err(|e| e.to_string())?;
        if p.latency_file.is_some() {
            let tenant = g % tenant_count;
            for (sent, lat) in s.sent_us.iter().zip(&s.latency_us) {
                series.push_str(&format!("{sent} {lat} {tenant}\n"));
            }
        }
        if let Some(e) = &s.error {
            connect_errors += 1;
            if connect_errors <= 5 {
                eprintln!("loadgen: receiver: {e}");
            }
        }
        late += u64::from(s.late);
        early += u64::from(s.closed_early);
        dups += s.duplicates;
        o.delivered += s.delivered;
        o.frame_bytes += s.frame_bytes;
        o.other_frames += s.other_frames;
        if s.delivered > 0 {
            o.first_us = o.first_us.min(s.first_us);
            o.last_us = o.last_us.max(s.last_us);
        }
        if s.connected {
            connect.push(s.connect_us);
        }
        lat.extend(s.latency_us);
    }
    if let Some(f) = &p.latency_file {
        std::fs::write(f, series).map_err(|e| format!("{f}: {e}"))?;
    }
    let d = driven?;
    o.first_us = if o.first_us == u64::MAX { 0 } else { o.first_us };
    (o.expected, o.sent) = (d.expected, d.sent);
    let mut ack = d.ack_us;
    o.trends.insert("delivery_ms".into(), trend_ms(&mut lat));
    o.trends.insert("inject_ack_ms".into(), trend_ms(&mut ack));
    o.trends.insert("connect_ms".into(), trend_ms(&mut connect));
    o.errors = json!({ "connect_errors": connect_errors, "late_connects": late, "closed_early": early,
        "inject_errors": d.errors, "duplicate_deliveries": dups });
    Ok(o)
}

async fn visitors_run(p: &Arc<Params>, tenants: &[setup::Tenant], tl: Timeline) -> Outcome {
    let mut tasks = Vec::with_capacity(p.sockets);
    for v in 0..p.sockets {
        let (p, tenant) = (p.clone(), tenants[v % tenants.len()].clone());
        tasks.push(tokio::spawn(visitors::visitor(p, v, tenant, tl)));
    }
    let mut o = Outcome::new("ack_ms");
    let (mut lat, mut errors) = (Vec::new(), 0u64);
    for t in tasks {
        let s = t.await.unwrap_or_default();
        o.delivered += s.acked;
        o.sent += s.sent;
        errors += s.errors;
        if s.acked > 0 {
            o.first_us = o.first_us.min(s.first_us);
            o.last_us = o.last_us.max(s.last_us);
        }
        lat.extend(s.ack_us);
    }
    o.first_us = if o.first_us == u64::MAX { 0 } else { o.first_us };
    o.expected = p.rate * p.duration * p.sockets as u64;
    o.trends.insert("ack_ms".into(), trend_ms(&mut lat));
    o.errors = json!({ "visitor_errors": errors });
    o
}

async fn me_run(p: &Arc<Params>, tenants: &[setup::Tenant], tl: Timeline) -> Outcome {
    let mut s = http_me::run(p.clone(), tenants, tl).await;
    let mut o = Outcome::new("me_ms");
    (o.delivered, o.sent, o.expected) = (s.ok, s.sent, p.rate * p.duration);
    (o.first_us, o.last_us) = (s.first_us, s.last_us);
    o.trends.insert("me_ms".into(), trend_ms(&mut s.latency_us));
    o.errors = json!({ "me_errors": s.errors });
    o
}
