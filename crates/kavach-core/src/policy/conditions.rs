//! Compiled conditions and how each one is judged. Parsing lives in `schema`; the rate limit
//! needs a store, so the gate judges it (see `gate::policy_step`).

use crate::context::{ActionContext, PrincipalKind};

use super::pattern::Pattern;
use super::time_window::TimeWindow;

/// Every condition key of the language, for the TypeScript schema and error hints.
pub const CONDITION_KEYS: &[&str] = &[
    "identity_kind",
    "identity_role",
    "identity_id",
    "action",
    "resource",
    "param_max",
    "param_min",
    "param_in",
    "rate_limit",
    "session_age_max",
    "time_window",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    IdentityKind(PrincipalKind),
    IdentityRole(String),
    IdentityId(String),
    Action(Pattern),
    Resource(Pattern),
    ParamMax { field: String, max: f64 },
    ParamMin { field: String, min: f64 },
    ParamIn { field: String, values: Vec<String> },
    RateLimit(RateLimit),
    SessionAgeMax { max_ms: u64, text: String },
    TimeWindow(TimeWindow),
}

/// `rate_limit {max, window}`: at most `max` evaluations of one principal+action per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u64,
    pub window_ms: u64,
    /// The window as written (`24h`), for refusal messages.
    pub window_text: String,
    /// `rl:<len>:<policy>[#i]:` computed once at load (`#i` for the policy's i-th rate limit
    /// after the first); the gate appends principal and action.
    pub key_prefix: String,
}

impl RateLimit {
    /// The counter key for one principal+action. Lengths prefix the free-form parts so that
    /// names containing ':' can never collide with other names.
    pub fn key(&self, principal_id: &str, action: &str) -> String {
        let mut key =
            String::with_capacity(self.key_prefix.len() + principal_id.len() + action.len() + 8);
        key.push_str(&self.key_prefix);
        key.push_str(&principal_id.len().to_string());
        key.push(':');
        key.push_str(principal_id);
        key.push(':');
        key.push_str(action);
        key
    }
}

/// What a condition may look at besides the context.
#[derive(Debug, Clone, Copy)]
pub struct EvalEnv {
    pub now_ms: i64,
    /// Unix seconds the session started (explicit context field, else the session store).
    pub session_started_at: Option<i64>,
}

impl Condition {
    /// The param this condition reads (`param_max`, `param_min`, `param_in`).
    pub fn param_field(&self) -> Option<&str> {
        match self {
            Condition::ParamMax { field, .. }
            | Condition::ParamMin { field, .. }
            | Condition::ParamIn { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Judges every condition except `rate_limit` (which returns true here: the gate counts it).
    #[inline]
    pub fn matches(&self, ctx: &ActionContext, env: &EvalEnv) -> bool {
        match self {
            Condition::IdentityKind(k) => ctx.principal_kind == *k,
            Condition::IdentityRole(r) => ctx.has_role(r),
            Condition::IdentityId(id) => ctx.principal_id == *id,
            Condition::Action(p) => p.matches(&ctx.action_name),
            Condition::Resource(p) => ctx.resource.as_deref().is_some_and(|r| p.matches(r)),
            Condition::ParamMax { field, max } => ctx
                .param(field)
                .and_then(|v| v.as_number())
                .is_some_and(|n| n <= *max),
            Condition::ParamMin { field, min } => ctx
                .param(field)
                .and_then(|v| v.as_number())
                .is_some_and(|n| n >= *min),
            Condition::ParamIn { field, values } => ctx
                .param(field)
                .and_then(|v| v.as_text())
                .is_some_and(|s| values.iter().any(|v| v == s)),
            Condition::RateLimit(_) => true,
            Condition::SessionAgeMax { max_ms, .. } => {
                env.session_started_at.is_some_and(|started| {
                    let age_ms = env.now_ms.saturating_sub(started.saturating_mul(1000));
                    // A start slightly in the future (skewed replica clocks) is a fresh session.
                    age_ms <= 0 || age_ms.unsigned_abs() <= *max_ms
                })
            }
            Condition::TimeWindow(w) => w.contains(env.now_ms),
        }
    }
}
