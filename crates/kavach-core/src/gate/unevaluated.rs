//! Verdicts an integration reaches before it can ask the gate: no caller, `identify` failed, a
//! request it cannot judge, its own session store failed or says the session was revoked.
//! They are recorded as the gate records its own (audited when the gate has an audit sink, a
//! fresh evaluation id), so the audit trail holds every verdict a caller was given. Nothing is
//! evaluated, counted or revoked, and observe-only does not turn them into a Permit: there is
//! no context whose would-be verdict could be observed.

use crate::context::ActionContext;
use crate::verdict::{Decision, InvalidationScope, Refusal, Verdict};

use super::{outcome, Gate};

/// The audit trail's principal for a caller nobody identified (ids are non-empty in the
/// trail). The verdict's code and reason say why.
pub const UNIDENTIFIED_PRINCIPAL: &str = "(unidentified)";

impl Gate {
    /// A Refuse decided outside the gate about `about` (what the integration knew of the call).
    pub fn refuse_unevaluated(&self, about: &ActionContext, refusal: Refusal) -> Verdict {
        self.record_unevaluated(about, Decision::Refuse(refusal))
    }

    /// An Invalidate decided outside the gate (a session its integration's store revoked).
    pub fn invalidate_unevaluated(
        &self,
        about: &ActionContext,
        scope: InvalidationScope,
    ) -> Verdict {
        self.record_unevaluated(about, Decision::Invalidate(scope))
    }

    fn record_unevaluated(&self, about: &ActionContext, decision: Decision) -> Verdict {
        let evaluation_id = crate::ids::new_v4();
        let decision = match &self.config.audit {
            Some(sink) => {
                outcome::audit(sink.as_ref(), about, evaluation_id, decision, None, false)
            }
            None => decision,
        };
        Verdict {
            evaluation_id,
            decision,
            observed: None,
        }
    }
}
