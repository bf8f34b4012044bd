//! Replay protection for signed channel messages: every nonce seen inside a bounded time
//! window is remembered; messages older than the window (or too far in the future) are refused
//! outright, so forgetting a nonce once it leaves the window is safe. Memory is bounded by the
//! window and by a hard cap on tracked nonces (when full, new messages are refused rather than
//! old nonces forgotten early).
//!
//! The window's old edge is measured from the latest time the guard has read, not from the
//! current reading: wall clocks step back (NTP corrections, VM snapshots restored). Were the
//! edge taken from the current reading, a nonce forgotten at a later reading would be inside
//! the window again after the step, and its message accepted twice. With the latest reading,
//! the edge only moves forward, so a forgotten nonce's message stays refused as too old.
//! The future bound is measured from the current reading (a step back refuses more, never
//! less).

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::error::{PqError, Result};

/// Nonces seen within the window.
#[derive(Debug)]
pub struct ReplayGuard {
    window: Duration,
    max_future_skew: Duration,
    max_tracked: usize,
    seen: HashSet<String>,
    /// (signed_at in ns, nonce), ordered for eviction.
    by_time: BTreeSet<(i64, String)>,
    /// Latest `now` passed to [`Self::check`]: the window's old edge is measured from it.
    latest: Option<DateTime<Utc>>,
}

fn nanos(t: &DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl ReplayGuard {
    /// A guard accepting messages signed in `[now - window, now + max_future_skew]`.
    pub fn new(window: Duration, max_future_skew: Duration, max_tracked: usize) -> Self {
        Self {
            window,
            max_future_skew,
            max_tracked,
            seen: HashSet::new(),
            by_time: BTreeSet::new(),
            latest: None,
        }
    }

    /// Number of nonces currently remembered.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    /// Forget nonces signed before `oldest` (older than the window at the latest reading).
    fn evict(&mut self, oldest: DateTime<Utc>) {
        let horizon = nanos(&oldest);
        while let Some(first) = self.by_time.first() {
            if first.0 >= horizon {
                break;
            }
            if let Some((_, nonce)) = self.by_time.pop_first() {
                self.seen.remove(&nonce);
            }
        }
    }

    /// Refuse out-of-window times and seen nonces without recording anything. The old edge
    /// of the window is `window` before the latest `now` this guard has been given.
    pub fn check(
        &mut self,
        nonce: &str,
        signed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let latest = self.latest.map_or(now, |l| l.max(now));
        self.latest = Some(latest);
        let oldest = latest - self.window;
        self.evict(oldest);
        if signed_at < oldest {
            let step = if latest > now {
                format!(
                    " (measured from the latest time this receiver has read, {}; its clock is \
                     now earlier)",
                    crate::json_bytes::format_rfc3339_z(&latest)
                )
            } else {
                String::new()
            };
            return Err(PqError::Replay(format!(
                "message signed at {} is older than the replay window of {} s{step}",
                crate::json_bytes::format_rfc3339_z(&signed_at),
                self.window.num_seconds()
            )));
        }
        if signed_at > now + self.max_future_skew {
            return Err(PqError::Replay(format!(
                "message signed at {} is more than {} s in the future",
                crate::json_bytes::format_rfc3339_z(&signed_at),
                self.max_future_skew.num_seconds()
            )));
        }
        if self.seen.contains(nonce) {
            return Err(PqError::Replay(format!(
                "nonce '{}' was already received (replay)",
                crate::excerpt::excerpt(nonce)
            )));
        }
        if self.seen.len() >= self.max_tracked {
            return Err(PqError::Replay(format!(
                "replay cache is full ({} nonces within the window); message refused",
                self.max_tracked
            )));
        }
        Ok(())
    }

    /// Record an accepted message's nonce (after every other check passed).
    pub fn record(&mut self, nonce: &str, signed_at: DateTime<Utc>) {
        if self.seen.insert(nonce.to_string()) {
            self.by_time.insert((nanos(&signed_at), nonce.to_string()));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_recorded_nonce_is_refused_at_every_later_reading_whatever_the_clock_does() {
        // Readings that jump forward past the window and back again, in every order.
        let readings = [0, 5, 299, 301, 10, 1_000, 3, 700, 0, 5_000, 4_999, 2];
        let mut g = ReplayGuard::new(Duration::seconds(300), Duration::seconds(30), 16);
        g.check("n", at(0), at(0)).unwrap();
        g.record("n", at(0));
        for r in readings {
            assert_eq!(
                g.check("n", at(0), at(r)).unwrap_err().code(),
                "REPLAY",
                "at {r}"
            );
        }
        // Memory stays bounded: the nonce is gone once the latest reading passed the window.
        assert_eq!(g.tracked(), 0);
    }
}
