//! A process's CPU time and resident memory from /proc, and the box's load average.

/// utime + stime of `pid` in seconds (`None` when it is gone).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

/// The highest RSS of `pid` (KiB), sampled every `every` from now on (0 when there is no pid).
pub fn peak_rss(pid: Option<u32>, every: std::time::Duration) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    use std::sync::atomic::Ordering;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if let Some(pid) = pid {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid).unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(every).await;
            }
        });
    }
    peak
}

/// This process's own CPU seconds.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Linux reports /proc times in USER_HZ, fixed at 100 on every architecture it runs on here.
fn ticks_per_second() -> f64 {
    100.0
}
