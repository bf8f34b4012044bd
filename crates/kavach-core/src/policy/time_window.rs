//! `time_window`: `"HH:MM-HH:MM"` optionally followed by one IANA zone
//! (`"09:00-18:00 Asia/Kolkata"`). The start is inclusive, the end exclusive; a start later
//! than the end wraps over midnight (`22:00-06:00`). Without a zone the window is in UTC. The
//! range and the zone are separated by one or more spaces (`'09:00-18:00  UTC'` is UTC).

use chrono::{TimeZone, Timelike, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    /// Minutes after midnight.
    start: u16,
    end: u16,
    zone: Option<Tz>,
}

impl TimeWindow {
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = super::identifier::excerpt(text);
        let mut parts = text.split(' ').filter(|p| !p.is_empty());
        let range = parts.next().unwrap_or("");
        let zone = parts.next();
        if parts.next().is_some() {
            return Err(format!(
                "invalid time window '{shown}': expected 'HH:MM-HH:MM' and at most one time zone"
            ));
        }
        let (start, end) = range
            .split_once('-')
            .and_then(|(a, b)| Some((clock_minutes(a)?, clock_minutes(b)?)))
            .ok_or_else(|| {
                format!("invalid time window '{shown}': expected 'HH:MM-HH:MM' (24-hour clock)")
            })?;
        if start == end {
            return Err(format!(
                "invalid time window '{shown}': start and end are equal (empty or whole day is ambiguous)"
            ));
        }
        let zone = zone
            .map(|z| {
                z.parse::<Tz>().map_err(|_| {
                    format!(
                        "invalid time window '{shown}': unknown IANA time zone '{}'",
                        super::identifier::excerpt(z)
                    )
                })
            })
            .transpose()?;
        Ok(Self { start, end, zone })
    }

    /// True when `now_ms` (unix milliseconds) falls inside the window in its zone.
    pub fn contains(&self, now_ms: i64) -> bool {
        let Some(utc) = Utc.timestamp_millis_opt(now_ms).single() else {
            return false;
        };
        let (h, m) = match self.zone {
            Some(tz) => {
                let local = utc.with_timezone(&tz);
                (local.hour(), local.minute())
            }
            None => (utc.hour(), utc.minute()),
        };
        // hour < 24 and minute < 60, so this fits u16.
        let now = u16::try_from(h * 60 + m).unwrap_or(u16::MAX);
        if self.start < self.end {
            self.start <= now && now < self.end
        } else {
            now >= self.start || now < self.end
        }
    }
}

impl TimeWindow {
    /// The local clock at `now_ms` against the window, for explanations:
    /// `time 22:14 outside 09:00-18:00 Asia/Kolkata`. Judged by `contains`, so the words
    /// always agree with the verdict.
    pub fn describe_at(&self, now_ms: i64) -> String {
        let local = Utc
            .timestamp_millis_opt(now_ms)
            .single()
            .map(|utc| match self.zone {
                Some(tz) => {
                    let t = utc.with_timezone(&tz);
                    (t.hour(), t.minute())
                }
                None => (utc.hour(), utc.minute()),
            });
        let clock = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let zone = self.zone.map_or("UTC".to_owned(), |z| z.name().to_owned());
        let now = local.map_or("(no valid time)".to_owned(), |(h, m)| {
            format!("{h:02}:{m:02}")
        });
        let side = if self.contains(now_ms) {
            "inside"
        } else {
            "outside"
        };
        format!(
            "time {now} {side} {}-{} {zone}",
            clock(self.start),
            clock(self.end)
        )
    }
}

/// `HH:MM` with exactly two digits each, 00:00 to 23:59.
fn clock_minutes(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
    let m = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Every zone name a time window accepts (case-exact, links included): chrono-tz's IANA
/// release. The TS schema's copy (src/generated/time-zones.ts) is rendered from this.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::TimeWindow;

    /// 2026-01-15T00:00:00Z in ms.
    const DAY: i64 = 1_768_435_200_000;
    fn at(h: i64, m: i64) -> i64 {
        DAY + (h * 60 + m) * 60_000
    }

    #[test]
    fn daytime_bounds() {
        let w = TimeWindow::parse("09:00-18:00").unwrap();
        assert!(!w.contains(at(8, 59)));
        assert!(w.contains(at(9, 0)));
        assert!(w.contains(at(17, 59)));
        assert!(!w.contains(at(18, 0)));
    }

    #[test]
    fn overnight_wraps() {
        let w = TimeWindow::parse("22:00-06:00").unwrap();
        assert!(w.contains(at(22, 0)));
        assert!(w.contains(at(23, 59)));
        assert!(w.contains(at(0, 0)));
        assert!(w.contains(at(5, 59)));
        assert!(!w.contains(at(6, 0)));
        assert!(!w.contains(at(12, 0)));
        assert!(!w.contains(at(21, 59)));
    }

    #[test]
    fn zoned() {
        // Kolkata is UTC+05:30: 09:00 IST = 03:30 UTC, 18:00 IST = 12:30 UTC.
        let w = TimeWindow::parse("09:00-18:00 Asia/Kolkata").unwrap();
        assert!(!w.contains(at(3, 29)));
        assert!(w.contains(at(3, 30)));
        assert!(w.contains(at(12, 29)));
        assert!(!w.contains(at(12, 30)));
        // Overnight in a zone: 22:00-06:00 New York (UTC-5 in January) = 03:00-11:00 UTC.
        let w = TimeWindow::parse("22:00-06:00 America/New_York").unwrap();
        assert!(w.contains(at(3, 0)));
        assert!(w.contains(at(10, 59)));
        assert!(!w.contains(at(11, 0)));
        assert!(!w.contains(at(2, 59)));
        assert!(TimeWindow::parse("00:00-23:59 UTC")
            .unwrap()
            .contains(at(0, 0)));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "9:00-18:00",
            "09:00",
            "09:00-24:00",
            "09:60-10:00",
            "09:00-18:00 Mars/Base",
            "09:00-18:00 UTC extra",
            "09:00-09:00",
            "0900-1800",
            "09:00 - 18:00",
            "a9:00-18:00",
        ] {
            let err = TimeWindow::parse(bad).unwrap_err();
            assert!(err.contains("invalid time window"), "{bad}: {err}");
        }
    }
}
