//! `Gate::explain`: the evaluation pipeline of `Gate::evaluate`, step by step, with every
//! condition's values and outcome, and without changing any state. Rate limits and sessions
//! are read with the stores' `peek` methods (nothing counted, no session created or touched),
//! nothing is signed, audited, revoked or published; the signer and the audit sink are only
//! asked whether they could sign and record (`ready`), so an expired key refuses here as it
//! does in `evaluate`. Each step reaches its outcome through
//! the same functions `evaluate` calls (`Condition::matches`, the drift evaluator,
//! `Invariant::violation`, the session view), in the same order, so the verdict is the one
//! `evaluate` would give for the same state (property-tested in `__test__/explain.test.ts`).
//!
//! The Redis stores peek with read-only commands (`kavach-redis`: `rate_limit/peek.rs`,
//! `session/peek.rs`). A store without a side-effect-free read keeps the traits' default, an
//! error, which explain reports as `evaluate` reports a failing store: `STORE_UNAVAILABLE`.

mod condition_text;

use crate::context::ActionContext;
use crate::drift::{DriftOutcome, SessionView};
use crate::policy::{Condition, Effect, EvalEnv, Policy, PolicySet, RateLimit};
use crate::session::SessionState;
use crate::store::{RateHit, RateProbe};
use crate::verdict::{Decision, Refusal, RefuseCode, Verdict};

use super::policy_step::{self, RateRead, EVALUATOR as POLICY};
use super::refusals::{refusal, store_unavailable};
use super::{
    drift_invalidation, invalid_context, outcome, session_cap_reached, session_step, Gate,
};

pub use condition_text::wait_text;

/// One condition of a policy: what was compared, and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionCheck {
    /// The condition's key (`param_max`, `rate_limit`, ...).
    pub condition: &'static str,
    /// The values compared, in words: `amount 1200 > max 1000`.
    pub detail: String,
    pub holds: bool,
}

/// One step of the pipeline: a policy, a drift detector summary, an invariant, a gate check.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `gate`, `session`, `policy`, `drift`, `invariants`, `identity` or `audit`.
    pub evaluator: &'static str,
    /// The policy, invariant or check this step is about.
    pub subject: String,
    /// `permit` / `refuse` for policies.
    pub effect: Option<&'static str>,
    /// `matched`, `not matched`, `rate limited`, `not reached`, `pass`, `refuse`, ...
    pub outcome: String,
    /// Policies: each condition judged, in order, up to the first that failed.
    pub checks: Vec<ConditionCheck>,
    /// Drift warnings, session notes and the like.
    pub notes: Vec<String>,
    /// The step that decided the verdict.
    pub decisive: bool,
}

impl Step {
    fn new(
        evaluator: &'static str,
        subject: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        Self {
            evaluator,
            subject: subject.into(),
            effect: None,
            outcome: outcome.into(),
            checks: Vec::new(),
            notes: Vec::new(),
            decisive: false,
        }
    }

    fn decisive(mut self) -> Self {
        self.decisive = true;
        self
    }
}

/// The trace and the verdict `evaluate` would return. The verdict's ids are fresh and a
/// permit carries no signature: nothing is signed or recorded.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub verdict: Verdict,
    pub steps: Vec<Step>,
}

struct Trace {
    steps: Vec<Step>,
}

impl Trace {
    fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// Ends the trace on `decision`, decided by `step`.
    fn decide(mut self, step: Step, decision: Decision) -> (Vec<Step>, Decision) {
        self.steps.push(step.decisive());
        (self.steps, decision)
    }
}

impl Gate {
    /// Evaluates `ctx` like `evaluate`, changing no state, and says why (see the module docs).
    pub async fn explain(&self, ctx: &ActionContext) -> Explanation {
        let evaluation_id = crate::ids::new_v4();
        let now_ms = self.config.clock.now_ms();
        let policies = self.policies.load_full();
        let (steps, decision) = self
            .explain_decide(&policies, ctx, evaluation_id, now_ms)
            .await;
        Explanation {
            verdict: self.verdict(ctx, evaluation_id, now_ms, decision),
            steps,
        }
    }

    async fn explain_decide(
        &self,
        policies: &PolicySet,
        ctx: &ActionContext,
        evaluation_id: uuid::Uuid,
        now_ms: i64,
    ) -> (Vec<Step>, Decision) {
        let now_secs = now_ms.div_euclid(1000);
        let mut trace = Trace { steps: Vec::new() };
        let refuse = |code, evaluator: &str, reason: String| {
            Decision::Refuse(refusal(code, evaluator, reason))
        };

        if self.is_closed() {
            let reason = super::CLOSED_REASON.to_owned();
            return trace.decide(
                Step::new("gate", "closed", reason.clone()),
                refuse(RefuseCode::StoreUnavailable, "gate", reason),
            );
        }
        if let Some(why) = invalid_context(ctx, now_secs, self.config.max_clock_skew_seconds) {
            return trace.decide(
                Step::new("gate", "context", format!("invalid: {why}")),
                refuse(RefuseCode::InvalidContext, "gate", why),
            );
        }
        if let Some(reason) = self.revocations.check(ctx, now_ms) {
            return trace.decide(
                Step::new("gate", "revocations", format!("revoked: {reason}")),
                refuse(RefuseCode::SessionInvalid, "gate", reason),
            );
        }
        trace.push(Step::new("gate", "revocations", "none apply"));

        // The session as `load_or_init` would return it, without creating it.
        let stored: Option<SessionState> = match &ctx.session_id {
            None => None,
            Some(sid) => {
                // The caller's text, quoted as reasons quote it (bounded, escaped).
                let subject = kavach_text::excerpt(sid);
                match self.session_store.peek(sid).await {
                    Err(e) => {
                        let r = store_unavailable("session_store", "session", &e);
                        return trace.decide(
                            Step::new("session", subject.clone(), r.reason.clone()),
                            Decision::Refuse(r),
                        );
                    }
                    Ok(Some(state)) => {
                        if let Some(reason) = session_step::revoked(sid, &state) {
                            return trace.decide(
                                Step::new("session", subject.clone(), reason.clone()),
                                refuse(RefuseCode::SessionInvalid, "gate", reason),
                            );
                        }
                        if let Some(reason) = session_step::stored_start_problem(
                            ctx,
                            sid,
                            &state,
                            now_secs,
                            self.config.max_clock_skew_seconds,
                        ) {
                            return trace.decide(
                                Step::new("session", subject.clone(), reason.clone()),
                                refuse(RefuseCode::StoreUnavailable, "session_store", reason),
                            );
                        }
                        let mut step = Step::new("session", subject.clone(), "known");
                        step.notes.push(format!(
                            "started at {} (unix s), {} permitted action(s)",
                            state.started_at, state.action_count
                        ));
                        trace.push(step);
                        Some(state)
                    }
                    Ok(None) => {
                        trace.push(Step::new(
                            "session",
                            subject,
                            "first sight (evaluate would start it now)",
                        ));
                        Some(session_step::seed(ctx, now_secs))
                    }
                }
            }
        };
        let view = session_step::view(ctx, stored.as_ref());

        let env = session_step::eval_env(ctx, &view, now_ms);
        let permitting = match self.explain_policies(policies, ctx, &env, &mut trace).await {
            Ok(p) => p,
            Err(decision) => return (trace.steps, decision),
        };

        if let Some(drift) = &self.drift {
            match drift.evaluate(ctx, &view, now_secs) {
                DriftOutcome::Pass { warnings } => {
                    let mut step = Step::new("drift", "detectors", "pass");
                    step.notes = warnings;
                    trace.push(step);
                }
                DriftOutcome::Refuse(reason) => {
                    return trace.decide(
                        Step::new("drift", "detectors", format!("refuse: {reason}")),
                        refuse(RefuseCode::DriftDetected, "drift", reason),
                    );
                }
                DriftOutcome::Invalidate(reason) => {
                    return trace.decide(
                        Step::new("drift", "detectors", format!("invalidate: {reason}")),
                        drift_invalidation(ctx, reason),
                    );
                }
            }
        }

        for inv in &self.config.invariants {
            if let Some(reason) = inv.violation(ctx) {
                return trace.decide(
                    Step::new(
                        "invariants",
                        inv.name.clone(),
                        format!("violated: {reason}"),
                    ),
                    refuse(RefuseCode::InvariantViolation, "invariants", reason),
                );
            }
            trace.push(Step::new("invariants", inv.name.clone(), "holds"));
        }
        if let Some((step, decision)) = self.explain_session_count(ctx, &view) {
            return trace.decide(step, decision);
        }

        // What `evaluate` does after deciding to permit, checked without signing or recording.
        if let Some(signer) = &self.config.token_signer {
            if let Err(e) = signer.ready() {
                let decision = outcome::signing_failed(&e);
                return trace.decide(
                    Step::new("identity", "token signer", format!("refuse: {e}")),
                    decision,
                );
            }
        }
        if let Some(sink) = &self.config.audit {
            if let Err(e) = sink.ready() {
                return trace.decide(
                    Step::new("audit", "audit sink", format!("refuse: {e}")),
                    outcome::audit_failed(&e),
                );
            }
        }

        let token =
            outcome::permit_token(ctx, evaluation_id, now_secs, self.config.permit_ttl_seconds);
        let mut step = Step::new("policy", permitting.name.clone(), "permit");
        step.effect = Some(Effect::Permit.as_str());
        if self.config.token_signer.is_some() {
            step.notes
                .push("evaluate would sign the permit (explain signs nothing)".into());
        }
        if self.config.audit.is_some() {
            step.notes
                .push("evaluate would record the verdict in the audit chain".into());
        }
        // The permitting policy's own step is marked decisive.
        if let Some(s) = trace
            .steps
            .iter_mut()
            .rev()
            .find(|s| s.evaluator == POLICY && s.subject == permitting.name)
        {
            s.decisive = true;
            s.notes.append(&mut step.notes);
        }
        (trace.steps, Decision::Permit(token))
    }

    /// `policy_step::decide` with peeks instead of hits: every candidate policy, in order.
    async fn explain_policies<'p>(
        &self,
        set: &'p PolicySet,
        ctx: &ActionContext,
        env: &EvalEnv,
        trace: &mut Trace,
    ) -> Result<&'p Policy, Decision> {
        let mut limited_by: Option<(&Policy, &crate::policy::RateLimit, RateHit)> = None;
        let quoted = condition_text::Quoted::new(ctx);
        // The rate limits read so far: `evaluate` records each before reading the next.
        let mut earlier: Vec<RateProbe> = Vec::new();
        for policy in set.candidates(&ctx.action_name) {
            let mut step = Step::new(POLICY, policy.name.clone(), "matched");
            step.effect = Some(policy.effect.as_str());
            let mut over: Option<(&crate::policy::RateLimit, RateHit)> = None;
            let mut matched = true;
            for cond in &policy.conditions {
                if let Condition::RateLimit(rl) = cond {
                    let hit = match self.peek_rate(rl, ctx, &mut earlier).await {
                        Ok(h) => h,
                        Err(r) => {
                            step.outcome = r.reason.clone();
                            trace.steps.push(step.decisive());
                            return Err(Decision::Refuse(r));
                        }
                    };
                    let holds = hit.count <= rl.max;
                    let used = hit.count.saturating_sub(1).min(rl.max);
                    let detail = if holds {
                        format!(
                            "rate {used}/{} in {}: this call fits",
                            rl.max, rl.window_text
                        )
                    } else if rl.max == 0 {
                        "rate limit 0: never permits".to_owned()
                    } else {
                        format!(
                            "rate {used}/{} in {}, frees in {}",
                            rl.max,
                            rl.window_text,
                            wait_text(hit.frees_in_ms)
                        )
                    };
                    step.checks.push(ConditionCheck {
                        condition: "rate_limit",
                        detail,
                        holds,
                    });
                    if !holds && over.is_none() {
                        over = Some((rl, hit));
                    }
                } else {
                    let holds = cond.matches(ctx, env);
                    step.checks.push(ConditionCheck {
                        condition: condition_text::key(cond),
                        detail: condition_text::describe(cond, holds, &quoted, env),
                        holds,
                    });
                    if !holds {
                        matched = false;
                        break;
                    }
                }
            }
            if !matched {
                step.outcome = "not matched".into();
                trace.push(step);
                continue;
            }
            if let Some((rl, hit)) = over {
                step.outcome = "rate limited".into();
                trace.push(step);
                if policy.effect == Effect::Permit && limited_by.is_none() {
                    limited_by = Some((policy, rl, hit));
                }
                continue;
            }
            return match policy.effect {
                Effect::Permit => {
                    trace.push(step);
                    Ok(policy)
                }
                Effect::Refuse => {
                    step.outcome = "refuse".into();
                    trace.steps.push(step.decisive());
                    Err(Decision::Refuse(policy_step::refused_by(policy)))
                }
            };
        }
        Err(Decision::Refuse(match limited_by {
            Some((policy, rl, hit)) => {
                if let Some(s) = trace
                    .steps
                    .iter_mut()
                    .find(|s| s.evaluator == POLICY && s.subject == policy.name)
                {
                    s.decisive = true;
                }
                policy_step::rate_limited(policy, rl, hit, ctx)
            }
            None => {
                trace.push(
                    Step::new(POLICY, "(default deny)", "no policy permits this action").decisive(),
                );
                policy_step::default_deny(ctx)
            }
        }))
    }

    /// `policy_step::rate_hit` with a peek, judged after the rate limits this explanation read
    /// before (`earlier`, which this one joins), as `evaluate` records them one by one.
    async fn peek_rate(
        &self,
        rl: &RateLimit,
        ctx: &ActionContext,
        earlier: &mut Vec<RateProbe>,
    ) -> Result<RateHit, Refusal> {
        if rl.max == 0 {
            // Never reaches the store.
            return policy_step::rate_hit(self.rate_store.as_ref(), RateRead::Peek, rl, ctx).await;
        }
        let key = rl.key(&ctx.principal_id, &ctx.action_name);
        let hit = self
            .rate_store
            .peek_bounded_after(earlier, &key, rl.window_ms, rl.max)
            .await
            .map_err(|e| store_unavailable("rate_store", "rate limit", &e))?;
        earlier.push(RateProbe {
            key,
            window_ms: rl.window_ms,
            max: rl.max,
        });
        Ok(hit)
    }

    /// `count_session_action` without counting: would the session's cap refuse this permit?
    fn explain_session_count(
        &self,
        ctx: &ActionContext,
        view: &SessionView<'_>,
    ) -> Option<(Step, Decision)> {
        let max = self.config.max_session_actions?;
        let over = |count: u64| {
            let refused = session_cap_reached(count, max);
            (
                Step::new(
                    "invariants",
                    super::SESSION_CAP_INVARIANT,
                    refused.reason.clone(),
                ),
                Decision::Refuse(refused),
            )
        };
        if let Some(count) = ctx.action_count {
            return (count >= max).then(|| over(count));
        }
        ctx.session_id.as_ref()?;
        (view.action_count >= max).then(|| over(max))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use crate::context::{ActionContext, PrincipalKind};
    use crate::gate::{Gate, GateConfig};
    use crate::policy::PolicySet;

    #[test]
    fn each_role_check_quotes_the_widest_roles_list_in_a_bounded_detail() {
        let policies: Vec<serde_json::Value> = (0..2_000)
            .map(|i| serde_json::json!({ "name": format!("p{i}"), "effect": "permit", "conditions": [{ "identity_role": "admin" }] }))
            .collect();
        let set = PolicySet::from_value(&serde_json::json!({ "policies": policies })).unwrap();
        let gate = Gate::new(set, GateConfig::default()).unwrap();
        let mut ctx = ActionContext::new("agent-7", PrincipalKind::Agent, "refund");
        // The documented maximum: 256 roles of 256 bytes (66 KB).
        ctx.roles = (0..256)
            .map(|i| format!("{i:03}{}", "r".repeat(253)))
            .collect();

        let explained = futures::executor::block_on(gate.explain(&ctx));

        let expected = format!(
            "roles [000{}… (66046 characters)] not include 'admin'",
            "r".repeat(97)
        );
        let checks: Vec<_> = explained.steps.iter().flat_map(|s| &s.checks).collect();
        assert_eq!(checks.len(), 2_000);
        for check in checks {
            assert_eq!(
                (check.condition, check.detail.as_str(), check.holds),
                ("identity_role", expected.as_str(), false)
            );
        }
    }
}
