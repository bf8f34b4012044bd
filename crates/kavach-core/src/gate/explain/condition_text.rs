//! One condition of a policy, in words, with the values compared: `amount 1200 > max 1000`.
//! Whether it holds is always `Condition::matches` (or the rate store's answer), never
//! recomputed here, so the words cannot disagree with the verdict.
//!
//! Param values are the caller's text and `param_in` values the policy author's: both are
//! quoted as excerpts (`kavach_text::excerpt`: bounded, control and invisible characters
//! escaped), as reasons quote a caller's strings, so `kavach explain` never writes a raw
//! terminal escape. Ids, action names, roles, resources and field names pass the name rules,
//! which refuse such characters.

use kavach_text::excerpt;

use crate::context::{ActionContext, ParamValue};
use crate::policy::pattern::Pattern;
use crate::policy::{Condition, EvalEnv};

fn pattern_text(p: &Pattern) -> String {
    match p {
        Pattern::Exact(s) => format!("'{s}'"),
        Pattern::Prefix(s) => format!("'{s}*'"),
        Pattern::Any => "'*'".to_owned(),
    }
}

fn param_text(v: Option<&ParamValue>) -> String {
    match v {
        None => "absent".to_owned(),
        Some(ParamValue::Number(n)) => format!("{n}"),
        Some(ParamValue::Text(t)) => format!("'{}'", excerpt(t)),
    }
}

/// The condition's key in the language (`param_max`, `time_window`, ...).
pub fn key(c: &Condition) -> &'static str {
    match c {
        Condition::IdentityKind(_) => "identity_kind",
        Condition::IdentityRole(_) => "identity_role",
        Condition::IdentityId(_) => "identity_id",
        Condition::Action(_) => "action",
        Condition::Resource(_) => "resource",
        Condition::ParamMax { .. } => "param_max",
        Condition::ParamMin { .. } => "param_min",
        Condition::ParamIn { .. } => "param_in",
        Condition::RateLimit(_) => "rate_limit",
        Condition::SessionAgeMax { .. } => "session_age_max",
        Condition::TimeWindow(_) => "time_window",
    }
}

/// Minutes or seconds, the way an operator reads a wait: `37 min`, `12 s`.
pub fn wait_text(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    if secs >= 120 {
        format!("{} min", secs.div_ceil(60))
    } else {
        format!("{secs} s")
    }
}

/// Every condition but `rate_limit` (the gate words that one from the store's count).
pub fn describe(c: &Condition, holds: bool, ctx: &ActionContext, env: &EvalEnv) -> String {
    let (eq, ne) = if holds { ("==", "") } else { ("!=", "not ") };
    match c {
        Condition::IdentityKind(k) => {
            format!("kind {} {eq} {}", ctx.principal_kind.as_str(), k.as_str())
        }
        Condition::IdentityRole(r) => {
            format!("roles [{}] {ne}include '{r}'", ctx.roles.join(", "))
        }
        Condition::IdentityId(id) => format!("principal '{}' {eq} '{id}'", ctx.principal_id),
        Condition::Action(p) => {
            format!(
                "action '{}' {ne}matches {}",
                ctx.action_name,
                pattern_text(p)
            )
        }
        Condition::Resource(p) => match &ctx.resource {
            None => format!("no resource to match {}", pattern_text(p)),
            Some(r) => format!("resource '{r}' {ne}matches {}", pattern_text(p)),
        },
        Condition::ParamMax { field, max } => {
            let v = ctx.param(field);
            let op = if holds { "<=" } else { ">" };
            match v {
                Some(ParamValue::Number(_)) => format!("{field} {} {op} max {max}", param_text(v)),
                _ => format!("{field} is {}, not a number <= max {max}", param_text(v)),
            }
        }
        Condition::ParamMin { field, min } => {
            let v = ctx.param(field);
            let op = if holds { ">=" } else { "<" };
            match v {
                Some(ParamValue::Number(_)) => format!("{field} {} {op} min {min}", param_text(v)),
                _ => format!("{field} is {}, not a number >= min {min}", param_text(v)),
            }
        }
        Condition::ParamIn { field, values } => format!(
            "{field} {} {ne}in [{}]",
            param_text(ctx.param(field)),
            values
                .iter()
                .map(|v| excerpt(v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Condition::RateLimit(rl) => format!("rate limit {} per {}", rl.max, rl.window_text),
        Condition::SessionAgeMax { text, .. } => match env.session_started_at {
            None => format!("session age unknown (max {text})"),
            Some(started) => {
                let age_secs = (env.now_ms.div_euclid(1000) - started).max(0);
                let op = if holds { "<=" } else { ">" };
                format!("session age {} {op} max {text}", age_text(age_secs))
            }
        },
        Condition::TimeWindow(w) => w.describe_at(env.now_ms),
    }
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
