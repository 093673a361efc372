//! Probe texts `lt|<tenant>|<n>|<sent µs since the run's epoch>|<padding>`: any receiver finds its
//! latency and duplicates in them without parsing the frame's JSON.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The clock's zero, Unix µs: the first reading, or what [`set_epoch_ms`] set.
static EPOCH: OnceLock<u64> = OnceLock::new();

fn unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Microseconds since the clock's zero. The wall clock, so that several generator processes on one box
/// that share a zero ([`set_epoch_ms`]) read each other's probes' send times.
pub fn now_us() -> u64 {
    unix_us().saturating_sub(*EPOCH.get_or_init(unix_us))
}

/// Sets the clock's zero to Unix time `ms`; before the first [`now_us`], or it is ignored.
pub fn set_epoch_ms(ms: u64) {
    let _ = EPOCH.set(ms * 1000);
}

/// The probe text for message `n` of `tenant`.
pub fn text(tenant: usize, n: u64, pad: &str) -> String {
    format!("lt|{tenant}|{n}|{}|{pad}", now_us())
}

/// A probe found in a frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Probe {
    /// The tenant it was sent to.
    pub tenant: usize,
    /// Its number within the tenant.
    pub n: u64,
    /// When it was sent ([`now_us`]).
    pub sent_us: u64,
}

/// Finds the probe in a `message:new` frame (`"text":"lt|…`); `None` for any other frame.
pub fn find(frame: &str) -> Option<Probe> {
    let at = frame.find("\"text\":\"lt|")? + "\"text\":\"lt|".len();
    let mut parts = frame[at..].splitn(4, '|');
    let tenant = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let sent_us = parts.next()?.parse().ok()?;
    Some(Probe { tenant, n, sent_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_probe_in_either_frame_shape() {
        let sio = r#"42["message:new",{"channel":"widget","message":{"seq":2,"text":"lt|3|17|123456|xx"}}]"#;
        assert_eq!(find(sio), Some(Probe { tenant: 3, n: 17, sent_us: 123456 }));
        let ws = r#"{"data":{"message":{"text":"lt|0|1|9|"}},"event":"message:new"}"#;
        assert_eq!(find(ws), Some(Probe { tenant: 0, n: 1, sent_us: 9 }));
        assert_eq!(find(r#"42["message:new",{"text":"hello"}]"#), None);
    }
}
