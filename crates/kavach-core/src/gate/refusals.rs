//! Refusal constructors, so every evaluator words its verdicts the same way.

use crate::verdict::{Decision, Refusal, RefuseCode};

pub fn refuse(code: RefuseCode, evaluator: &str, reason: String) -> Decision {
    Decision::Refuse(refusal(code, evaluator, reason))
}

pub fn refusal(code: RefuseCode, evaluator: &str, reason: String) -> Refusal {
    Refusal {
        code,
        evaluator: evaluator.to_owned(),
        reason,
    }
}

/// A store that could not answer: fail closed, and say which store.
pub fn store_unavailable(evaluator: &str, what: &str, err: &crate::store::StoreError) -> Refusal {
    refusal(
        RefuseCode::StoreUnavailable,
        evaluator,
        format!("{what} store unavailable: {err} (failing closed)"),
    )
}
