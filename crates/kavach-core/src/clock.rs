//! Time source for the gate. Injected so tests can move time without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync {
    /// Milliseconds since the unix epoch.
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_ms()
    }
}

/// The system clock in milliseconds since the epoch, read without a calendar conversion (every
/// evaluation reads it; `chrono::Utc::now()` would compute a date only to undo it). A clock
/// set before 1970 reads as negative, as chrono's does.
fn system_ms() -> i64 {
    let since = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => since(d),
        Err(before) => -since(before.duration()),
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(start_ms)))
    }
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A clock offset from the system clock (simulates a replica whose clock is skewed).
#[derive(Debug, Default)]
pub struct OffsetClock(pub i64);

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        system_ms() + self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{Clock, SystemClock};

    #[test]
    fn system_clock_reads_the_same_time_as_a_calendar_clock() {
        let before = chrono::Utc::now().timestamp_millis();
        let ours = SystemClock.now_ms();
        let after = chrono::Utc::now().timestamp_millis();
        assert!(
            before <= ours && ours <= after,
            "{before} <= {ours} <= {after}"
        );
    }
}
