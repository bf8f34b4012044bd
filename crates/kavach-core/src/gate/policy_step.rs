//! The policy evaluator (priority 50): candidates by action, first match decides, rate limits
//! counted through the rate store. A permit policy that would have matched but for its rate
//! limit makes the default-deny a `RATE_LIMIT_EXCEEDED`.

use crate::context::ActionContext;
use crate::policy::{Condition, Effect, EvalEnv, Policy, PolicySet, RateLimit};
use crate::store::{RateHit, RateLimitStore};
use crate::verdict::{Refusal, RefuseCode};

use super::refusals::{refusal, store_unavailable};

pub const EVALUATOR: &str = "policy";

/// The permitting policy, or why not.
pub async fn decide<'p>(
    set: &'p PolicySet,
    ctx: &ActionContext,
    env: &EvalEnv,
    rates: &dyn RateLimitStore,
) -> Result<&'p Policy, Refusal> {
    let mut limited_by: Option<(&Policy, &RateLimit, RateHit)> = None;
    for policy in set.candidates(&ctx.action_name) {
        let mut over: Option<(&RateLimit, RateHit)> = None;
        let mut matched = true;
        for cond in &policy.conditions {
            if let Condition::RateLimit(rl) = cond {
                let hit = if rl.max == 0 {
                    // Nothing to count: a zero limit is exhausted before the first call.
                    RateHit {
                        count: 1,
                        frees_in_ms: 0,
                    }
                } else {
                    let key = rl.key(&ctx.principal_id, &ctx.action_name);
                    rates
                        .hit_bounded(&key, rl.window_ms, rl.max)
                        .await
                        .map_err(|e| store_unavailable("rate_store", "rate limit", &e))?
                };
                if hit.count > rl.max && over.is_none() {
                    over = Some((rl, hit));
                }
            } else if !cond.matches(ctx, env) {
                matched = false;
                break;
            }
        }
        if !matched {
            continue;
        }
        if let Some((rl, hit)) = over {
            // Not a match; remember the first permit it cost, and let later policies decide.
            if policy.effect == Effect::Permit && limited_by.is_none() {
                limited_by = Some((policy, rl, hit));
            }
            continue;
        }
        return match policy.effect {
            Effect::Permit => Ok(policy),
            Effect::Refuse => Err(refusal(
                RefuseCode::PolicyDenied,
                EVALUATOR,
                match &policy.description {
                    Some(d) => format!("refused by policy '{}': {d}", policy.name),
                    None => format!("refused by policy '{}'", policy.name),
                },
            )),
        };
    }
    Err(match limited_by {
        Some((policy, rl, hit)) => refusal(
            RefuseCode::RateLimitExceeded,
            EVALUATOR,
            format!(
                "policy '{}': rate limit of {} per {} exceeded for principal '{}' on '{}'; {}",
                policy.name,
                rl.max,
                rl.window_text,
                ctx.principal_id,
                ctx.action_name,
                if rl.max == 0 {
                    "a limit of 0 never frees a slot".to_owned()
                } else {
                    format!("a slot frees up in {}s", hit.frees_in_ms.div_ceil(1000))
                }
            ),
        ),
        None => refusal(
            RefuseCode::NoPolicyMatch,
            EVALUATOR,
            format!(
                "no policy permits '{}' for principal '{}' (default deny)",
                ctx.action_name, ctx.principal_id
            ),
        ),
    })
}
