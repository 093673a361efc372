//! Percentiles and the JSON summary `loadtest/run` turns into a results row (the k6 summary's fields,
//! plus the generator's own reading of the server's CPU and memory).

use serde_json::{json, Value};

/// p50/p95/p99/avg/max/count in milliseconds of latencies in µs (sorts them).
pub fn trend_ms(us: &mut [u32]) -> Value {
    if us.is_empty() {
        return json!({ "p50": null, "p95": null, "p99": null, "avg": null, "max": null, "count": 0 });
    }
    us.sort_unstable();
    let at = |q: f64| f64::from(us[((us.len() - 1) as f64 * q).round() as usize]) / 1000.0;
    let avg = us.iter().map(|&x| f64::from(x)).sum::<f64>() / us.len() as f64 / 1000.0;
    json!({
        "p50": round3(at(0.50)), "p95": round3(at(0.95)), "p99": round3(at(0.99)),
        "avg": round3(avg), "max": round3(at(1.0)), "count": us.len(),
    })
}

/// Rounds to 3 decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The server as the generator saw it: CPU over the measurement window, memory before and after connecting.
#[derive(Debug, Default)]
pub struct ServerReading {
    /// CPU seconds from injection start to the last receiver finishing.
    pub cpu_seconds: Option<f64>,
    /// Length of that span, s.
    pub span_s: f64,
    /// RSS before any socket connected, KiB.
    pub rss_baseline_kib: Option<u64>,
    /// RSS with every socket connected (at injection start), KiB.
    pub rss_connected_kib: Option<u64>,
    /// Highest RSS seen (sampled every 250 ms), KiB.
    pub rss_peak_kib: u64,
}

impl ServerReading {
    /// The `server` object of the summary.
    /// `other` frames were written beside the `delivered` ones (see `SocketStats::other_frames`).
    pub fn to_json(&self, delivered: u64, other: u64, sockets: usize) -> Value {
        let per_socket = match (self.rss_baseline_kib, self.rss_connected_kib) {
            (Some(base), Some(conn)) if sockets > 0 => Some(round3((conn as f64 - base as f64) / sockets as f64)),
            _ => None,
        };
        let per_cpu_second = |n: u64| self.cpu_seconds.filter(|c| *c > 0.0).map(|c| (n as f64 / c).round());
        json!({
            "cpu_seconds": self.cpu_seconds.map(round3),
            "span_s": round3(self.span_s),
            "cpu_utilisation": self.cpu_seconds.filter(|_| self.span_s > 0.0).map(|c| round3(c / self.span_s)),
            "delivered_per_cpu_second": per_cpu_second(delivered),
            "frames_per_cpu_second": per_cpu_second(delivered + other),
            "rss_baseline_kib": self.rss_baseline_kib,
            "rss_connected_kib": self.rss_connected_kib,
            "rss_peak_kib": self.rss_peak_kib,
            "rss_per_socket_kib": per_socket,
        })
    }
}
