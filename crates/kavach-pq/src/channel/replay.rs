//! Replay protection for signed channel messages: every nonce seen inside a bounded time
//! window is remembered; messages older than the window (or too far in the future) are refused
//! outright, so forgetting a nonce once it leaves the window is safe. Memory is bounded by the
//! window and by a hard cap on tracked nonces (when full, new messages are refused rather than
//! old nonces forgotten early).

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
        }
    }

    /// Number of nonces currently remembered.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    fn evict(&mut self, now: DateTime<Utc>) {
        let horizon = nanos(&(now - self.window));
        while let Some(first) = self.by_time.first() {
            if first.0 >= horizon {
                break;
            }
            if let Some((_, nonce)) = self.by_time.pop_first() {
                self.seen.remove(&nonce);
            }
        }
    }

    /// Refuse out-of-window times and seen nonces without recording anything.
    pub fn check(
        &mut self,
        nonce: &str,
        signed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.evict(now);
        if signed_at < now - self.window {
            return Err(PqError::Replay(format!(
                "message signed at {} is older than the replay window of {} s",
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
                "nonce '{nonce}' was already received (replay)"
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
