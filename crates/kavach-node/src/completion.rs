//! Settling each `evaluateSubmit` call exactly once. A submitted evaluation's promise is
//! resolved by its dispatcher (`dispatch.rs`); if its future ends without a verdict (it
//! panicked, its task was dropped, or its runtime went away), the guard's `Drop` completes it
//! with an `INTERNAL` failure instead, so no promise is left pending and no keep-alive in
//! src/gate.ts holds the process open. A failure is never a Permit. Each completion carries
//! its evaluation's `maxPendingEvaluations` slot to the dispatcher, which drops it when the
//! verdict goes to JS: capacity comes back on every one of these paths.

use std::sync::Arc;

use kavach_core::gate::PendingSlot;
use kavach_core::Verdict;

use crate::dispatch::Dispatcher;

/// What a dispatcher delivers for one id: a verdict, or why there is none.
pub type Outcome = std::result::Result<Verdict, String>;

/// The obligation to settle one submitted evaluation.
pub struct Completion {
    id: u32,
    /// Taken when settled; still here on drop means the evaluation never finished.
    settle: Option<(Arc<Dispatcher>, PendingSlot)>,
}

impl Completion {
    pub fn new(id: u32, dispatcher: Arc<Dispatcher>, slot: PendingSlot) -> Self {
        Self {
            id,
            settle: Some((dispatcher, slot)),
        }
    }

    /// Delivers the verdict (the normal end).
    pub fn finish(mut self, verdict: Verdict) {
        if let Some((d, slot)) = self.settle.take() {
            d.complete(self.id, Ok(verdict), slot);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some((d, slot)) = self.settle.take() {
            d.complete(
                self.id,
                Err(
                    "evaluation ended without a verdict (it panicked or was cancelled); \
                     nothing was permitted"
                        .into(),
                ),
                slot,
            );
        }
    }
}
