//! Static analysis of a compiled policy set (`gate.analyze()`, `kavach lint`): policies that
//! can never decide, conditions that can never hold, rate limits that can never bind, permit/
//! refuse overlaps, deny-list sets and actions no policy mentions. It works on the compiled
//! set (patterns, time windows and numbers exactly as the gate judges them), which is why it
//! lives here rather than in TypeScript. Every finding names the policies and says why.

mod relations;

use crate::policy::pattern::Pattern;
use crate::policy::{Condition, Effect, Policy, PolicySet, RateLimit};

use relations::{contradiction, implied_by};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A policy or condition that cannot do what it says.
    Warning,
    /// Worth knowing, not wrong (overlaps whose winner is decided by order).
    Info,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Stable kind: `shadowed`, `refuse_never_fires`, `unsatisfiable`, `param_min_above_max`,
    /// `time_window_never_opens`, `rate_limit_never_binds`, `overlap`, `deny_list`,
    /// `unmentioned_action`.
    pub kind: &'static str,
    pub severity: Severity,
    /// The policies concerned, the one the finding is about first.
    pub policies: Vec<String>,
    pub message: String,
}

fn finding(
    kind: &'static str,
    severity: Severity,
    policies: Vec<String>,
    message: String,
) -> Finding {
    Finding {
        kind,
        severity,
        policies,
        message,
    }
}

fn conds(p: &Policy) -> Vec<&Condition> {
    p.conditions.iter().collect()
}

/// The policy's rate limits with their index among its conditions.
fn rate_limits(p: &Policy) -> impl Iterator<Item = (usize, &RateLimit)> {
    p.conditions
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Condition::RateLimit(rl) => Some((i, rl)),
            _ => None,
        })
}

/// Every call the rate limit at `a` counts is counted by the one at `b` too. Conditions are
/// judged in order and the first that fails ends the policy, so a limit after `a` counts
/// fewer calls when a condition between them can fail (a limit before `a` counts all of `a`'s).
fn counts_every_call_of(conds: &[Condition], b: usize, a: usize) -> bool {
    b < a
        || conds[a + 1..b]
            .iter()
            .all(|c| matches!(c, Condition::RateLimit(_)))
}

fn actions(p: &Policy) -> impl Iterator<Item = &Pattern> {
    p.conditions.iter().filter_map(|c| match c {
        Condition::Action(a) => Some(a),
        _ => None,
    })
}

/// Why `p` can never match any context, if it cannot.
fn never_matches(p: &Policy) -> Option<(&'static str, String)> {
    if let Some(why) = contradiction(&conds(p)) {
        let kind = if why.starts_with("param_min") {
            "param_min_above_max"
        } else if why.contains("time windows") {
            "time_window_never_opens"
        } else {
            "unsatisfiable"
        };
        return Some((kind, why));
    }
    rate_limits(p).any(|(_, rl)| rl.max == 0).then(|| {
        (
            "unsatisfiable",
            "its rate limit of 0 never lets a call through".to_owned(),
        )
    })
}

/// The earlier policy that matches whenever `later` does, so `later` never decides.
fn shadow<'a>(earlier: &'a [Policy], later: &Policy) -> Option<&'a Policy> {
    let given = conds(later);
    earlier
        .iter()
        .find(|p| never_matches(p).is_none() && p.conditions.iter().all(|c| implied_by(c, &given)))
}

/// Runs every check. `known_actions`: report those no policy names.
pub fn analyze(set: &PolicySet, known_actions: Option<&[String]>) -> Vec<Finding> {
    let policies = set.policies();
    let mut out = Vec::new();
    let mut dead = vec![false; policies.len()];
    for (j, q) in policies.iter().enumerate() {
        if let Some((kind, why)) = never_matches(q) {
            dead[j] = true;
            let kind = if q.effect == Effect::Refuse {
                "refuse_never_fires"
            } else {
                kind
            };
            out.push(finding(
                kind,
                Severity::Warning,
                vec![q.name.clone()],
                format!("policy '{}' can never match: {why}", q.name),
            ));
            continue;
        }
        if let Some(p) = shadow(&policies[..j], q) {
            dead[j] = true;
            let kind = if q.effect == Effect::Refuse {
                "refuse_never_fires"
            } else {
                "shadowed"
            };
            out.push(finding(
                kind,
                Severity::Warning,
                vec![q.name.clone(), p.name.clone()],
                format!(
                    "policy '{}' ({}) never decides: '{}' ({}, evaluated first: priority {} vs {}) matches every call it matches",
                    q.name,
                    q.effect.as_str(),
                    p.name,
                    p.effect.as_str(),
                    p.priority,
                    q.priority
                ),
            ));
            continue;
        }
        let rls: Vec<(usize, &RateLimit)> = rate_limits(q).collect();
        for &(a_i, a) in &rls {
            let stricter = rls.iter().find(|&&(b_i, b)| {
                b_i != a_i
                    && counts_every_call_of(&q.conditions, b_i, a_i)
                    && a.max >= b.max
                    && a.window_ms <= b.window_ms
                    && (a.max != b.max || a.window_ms != b.window_ms || b_i < a_i)
            });
            if let Some(&(_, b)) = stricter {
                out.push(finding(
                    "rate_limit_never_binds",
                    Severity::Warning,
                    vec![q.name.clone()],
                    format!(
                        "policy '{}': rate limit {} per {} never binds: its rate limit {} per {} is always reached first",
                        q.name, a.max, a.window_text, b.max, b.window_text
                    ),
                ));
            }
        }
    }
    overlaps(policies, &dead, &mut out);
    deny_lists(policies, &dead, &mut out);
    if let Some(known) = known_actions {
        for action in known {
            let named = policies
                .iter()
                .any(|p| actions(p).any(|a| !matches!(a, Pattern::Any) && a.matches(action)));
            if !named {
                out.push(finding(
                    "unmentioned_action",
                    Severity::Info,
                    Vec::new(),
                    format!("action '{action}' is named by no policy (only catch-all policies or the default deny decide it)"),
                ));
            }
        }
    }
    out
}

/// Some call might match both policies.
fn can_meet(a: &Policy, b: &Policy) -> bool {
    let both: Vec<&Condition> = a.conditions.iter().chain(&b.conditions).collect();
    contradiction(&both).is_none()
}

/// A live permit and a live refuse that can match the same call: the earlier one wins.
fn overlaps(policies: &[Policy], dead: &[bool], out: &mut Vec<Finding>) {
    for (i, a) in policies.iter().enumerate() {
        for (j, b) in policies.iter().enumerate().skip(i + 1) {
            if dead[i] || dead[j] || a.effect == b.effect {
                continue;
            }
            if can_meet(a, b) {
                out.push(finding(
                    "overlap",
                    Severity::Info,
                    vec![a.name.clone(), b.name.clone()],
                    format!(
                        "{} '{}' and {} '{}' can match the same call; '{}' is evaluated first and decides",
                        a.effect.as_str(),
                        a.name,
                        b.effect.as_str(),
                        b.name,
                        a.name
                    ),
                ));
            }
        }
    }
}

/// Refusing actions by name while a permit covers every action: names that merely look alike
/// (another script, an invisible character, a new action) are permitted. Only refusals that
/// can meet the catch-all's calls count (a refusal for other principals is no exception to it).
fn deny_lists(policies: &[Policy], dead: &[bool], out: &mut Vec<Finding>) {
    let live = |i: usize| !dead[i];
    let found = policies
        .iter()
        .enumerate()
        .filter(|&(i, p)| {
            live(i) && p.effect == Effect::Permit && actions(p).all(|a| matches!(a, Pattern::Any))
        })
        .find_map(|(_, permit)| {
            let refused: Vec<&Policy> = policies
                .iter()
                .enumerate()
                .filter(|&(i, p)| {
                    live(i)
                        && p.effect == Effect::Refuse
                        && actions(p).any(|a| !matches!(a, Pattern::Any))
                        && can_meet(permit, p)
                })
                .map(|(_, p)| p)
                .collect();
            (!refused.is_empty()).then_some((permit, refused))
        });
    let Some((permit, refused)) = found else {
        return;
    };
    let mut names = vec![permit.name.clone()];
    names.extend(refused.iter().map(|p| p.name.clone()));
    out.push(finding(
        "deny_list",
        Severity::Warning,
        names,
        format!(
            "deny list: '{}' permits every action while {} refuse(s) actions by name ({}); any other name, including look-alikes and new actions, is permitted. Permit the actions you mean instead",
            permit.name,
            refused.len(),
            refused.iter().map(|p| format!("'{}'", p.name)).collect::<Vec<_>>().join(", ")
        ),
    ));
}
