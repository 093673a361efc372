//! Time counted in business hours: how much of a wait fell while the team was open, so a first
//! response to a message left overnight is not blamed for the night.

use super::business_hours::minutes;
use super::BusinessHours;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A wait longer than this (in local days) is counted up to its last this many days: the loop stays
/// bounded whatever the data.
const MAX_DAYS: i64 = 3_660;

impl BusinessHours {
    /// Milliseconds of `[from, to)` (epoch ms) during which the team was open, by the same rules as
    /// [`BusinessHours::is_open`]: all of it when disabled, none of a holiday. A negative span is 0.
    pub fn open_millis_between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let (Ok(zone), Some(start), Some(end)) =
            (self.zone(), DateTime::from_timestamp_millis(from), DateTime::from_timestamp_millis(to))
        else {
            return to - from;
        };
        if !self.enabled {
            return to - from;
        }
        let last = end.with_timezone(&zone).date_naive();
        let mut day = start.with_timezone(&zone).date_naive().max(last - Duration::days(MAX_DAYS));
        let mut open = 0;
        while day <= last {
            if !self.holidays.contains(&day.format("%Y-%m-%d").to_string()) {
                for (opens, closes) in self.open_spans(day) {
                    let (a, b) = (local_millis(zone, day, opens), local_millis(zone, day, closes));
                    open += (b.min(to) - a.max(from)).max(0);
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        open
    }

    /// The open minutes of local date `day`, merged and in order: its own intervals (an overnight one
    /// to midnight, `open == close` all day) and the overnight tails of the day before.
    fn open_spans(&self, day: NaiveDate) -> Vec<(u32, u32)> {
        let parse = |i: &super::business_hours::Interval| Some((minutes(&i.open).ok()?, minutes(&i.close).ok()?));
        let today =
            self.weekly.of(day.weekday()).iter().filter_map(parse).map(|(open, close)| match open.cmp(&close) {
                std::cmp::Ordering::Less => (open, close),
                std::cmp::Ordering::Equal => (0, 24 * 60),
                std::cmp::Ordering::Greater => (open, 24 * 60),
            });
        let tails =
            self.weekly.of(day.weekday().pred()).iter().filter_map(parse).filter(|(o, c)| c < o).map(|(_, c)| (0, c));
        let mut spans: Vec<(u32, u32)> = today.chain(tails).collect();
        spans.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(spans.len());
        for (open, close) in spans {
            match merged.last_mut() {
                Some(last) if open <= last.1 => last.1 = last.1.max(close),
                _ => merged.push((open, close)),
            }
        }
        merged
    }
}

/// Epoch milliseconds of `minute` after local midnight of `day` (1440 is the next midnight). A local
/// time skipped by a DST change counts from the hour after it.
fn local_millis(zone: Tz, day: NaiveDate, minute: u32) -> i64 {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    let local = midnight + Duration::minutes(i64::from(minute));
    zone.from_local_datetime(&local)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(local + Duration::hours(1))).earliest())
        .map_or_else(|| Utc.from_utc_datetime(&local).timestamp_millis(), |t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::super::BusinessHours;
    use chrono::{TimeZone, Utc};

    const MINUTE: i64 = 60_000;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().map_or(0, |t| t.timestamp_millis())
    }

    fn hours(raw: serde_json::Value) -> BusinessHours {
        BusinessHours::parse(raw).unwrap_or_default()
    }

    #[test]
    fn only_open_time_counts() {
        // Mondays 09–12 and 13–18 in Paris (UTC+1 in winter), 7 December 2026 a holiday.
        let paris = hours(serde_json::json!({
            "enabled": true, "timezone": "Europe/Paris",
            "weekly": { "mon": [{ "open": "09:00", "close": "12:00" }, { "open": "13:00", "close": "18:00" }] },
            "holidays": ["2026-12-07"]
        }));
        // Monday 30 Nov, 08:00 → 09:30 local: the half hour after opening.
        assert_eq!(paris.open_millis_between(at(2026, 11, 30, 7, 0), at(2026, 11, 30, 8, 30)), 30 * MINUTE);
        // 11:50 → 13:10 local: ten minutes before lunch and ten after.
        assert_eq!(paris.open_millis_between(at(2026, 11, 30, 10, 50), at(2026, 11, 30, 12, 10)), 20 * MINUTE);
        // Monday 17:00 → the Monday after the holiday Monday, 09:01: one hour, nothing on the 7th, one minute.
        assert_eq!(paris.open_millis_between(at(2026, 11, 30, 16, 0), at(2026, 12, 14, 8, 1)), 61 * MINUTE);
        // Entirely on a closed Tuesday.
        assert_eq!(paris.open_millis_between(at(2026, 12, 1, 8, 0), at(2026, 12, 1, 12, 0)), 0);
        assert_eq!(paris.open_millis_between(at(2026, 12, 1, 12, 0), at(2026, 12, 1, 8, 0)), 0, "backwards");
    }

    #[test]
    fn overnight_intervals_and_disabled_schedules() {
        let night = hours(serde_json::json!({
            "enabled": true, "timezone": "UTC", "weekly": { "fri": [{ "open": "22:00", "close": "02:00" }] }
        }));
        // Friday 4 Dec 2026 21:00 → Saturday 03:00: open 22:00–02:00.
        assert_eq!(night.open_millis_between(at(2026, 12, 4, 21, 0), at(2026, 12, 5, 3, 0)), 240 * MINUTE);
        let off = BusinessHours::default();
        assert_eq!(off.open_millis_between(at(2026, 12, 4, 21, 0), at(2026, 12, 5, 3, 0)), 360 * MINUTE);
    }
}
