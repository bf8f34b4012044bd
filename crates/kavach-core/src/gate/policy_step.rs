//! The policy evaluator (priority 50): candidates by action, first match decides, rate limits
//! counted through the rate store. A permit policy that would have matched but for its rate
//! limit makes the default-deny a `RATE_LIMIT_EXCEEDED`. The verdict wording and the rate-limit
//! reads live here once; `explain` walks the same policies with `RateRead::Peek`.

use crate::context::ActionContext;
use crate::policy::{Condition, Effect, EvalEnv, Policy, PolicySet, RateLimit};
use crate::store::{RateHit, RateLimitStore};
use crate::verdict::{Refusal, RefuseCode};

use super::refusals::{refusal, store_unavailable};

pub const EVALUATOR: &str = "policy";

/// How a rate limit is read: counted (`evaluate`) or looked at (`explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateRead {
    Count,
    Peek,
}

/// The rate limit's count for this call (the call included), or the store's failure.
pub async fn rate_hit(
    rates: &dyn RateLimitStore,
    read: RateRead,
    rl: &RateLimit,
    ctx: &ActionContext,
) -> Result<RateHit, Refusal> {
    if rl.max == 0 {
        // Nothing to count: a zero limit is exhausted before the first call.
        return Ok(RateHit {
            count: 1,
            frees_in_ms: 0,
        });
    }
    let key = rl.key(&ctx.principal_id, &ctx.action_name);
    let hit = match read {
        RateRead::Count => rates.hit_bounded(&key, rl.window_ms, rl.max).await,
        RateRead::Peek => rates.peek_bounded(&key, rl.window_ms, rl.max).await,
    };
    hit.map_err(|e| store_unavailable("rate_store", "rate limit", &e))
}

/// A refuse policy matched.
pub fn refused_by(policy: &Policy) -> Refusal {
    refusal(
        RefuseCode::PolicyDenied,
        EVALUATOR,
        match &policy.description {
            Some(d) => format!("refused by policy '{}': {d}", policy.name),
            None => format!("refused by policy '{}'", policy.name),
        },
    )
}

/// No policy permitted, and `policy` would have but for its rate limit `rl`.
pub fn rate_limited(policy: &Policy, rl: &RateLimit, hit: RateHit, ctx: &ActionContext) -> Refusal {
    refusal(
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
    )
}

/// No policy matched at all.
pub fn default_deny(ctx: &ActionContext) -> Refusal {
    refusal(
        RefuseCode::NoPolicyMatch,
        EVALUATOR,
        format!(
            "no policy permits '{}' for principal '{}' (default deny)",
            ctx.action_name, ctx.principal_id
        ),
    )
}

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
                let hit = rate_hit(rates, RateRead::Count, rl, ctx).await?;
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
            Effect::Refuse => Err(refused_by(policy)),
        };
    }
    Err(match limited_by {
        Some((policy, rl, hit)) => rate_limited(policy, rl, hit, ctx),
        None => default_deny(ctx),
    })
}
