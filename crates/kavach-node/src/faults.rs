//! Test-only fault injection (cargo feature `test-faults`, never in release builds): arms one
//! failure of a kind so a test can prove each evaluation still settles exactly once
//! (`completion.rs`). __test__/settle-once.test.ts builds a debug addon with the feature.
//! `entry` makes the next synchronous entry point that calls [`panic_if_armed`] panic, so a
//! test can prove every napi entry point turns a panic into an `INTERNAL` error instead of
//! aborting the process (__test__/no-abort.test.ts).
//! [`forced`] swaps the next evaluation's decision for one a test chose (`testForceVerdict`),
//! so every refuse code, evaluator and scope kind can go through every verdict encoding and
//! the TS decoders, including those no real input produces on a given route
//! (__test__/verdict-encodings.test.ts).
//! Without the feature, [`take`] is a constant `false`, [`forced`] returns its argument, and
//! nothing is exported.

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
#[cfg_attr(test, allow(dead_code))] // the napi registrations are not compiled into unit tests
mod armed {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use kavach_core::verdict::{InvalidationScope, Refusal, RefuseCode};
    use kavach_core::{Decision, Verdict};
    use napi_derive::napi;

    use super::Fault;
    use crate::context::scope_target;
    use crate::error::{invalid_argument, Result};

    static ARMED: AtomicU32 = AtomicU32::new(0);
    /// The decision the next evaluation returns, and whether it also becomes the observed twin.
    static FORCED: Mutex<Option<(Decision, bool)>> = Mutex::new(None);

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

    /// A decision for `testForceVerdict`.
    #[napi(object, object_to_js = false)]
    pub struct ForcedVerdict {
        /// `refuse` (with `code`) or `invalidate` (with `targetKind`, `targetId`).
        pub kind: String,
        pub code: Option<String>,
        pub evaluator: String,
        pub reason: String,
        pub target_kind: Option<String>,
        pub target_id: Option<String>,
        /// Also the observed twin, as on an observe-only gate: the raw encodings carry it.
        pub observed: Option<bool>,
    }

    /// The next evaluation (any entry point) returns this decision, with its own evaluation id.
    #[napi(catch_unwind)]
    pub fn test_force_verdict(v: ForcedVerdict) -> Result<()> {
        let decision = match v.kind.as_str() {
            "refuse" => {
                let name = v.code.unwrap_or_default();
                let code = RefuseCode::ALL
                    .into_iter()
                    .find(|c| c.as_str() == name)
                    .ok_or_else(|| invalid_argument(format!("unknown refuse code '{name}'")))?;
                Decision::Refuse(Refusal {
                    code,
                    evaluator: v.evaluator,
                    reason: v.reason,
                })
            }
            "invalidate" => {
                let target_id = v.target_id.unwrap_or_default();
                let target_kind = scope_target(&v.target_kind.unwrap_or_default(), &target_id)?;
                Decision::Invalidate(InvalidationScope {
                    target_kind,
                    target_id,
                    reason: v.reason,
                    evaluator: v.evaluator,
                })
            }
            other => return Err(invalid_argument(format!("unknown verdict kind '{other}'"))),
        };
        if let Ok(mut f) = FORCED.lock() {
            *f = Some((decision, v.observed.unwrap_or(false)));
        }
        Ok(())
    }

    pub fn forced(v: Verdict) -> Verdict {
        let Some((decision, observed)) = FORCED.lock().ok().and_then(|mut f| f.take()) else {
            return v;
        };
        Verdict {
            evaluation_id: v.evaluation_id,
            observed: observed.then(|| Box::new(decision.clone())),
            decision,
        }
    }
}

/// `v`, or the decision a test forced for this evaluation (see the module docs).
#[cfg(feature = "test-faults")]
pub fn forced(v: kavach_core::Verdict) -> kavach_core::Verdict {
    armed::forced(v)
}

#[cfg(not(feature = "test-faults"))]
#[inline(always)]
pub fn forced(v: kavach_core::Verdict) -> kavach_core::Verdict {
    v
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
