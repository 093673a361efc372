//! A license's business hours: a weekly schedule in a time zone, with holidays. Outside them the widget
//! shows the offline message and the server answers a visitor once a day with the auto-reply.

use super::ParseError;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Longest offline message or auto-reply.
const MAX_TEXT_CHARS: usize = 1000;
/// Most holidays a schedule lists.
const MAX_HOLIDAYS: usize = 366;
/// Most intervals a weekday has.
const MAX_INTERVALS: usize = 8;

/// Business hours as stored and shown (validated by [`BusinessHours::parse`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Off: always open.
    pub enabled: bool,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub timezone: String,
    /// Open intervals per weekday (`mon` … `sun`), local time `HH:MM`; a day left out is closed.
    pub weekly: Weekly,
    /// Closed all day, local dates `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// What the widget shows while closed.
    #[serde(default)]
    pub offline_message: String,
    /// Sent to a visitor who writes while closed, at most once per conversation per day; empty: none.
    #[serde(default)]
    pub auto_reply: String,
}

/// The open intervals of each weekday.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weekly {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<Interval>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<Interval>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<Interval>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<Interval>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<Interval>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<Interval>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<Interval>,
}

/// `[open, close)` in local time, `HH:MM`; `close` may be `24:00`. A `close` before `open` runs past
/// midnight into the next day; `close` equal to `open` is the whole day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// Opening time.
    pub open: String,
    /// Closing time, after `open`.
    pub close: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            enabled: false,
            timezone: "UTC".into(),
            weekly: Weekly::default(),
            holidays: Vec::new(),
            offline_message: String::new(),
            auto_reply: String::new(),
        }
    }
}

/// Minutes after local midnight of `HH:MM` (`24:00` is 1440).
pub(super) fn minutes(raw: &str) -> Result<u32, ParseError> {
    let bad = || ParseError(format!("'{raw}' is not a time (HH:MM, 00:00 to 24:00)"));
    if raw == "24:00" {
        return Ok(24 * 60);
    }
    let (h, m) = raw.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let time =
        NaiveTime::from_hms_opt(h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, 0).ok_or_else(bad)?;
    Ok(time.signed_duration_since(NaiveTime::MIN).num_minutes().unsigned_abs() as u32)
}

impl Weekly {
    fn days(&self) -> [(&'static str, &Vec<Interval>); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }

    pub(super) fn of(&self, day: Weekday) -> &[Interval] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }
}

impl BusinessHours {
    /// Checks everything: a known time zone, well-formed non-overlapping intervals, dates, text sizes.
    pub fn parse(raw: serde_json::Value) -> Result<Self, ParseError> {
        let hours: Self =
            serde_json::from_value(raw).map_err(|e| ParseError(format!("invalid business hours: {e}")))?;
        hours.zone()?;
        for (day, intervals) in hours.weekly.days() {
            if intervals.len() > MAX_INTERVALS {
                return Err(ParseError(format!("{day}: at most {MAX_INTERVALS} intervals")));
            }
            for interval in intervals {
                minutes(&interval.open)?;
                minutes(&interval.close)?;
            }
        }
        if hours.holidays.len() > MAX_HOLIDAYS {
            return Err(ParseError(format!("at most {MAX_HOLIDAYS} holidays")));
        }
        for day in &hours.holidays {
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| ParseError(format!("holiday '{day}' is not a date (YYYY-MM-DD)")))?;
        }
        for (name, text) in [("offline_message", &hours.offline_message), ("auto_reply", &hours.auto_reply)] {
            if text.chars().count() > MAX_TEXT_CHARS || text.contains('\0') {
                return Err(ParseError(format!("{name} is limited to {MAX_TEXT_CHARS} characters")));
            }
        }
        Ok(hours)
    }

    pub(super) fn zone(&self) -> Result<Tz, ParseError> {
        self.timezone.parse().map_err(|_| ParseError(format!("unknown time zone '{}'", self.timezone)))
    }

    /// Whether the team is open at `now`: always when disabled; never on a holiday; else within an
    /// interval of the local weekday.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        if !self.enabled {
            return true;
        }
        let Ok(zone) = self.zone() else { return true };
        let local = now.with_timezone(&zone);
        if self.holidays.contains(&local.format("%Y-%m-%d").to_string()) {
            return false;
        }
        let minute = local.time().signed_duration_since(NaiveTime::MIN).num_minutes().unsigned_abs() as u32;
        let spans = |day: Weekday| {
            self.weekly.of(day).iter().filter_map(|i| Some((minutes(&i.open).ok()?, minutes(&i.close).ok()?)))
        };
        // Today's intervals (an overnight one runs to midnight), and yesterday's overnight tails.
        let today = spans(local.weekday()).any(|(open, close)| match open.cmp(&close) {
            std::cmp::Ordering::Less => open <= minute && minute < close,
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Greater => minute >= open,
        });
        today || spans(local.weekday().pred()).any(|(open, close)| close < open && minute < close)
    }

    /// The local date at `now` (`YYYY-MM-DD`): auto-replies go out once per conversation per local day.
    pub fn local_day(&self, now: DateTime<Utc>) -> String {
        match self.zone() {
            Ok(zone) => now.with_timezone(&zone).format("%Y-%m-%d").to_string(),
            Err(_) => now.format("%Y-%m-%d").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn paris_weekdays() -> BusinessHours {
        BusinessHours::parse(serde_json::json!({
            "enabled": true,
            "timezone": "Europe/Paris",
            "weekly": { "mon": [{ "open": "09:00", "close": "12:00" }, { "open": "13:00", "close": "18:00" }] },
            "holidays": ["2026-12-07"]
        }))
        .unwrap_or_default()
    }

    #[test]
    fn open_follows_the_local_schedule_and_holidays() {
        let hours = paris_weekdays();
        assert!(hours.enabled);
        // Monday 30 Nov 2026, 09:30 in Paris is 08:30 UTC.
        assert!(hours.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 8, 30, 0).unwrap()));
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 7, 59, 0).unwrap()), "08:59 local");
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 11, 30, 0).unwrap()), "lunch");
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 12, 1, 8, 30, 0).unwrap()), "Tuesday is closed");
        assert!(!hours.is_open(Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 0).unwrap()), "a holiday");
        assert!(BusinessHours::default().is_open(Utc::now()), "disabled: always open");
    }

    #[test]
    fn intervals_may_run_past_midnight() {
        let night = BusinessHours::parse(serde_json::json!({
            "enabled": true, "timezone": "UTC", "weekly": { "fri": [{ "open": "22:00", "close": "02:00" }] }
        }))
        .unwrap_or_default();
        // Friday 4 Dec 2026.
        assert!(night.is_open(Utc.with_ymd_and_hms(2026, 12, 4, 23, 0, 0).unwrap()));
        assert!(night.is_open(Utc.with_ymd_and_hms(2026, 12, 5, 1, 59, 0).unwrap()), "Saturday 01:59");
        assert!(!night.is_open(Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap()));
        assert!(!night.is_open(Utc.with_ymd_and_hms(2026, 12, 4, 21, 59, 0).unwrap()));
    }

    #[test]
    fn malformed_schedules_say_what_is_wrong() {
        let bad = |v: serde_json::Value| BusinessHours::parse(v).err().map(|e| e.0).unwrap_or_default();
        let base =
            |weekly: serde_json::Value| serde_json::json!({ "enabled": true, "timezone": "UTC", "weekly": weekly });
        assert!(
            bad(serde_json::json!({ "enabled": true, "timezone": "Mars/Olympus", "weekly": {} })).contains("time zone")
        );
        assert!(bad(base(serde_json::json!({ "mon": [{ "open": "9:00", "close": "10:00" }] }))).contains("HH:MM"));
        assert!(bad(base(serde_json::json!({ "mon": [{ "open": "25:00", "close": "10:00" }] }))).contains("HH:MM"));
        assert!(bad(base(serde_json::json!({ "funday": [] }))).contains("unknown field"));
    }
}
