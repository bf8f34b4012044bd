//! One condition of a policy, in words, with the values compared: `amount 1200 > max 1000`.
//! Whether it holds is always `Condition::matches` (or the rate store's answer), never
//! recomputed here, so the words cannot disagree with the verdict.
//!
//! Every text a detail quotes is an excerpt (`kavach_text::excerpt`: at most 100 characters,
//! control and invisible characters escaped), as reasons quote a caller's strings: the
//! caller's param values, ids, action name, resource and roles, and the policy's names,
//! patterns and `param_in` values. So a detail stays short whatever the context holds, and
//! `kavach explain` never writes a raw terminal escape. The roles list is one excerpt of the
//! joined list, made once per explanation: 256 roles of 256 bytes would otherwise be copied
//! into the detail of every `identity_role` condition of every policy.

use std::cell::OnceCell;

use kavach_text::excerpt;

use crate::context::{ActionContext, ParamValue};
use crate::policy::pattern::Pattern;
use crate::policy::{Condition, EvalEnv};

/// The context of one explanation, with the excerpt of its roles list made on first use.
pub struct Quoted<'c> {
    ctx: &'c ActionContext,
    roles: OnceCell<String>,
}

impl<'c> Quoted<'c> {
    pub fn new(ctx: &'c ActionContext) -> Self {
        Self {
            ctx,
            roles: OnceCell::new(),
        }
    }

    fn roles(&self) -> &str {
        self.roles
            .get_or_init(|| excerpt(&self.ctx.roles.join(", ")))
    }
}

fn pattern_text(p: &Pattern) -> String {
    match p {
        Pattern::Exact(s) => format!("'{}'", excerpt(s)),
        Pattern::Prefix(s) => format!("'{}*'", excerpt(s)),
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
pub fn describe(c: &Condition, holds: bool, quoted: &Quoted<'_>, env: &EvalEnv) -> String {
    let ctx = quoted.ctx;
    let (eq, ne) = if holds { ("==", "") } else { ("!=", "not ") };
    match c {
        Condition::IdentityKind(k) => {
            format!("kind {} {eq} {}", ctx.principal_kind.as_str(), k.as_str())
        }
        Condition::IdentityRole(r) => {
            format!("roles [{}] {ne}include '{}'", quoted.roles(), excerpt(r))
        }
        Condition::IdentityId(id) => format!(
            "principal '{}' {eq} '{}'",
            excerpt(&ctx.principal_id),
            excerpt(id)
        ),
        Condition::Action(p) => {
            format!(
                "action '{}' {ne}matches {}",
                excerpt(&ctx.action_name),
                pattern_text(p)
            )
        }
        Condition::Resource(p) => match &ctx.resource {
            None => format!("no resource to match {}", pattern_text(p)),
            Some(r) => format!("resource '{}' {ne}matches {}", excerpt(r), pattern_text(p)),
        },
        Condition::ParamMax { field, max } => {
            let v = ctx.param(field);
            let field = excerpt(field);
            let op = if holds { "<=" } else { ">" };
            match v {
                Some(ParamValue::Number(_)) => format!("{field} {} {op} max {max}", param_text(v)),
                _ => format!("{field} is {}, not a number <= max {max}", param_text(v)),
            }
        }
        Condition::ParamMin { field, min } => {
            let v = ctx.param(field);
            let field = excerpt(field);
            let op = if holds { ">=" } else { "<" };
            match v {
                Some(ParamValue::Number(_)) => format!("{field} {} {op} min {min}", param_text(v)),
                _ => format!("{field} is {}, not a number >= min {min}", param_text(v)),
            }
        }
        Condition::ParamIn { field, values } => format!(
            "{} {} {ne}in [{}]",
            excerpt(field),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::context::PrincipalKind;
    use crate::policy::pattern::Pattern;

    const ENV: EvalEnv = EvalEnv {
        now_ms: 0,
        session_started_at: None,
    };

    /// The documented maximum: 256 roles of 256 bytes, `000rrr…` to `255rrr…`.
    fn widest_roles() -> Vec<String> {
        (0..256)
            .map(|i| format!("{i:03}{}", "r".repeat(253)))
            .collect()
    }

    fn detail(c: &Condition, ctx: &ActionContext) -> String {
        describe(c, c.matches(ctx, &ENV), &Quoted::new(ctx), &ENV)
    }

    #[test]
    fn the_roles_list_is_quoted_as_one_excerpt_whether_the_role_is_there_or_not() {
        let mut ctx = ActionContext::new("agent-7", PrincipalKind::Agent, "refund");
        ctx.roles = widest_roles();
        // 256 roles of 256 characters and 255 separators of 2.
        let head = format!("000{}", "r".repeat(97));
        let quoted = format!("[{head}… (66046 characters)]");
        assert_eq!(
            detail(&Condition::IdentityRole("admin".into()), &ctx),
            format!("roles {quoted} not include 'admin'")
        );
        let present = ctx.roles[200].clone();
        assert_eq!(
            detail(&Condition::IdentityRole(present.clone()), &ctx),
            format!(
                "roles {quoted} include '{}… (256 characters)'",
                &present[..100]
            )
        );
        ctx.roles = vec!["support".into(), "billing".into()];
        assert_eq!(
            detail(&Condition::IdentityRole("support".into()), &ctx),
            "roles [support, billing] include 'support'"
        );
    }

    #[test]
    fn names_of_the_context_and_the_policy_are_quoted_as_excerpts() {
        let long = |c: char| c.to_string().repeat(256);
        let cut = |c: char| format!("{}… (256 characters)", c.to_string().repeat(100));
        let mut ctx = ActionContext::new(long('p'), PrincipalKind::Agent, long('a'));
        ctx.resource = Some(long('r'));
        let cases = [
            (
                Condition::IdentityId(long('i')),
                format!("principal '{}' != '{}'", cut('p'), cut('i')),
            ),
            (
                Condition::Action(Pattern::Exact(long('b'))),
                format!("action '{}' not matches '{}'", cut('a'), cut('b')),
            ),
            (
                Condition::Resource(Pattern::Prefix(long('s'))),
                format!("resource '{}' not matches '{}*'", cut('r'), cut('s')),
            ),
            (
                Condition::ParamMax {
                    field: long('f'),
                    max: 1.0,
                },
                format!("{} is absent, not a number <= max 1", cut('f')),
            ),
            (
                Condition::ParamIn {
                    field: long('f'),
                    values: vec!["x".into()],
                },
                format!("{} absent not in [x]", cut('f')),
            ),
        ];
        for (condition, expected) in cases {
            assert_eq!(detail(&condition, &ctx), expected);
        }
    }
}
