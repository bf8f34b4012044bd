//! `gate.explain(ctx)` for JS: the core's trace (`kavach_core::gate::Explanation`) as plain
//! objects. No gate logic here: the core decides, this file only converts.

use futures::FutureExt;
use kavach_core::gate::{ConditionCheck, Step};
use kavach_core::ActionContext;
use napi_derive::napi;

use super::Gate;
use crate::context::EvaluateOptions;
use crate::error::{codes, to_js, Result};
use crate::verdict::Verdict;

/// One condition of a policy as explain judged it.
#[napi(object, object_from_js = false)]
pub struct ExplainCheck {
    /// The condition's key: `param_max`, `rate_limit`, ...
    pub condition: String,
    /// The values compared: `amount 1200 > max 1000`.
    pub detail: String,
    pub holds: bool,
}

/// One step of the evaluation pipeline.
#[napi(object, object_from_js = false)]
pub struct ExplainStep {
    /// `gate`, `session`, `policy`, `drift` or `invariants`.
    pub evaluator: String,
    /// The policy, invariant or check this step is about.
    pub subject: String,
    /// Policies: `permit` or `refuse`.
    #[napi(ts_type = "'permit' | 'refuse'")]
    pub effect: Option<String>,
    /// `matched`, `not matched`, `rate limited`, `pass`, ...
    pub outcome: String,
    pub checks: Vec<ExplainCheck>,
    pub notes: Vec<String>,
    /// The step that decided the verdict.
    pub decisive: bool,
}

/// What `gate.explain(ctx)` returns: the verdict `evaluate` would give, and why.
#[napi(object, object_from_js = false)]
pub struct Explanation {
    pub verdict: Verdict,
    pub steps: Vec<ExplainStep>,
}

fn check(c: ConditionCheck) -> ExplainCheck {
    ExplainCheck {
        condition: c.condition.to_owned(),
        detail: c.detail,
        holds: c.holds,
    }
}

impl From<kavach_core::gate::Explanation> for Explanation {
    fn from(e: kavach_core::gate::Explanation) -> Self {
        Self {
            verdict: e.verdict.into(),
            steps: e.steps.into_iter().map(step).collect(),
        }
    }
}

fn step(s: Step) -> ExplainStep {
    ExplainStep {
        evaluator: s.evaluator.to_owned(),
        subject: s.subject,
        effect: s.effect.map(str::to_owned),
        outcome: s.outcome,
        checks: s.checks.into_iter().map(check).collect(),
        notes: s.notes,
        decisive: s.decisive,
    }
}

#[napi]
impl Gate {
    /// The evaluation of `ctx`, step by step, changing no state: no rate-limit hit counted,
    /// no session created or counted, nothing signed, audited or revoked. Stores that do
    /// network I/O (Redis) are read by `explainAsync`; here they throw `SYNC_NOT_SUPPORTED`.
    #[napi(catch_unwind)]
    pub fn explain(&self, ctx: EvaluateOptions) -> Result<Explanation> {
        let ctx = ActionContext::try_from(ctx)?;
        let sync_not_supported = || {
            to_js(
                codes::SYNC_NOT_SUPPORTED,
                "explain reads the stores synchronously, and this gate's stores do network I/O (Redis): use explainAsync",
            )
        };
        // A network store's future needs the runtime: never poll one here.
        if !self.inner.stores_in_process() {
            return Err(sync_not_supported());
        }
        let e = self
            .inner
            .explain(&ctx)
            .now_or_never()
            .ok_or_else(sync_not_supported)?;
        Ok(e.into())
    }

    /// Policies in the live set.
    #[napi(catch_unwind, getter)]
    pub fn policy_count(&self) -> u32 {
        u32::try_from(self.inner.policies().len()).unwrap_or(u32::MAX)
    }
}
