//! Test-only fault injection (cargo feature `test-faults`, never in release builds): arms one
//! failure of a kind so a test can prove each evaluation still settles exactly once
//! (`completion.rs`). __test__/settle-once.test.ts builds a debug addon with the feature.
//! `entry` makes the next synchronous entry point that calls [`panic_if_armed`] panic, so a
//! test can prove every napi entry point turns a panic into an `INTERNAL` error instead of
//! aborting the process (__test__/no-abort.test.ts).
//! Without the feature, [`take`] is a constant `false` and nothing is exported.

/// The failures a test can arm.
#[derive(Clone, Copy)]
pub enum Fault {
    /// The next submitted evaluation's future panics.
    Panic,
    /// The next flushed evaluation's future is dropped without being run.
    Drop,
    /// The next completion batch fails to build.
    Batch,
    /// The next entry point calling [`panic_if_armed`] panics.
    Entry,
}

#[cfg(feature = "test-faults")]
mod armed {
    use std::sync::atomic::{AtomicU32, Ordering};

    use napi_derive::napi;

    use super::Fault;
    use crate::error::{invalid_argument, Result};

    static ARMED: AtomicU32 = AtomicU32::new(0);

    fn bit(f: Fault) -> u32 {
        match f {
            Fault::Panic => 1,
            Fault::Drop => 2,
            Fault::Batch => 4,
            Fault::Entry => 8,
        }
    }

    pub fn take(f: Fault) -> bool {
        ARMED.fetch_and(!bit(f), Ordering::AcqRel) & bit(f) != 0
    }

    /// Arms one fault: `panic`, `drop`, `batch` or `entry`.
    #[napi(catch_unwind)]
    pub fn test_arm_fault(kind: String) -> Result<()> {
        let f = match kind.as_str() {
            "panic" => Fault::Panic,
            "drop" => Fault::Drop,
            "batch" => Fault::Batch,
            "entry" => Fault::Entry,
            _ => return Err(invalid_argument(format!("unknown fault '{kind}'"))),
        };
        ARMED.fetch_or(bit(f), Ordering::AcqRel);
        Ok(())
    }
}

/// Whether `f` was armed (and disarms it).
#[cfg(feature = "test-faults")]
pub fn take(f: Fault) -> bool {
    armed::take(f)
}

#[cfg(not(feature = "test-faults"))]
pub fn take(_f: Fault) -> bool {
    false
}

/// Panics when `entry` was armed (test builds only): a stand-in for a bug in an entry point.
#[allow(clippy::panic, reason = "the test-only switch exists to panic")]
pub fn panic_if_armed() {
    if take(Fault::Entry) {
        panic!("test fault: forced panic");
    }
}
