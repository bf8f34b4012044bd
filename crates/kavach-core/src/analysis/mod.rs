//! Static analysis of a compiled policy set (`gate.analyze()`, `kavach lint`): policies that
//! can never decide, conditions that can never hold, rate limits that can never bind, permit/
//! refuse overlaps, deny-list sets and actions no policy mentions. It works on the compiled
//! set (patterns, time windows and numbers exactly as the gate judges them), which is why it
//! lives here rather than in TypeScript. Every finding names the policies and says why.

mod action_buckets;
mod relations;

use crate::error::{KavachError, Result};
use crate::policy::identifier::{self, excerpt, MAX_NAME_BYTES};
use crate::policy::pattern::Pattern;
use crate::policy::{Condition, Effect, Policy, PolicySet, RateLimit};

use action_buckets::{first_action, ActionBuckets};
use relations::{contradiction, Premise, WindowSamples};

/// The most findings of one kind `analyze` lists. Past it the kind ends with one finding that
/// says how many more there are. The limit keeps the output (and the memory of every consumer:
/// JS objects, lint output) in proportion to the policy set: without it n permits and n
/// refuses that can meet list n² overlaps (2.25 million for 1,500 + 1,500). A thousand
/// findings of a kind already show the pattern to fix.
pub const MAX_FINDINGS_PER_KIND: usize = 1_000;

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
    /// `refuse_skips_strings`, `literal_pattern_character`, `unmentioned_action`.
    pub kind: &'static str,
    pub severity: Severity,
    /// The policies concerned, the one the finding is about first (none for the finding that
    /// counts those of its kind left out past [`MAX_FINDINGS_PER_KIND`]).
    pub policies: Vec<String>,
    pub message: String,
}

/// How many findings of one kind were listed and left out.
struct KindTally {
    kind: &'static str,
    severity: Severity,
    listed: usize,
    left_out: usize,
}

/// Findings in the order they are found, at most [`MAX_FINDINGS_PER_KIND`] of each kind. One
/// past the limit is only counted: its names and message are never built.
#[derive(Default)]
struct Findings {
    listed: Vec<Finding>,
    /// In the order each kind first appeared (there are a handful of kinds).
    tallies: Vec<KindTally>,
}

impl Findings {
    /// Lists the finding `describe` builds (the policies concerned and the message), or counts
    /// it when its kind is full.
    fn add(
        &mut self,
        kind: &'static str,
        severity: Severity,
        describe: impl FnOnce() -> (Vec<String>, String),
    ) {
        let tally = self.tally(kind, severity);
        if tally.listed == MAX_FINDINGS_PER_KIND {
            tally.left_out += 1;
            return;
        }
        tally.listed += 1;
        let (policies, message) = describe();
        self.listed.push(Finding {
            kind,
            severity,
            policies,
            message,
        });
    }

    fn tally(&mut self, kind: &'static str, severity: Severity) -> &mut KindTally {
        let at = match self.tallies.iter().position(|t| t.kind == kind) {
            Some(at) => at,
            None => {
                self.tallies.push(KindTally {
                    kind,
                    severity,
                    listed: 0,
                    left_out: 0,
                });
                self.tallies.len() - 1
            }
        };
        &mut self.tallies[at]
    }

    /// The findings, each kind that was cut off ending with one that says how many are missing.
    fn into_vec(mut self) -> Vec<Finding> {
        for t in self.tallies.iter().filter(|t| t.left_out > 0) {
            self.listed.push(Finding {
                kind: t.kind,
                severity: t.severity,
                policies: Vec::new(),
                message: format!(
                    "{} more '{}' findings are not listed: the analysis lists at most {MAX_FINDINGS_PER_KIND} of each kind",
                    t.left_out, t.kind
                ),
            });
        }
        self.listed
    }
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
fn never_matches(p: &Policy, windows: &WindowSamples) -> Option<(&'static str, String)> {
    if let Some(conflict) = contradiction(p.conditions.iter(), windows) {
        return Some((conflict.kind(), conflict.why()));
    }
    rate_limits(p).any(|(_, rl)| rl.max == 0).then(|| {
        (
            "unsatisfiable",
            "its rate limit of 0 never lets a call through".to_owned(),
        )
    })
}

/// The first policy before position `j` that matches whenever the policy at `j` does, so that
/// one never decides. Only policies that can match (`can_match`, one flag per policy before
/// `j`) shadow, and only policies whose actions meet it can (`buckets`).
fn shadow<'a>(
    policies: &'a [Policy],
    can_match: &[bool],
    j: usize,
    buckets: &ActionBuckets<'_>,
    windows: &WindowSamples,
) -> Option<&'a Policy> {
    let later = &policies[j];
    let premise = Premise::new(&later.conditions, windows);
    buckets
        .meeting(first_action(later))
        .into_iter()
        .take_while(|&i| i < j)
        .map(|i| (&policies[i], can_match[i]))
        .find(|&(p, live)| live && p.conditions.iter().all(|c| premise.implies(c)))
        .map(|(p, _)| p)
}

/// The application's actions (`knownActions`), each held to the rules of an action name in a
/// policy, in the NFC form the gate compares names in. Built before any analysis, so a name
/// the loader would refuse costs no more than reading its length.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownActions(Vec<String>);

impl KnownActions {
    /// Refuses the first action that breaks the name rules, naming its index and the rule.
    pub fn new(mut actions: Vec<String>) -> Result<Self> {
        for (i, action) in actions.iter().enumerate() {
            if let Some(problem) = action_name_problem(action) {
                return Err(KavachError::InvalidArgument(format!(
                    "knownActions[{i}] {problem}"
                )));
            }
        }
        actions.iter_mut().for_each(identifier::nfc_in_place);
        Ok(Self(actions))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The longest text that can still be an action name once in NFC: NFC merges at most 4 code
/// points (of at most 4 bytes each) into one, so no longer text has an NFC form within
/// [`MAX_NAME_BYTES`]. A longer known action is refused by its length alone, without
/// normalizing a megabyte to learn that (a binding can refuse it before copying it).
pub const MAX_KNOWN_ACTION_INPUT_BYTES: usize = 16 * MAX_NAME_BYTES;

/// Why `action` cannot be an action name (the policy loader's rule), or `None`.
fn action_name_problem(action: &str) -> Option<String> {
    if action.len() > MAX_KNOWN_ACTION_INPUT_BYTES {
        return Some(format!(
            "is {} bytes long, over the limit of {MAX_NAME_BYTES} bytes",
            action.len()
        ));
    }
    identifier::name_problem(action)
}

/// Runs every check. `known_actions`: report those no policy names. `capped_fields`: the
/// params the gate's invariants cap (they refuse a string there). Lists at most
/// [`MAX_FINDINGS_PER_KIND`] findings of each kind, then one saying how many more there are.
pub fn analyze(
    set: &PolicySet,
    known_actions: Option<&KnownActions>,
    capped_fields: &[String],
) -> Vec<Finding> {
    analyze_with(set, known_actions, capped_fields, ActionBuckets::new)
}

/// [`analyze`] with the policies filed by `file` (the tests compare filed and unfiled).
fn analyze_with<'a>(
    set: &'a PolicySet,
    known_actions: Option<&KnownActions>,
    capped_fields: &[String],
    file: fn(&'a [Policy]) -> ActionBuckets<'a>,
) -> Vec<Finding> {
    let policies = set.policies();
    let windows = WindowSamples::for_conditions(policies.iter().flat_map(|p| &p.conditions));
    let buckets = file(policies);
    let mut out = Findings::default();
    let dead = policy_findings(policies, &buckets, &windows, &mut out);
    overlaps(policies, &dead, &buckets, &windows, &mut out);
    deny_lists(policies, &dead, &windows, &mut out);
    refusals_skipping_strings(policies, &dead, capped_fields, &mut out);
    glob_lookalikes(policies, &dead, &mut out);
    if let Some(known) = known_actions {
        unmentioned_actions(policies, known.as_slice(), &mut out);
    }
    out.into_vec()
}

/// The findings about each policy alone or against those before it. Returns which policies
/// never decide (they can never match, or an earlier policy always decides first).
fn policy_findings(
    policies: &[Policy],
    buckets: &ActionBuckets<'_>,
    windows: &WindowSamples,
    out: &mut Findings,
) -> Vec<bool> {
    let mut dead = vec![false; policies.len()];
    // Whether each policy can match some context, known before any later policy asks.
    let mut can_match = vec![false; policies.len()];
    for (j, q) in policies.iter().enumerate() {
        if let Some((kind, why)) = never_matches(q, windows) {
            dead[j] = true;
            let kind = if q.effect == Effect::Refuse {
                "refuse_never_fires"
            } else {
                kind
            };
            out.add(kind, Severity::Warning, || {
                (
                    vec![q.name.clone()],
                    format!("policy '{}' can never match: {why}", q.name),
                )
            });
            continue;
        }
        can_match[j] = true;
        if let Some(p) = shadow(policies, &can_match, j, buckets, windows) {
            dead[j] = true;
            report_shadowed(q, p, out);
            continue;
        }
        rate_limits_never_binding(q, out);
    }
    dead
}

fn report_shadowed(q: &Policy, p: &Policy, out: &mut Findings) {
    let kind = if q.effect == Effect::Refuse {
        "refuse_never_fires"
    } else {
        "shadowed"
    };
    out.add(kind, Severity::Warning, || {
        (
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
        )
    });
}

/// A rate limit of `q` that another of its limits always reaches first.
fn rate_limits_never_binding(q: &Policy, out: &mut Findings) {
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
            out.add("rate_limit_never_binds", Severity::Warning, || {
                (
                    vec![q.name.clone()],
                    format!(
                        "policy '{}': rate limit {} per {} never binds: its rate limit {} per {} is always reached first",
                        q.name, a.max, a.window_text, b.max, b.window_text
                    ),
                )
            });
        }
    }
}

/// Refuse policies that bound a param by number: `param_min`/`param_max` hold only for a
/// number, so a value sent as a string ("5000" from a form or a query string) is not refused
/// by them and later policies decide. Not reported for a param an invariant caps (the
/// invariant refuses a string there) or for a policy that never decides anyway.
fn refusals_skipping_strings(
    policies: &[Policy],
    dead: &[bool],
    capped_fields: &[String],
    out: &mut Findings,
) {
    for (q, _) in policies
        .iter()
        .zip(dead)
        .filter(|&(q, &dead)| !dead && q.effect == Effect::Refuse)
    {
        let mut reported: Vec<&str> = Vec::new();
        for c in &q.conditions {
            let (bound, field) = match c {
                Condition::ParamMin { field, .. } => ("param_min", field),
                Condition::ParamMax { field, .. } => ("param_max", field),
                _ => continue,
            };
            if capped_fields.contains(field) || reported.contains(&field.as_str()) {
                continue;
            }
            reported.push(field);
            out.add("refuse_skips_strings", Severity::Info, || {
                (
                    vec![q.name.clone()],
                    format!(
                        "refuse policy '{}' bounds '{field}' with {bound}, which holds only for a number: '{field}' sent as a string (\"5000\", as forms and query strings send it) is not refused by it; an invariant on '{field}' refuses a string there",
                        q.name
                    ),
                )
            });
        }
    }
}

/// Characters of other pattern languages (globs, regular expressions) that a pattern takes
/// literally: only a trailing `*` is a wildcard here.
const GLOB_LOOKALIKES: [char; 4] = ['?', '[', '{', '|'];

/// Action and resource patterns that look like a glob or a regular expression
/// (`delete_{user,org}`, `file?`, `read|write`): they match only that very name, so a refusal
/// written that way refuses nothing it seems to list (a warning), and a permit permits nothing
/// it seems to (info).
fn glob_lookalikes(policies: &[Policy], dead: &[bool], out: &mut Findings) {
    for (q, _) in policies.iter().zip(dead).filter(|&(_, &dead)| !dead) {
        for c in &q.conditions {
            let (what, pattern) = match c {
                Condition::Action(p) => ("action", p),
                Condition::Resource(p) => ("resource", p),
                _ => continue,
            };
            let text = match pattern {
                Pattern::Exact(s) => s.clone(),
                Pattern::Prefix(s) => format!("{s}*"),
                Pattern::Any => continue,
            };
            let Some(found) = text.chars().find(|ch| GLOB_LOOKALIKES.contains(ch)) else {
                continue;
            };
            let severity = if q.effect == Effect::Refuse {
                Severity::Warning
            } else {
                Severity::Info
            };
            out.add("literal_pattern_character", severity, || {
                (
                    vec![q.name.clone()],
                    format!(
                        "policy '{}' ({}): {what} '{text}' contains '{found}', which patterns take literally (only a trailing '*' is a wildcard): it matches the name '{text}' itself, not the names it seems to list; write one policy per name, or a prefix ending in '*'",
                        q.name,
                        q.effect.as_str()
                    ),
                )
            });
        }
    }
}

fn unmentioned_actions(policies: &[Policy], known: &[String], out: &mut Findings) {
    for action in known {
        let named = policies
            .iter()
            .any(|p| actions(p).any(|a| !matches!(a, Pattern::Any) && a.matches(action)));
        if !named {
            out.add("unmentioned_action", Severity::Info, || {
                (
                    Vec::new(),
                    format!(
                        "action '{}' is named by no policy (only catch-all policies or the default deny decide it)",
                        excerpt(action)
                    ),
                )
            });
        }
    }
}

/// Some call might match both policies.
fn can_meet(a: &Policy, b: &Policy, windows: &WindowSamples) -> bool {
    contradiction(a.conditions.iter().chain(&b.conditions), windows).is_none()
}

/// A live permit and a live refuse that can match the same call: the earlier one wins. Only
/// pairs of opposite effects whose actions meet are compared.
fn overlaps(
    policies: &[Policy],
    dead: &[bool],
    buckets: &ActionBuckets<'_>,
    windows: &WindowSamples,
    out: &mut Findings,
) {
    for (i, a) in policies.iter().enumerate().filter(|&(i, _)| !dead[i]) {
        let later = buckets.meeting(first_action(a));
        let after_a = &later[later.partition_point(|&j| j <= i)..];
        for b in after_a
            .iter()
            .map(|&j| (j, &policies[j]))
            .filter(|&(j, b)| !dead[j] && b.effect != a.effect)
            .map(|(_, b)| b)
        {
            if can_meet(a, b, windows) {
                report_overlap(a, b, out);
            }
        }
    }
}

fn report_overlap(a: &Policy, b: &Policy, out: &mut Findings) {
    out.add("overlap", Severity::Info, || {
        (
            vec![a.name.clone(), b.name.clone()],
            format!(
                "{} '{}' and {} '{}' can match the same call; '{}' is evaluated first and decides",
                a.effect.as_str(),
                a.name,
                b.effect.as_str(),
                b.name,
                a.name
            ),
        )
    });
}

/// Refusing actions by name while a permit covers every action: names that merely look alike
/// (another script, an invisible character, a new action) are permitted. Only refusals that
/// can meet the catch-all's calls count (a refusal for other principals is no exception to it).
fn deny_lists(policies: &[Policy], dead: &[bool], windows: &WindowSamples, out: &mut Findings) {
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
                        && can_meet(permit, p, windows)
                })
                .map(|(_, p)| p)
                .collect();
            (!refused.is_empty()).then_some((permit, refused))
        });
    let Some((permit, refused)) = found else {
        return;
    };
    out.add("deny_list", Severity::Warning, || {
        let mut names = vec![permit.name.clone()];
        names.extend(refused.iter().map(|p| p.name.clone()));
        let message = format!(
            "deny list: '{}' permits every action while {} refuse(s) actions by name ({}); any other name, including look-alikes and new actions, is permitted. Permit the actions you mean instead",
            permit.name,
            refused.len(),
            refused.iter().map(|p| format!("'{}'", p.name)).collect::<Vec<_>>().join(", ")
        );
        (names, message)
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// xorshift64: random sets that are the same on every run.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    /// A set over a small vocabulary, so that actions, prefixes and catch-alls meet often.
    fn random_set(rng: &mut Rng) -> PolicySet {
        const ACTIONS: &[&str] = &["a", "ab", "abc", "b", "ba", "a*", "ab*", "abc*", "b*", "*"];
        let policies: Vec<Value> = (0..2 + rng.below(12))
            .map(|i| {
                let mut conditions = Vec::new();
                for _ in 0..rng.below(3) {
                    conditions.push(json!({ "action": rng.pick(ACTIONS) }));
                }
                if rng.below(2) == 0 {
                    conditions.push(json!({ "identity_kind": rng.pick(&["agent", "user"]) }));
                }
                if rng.below(2) == 0 {
                    conditions.push(json!({ "identity_role": rng.pick(&["ops", "support"]) }));
                }
                if rng.below(2) == 0 {
                    let bound = [10, 100, 1000][rng.below(3)];
                    let key = rng.pick(&["param_max", "param_min"]);
                    let limit = if key == "param_max" { "max" } else { "min" };
                    conditions.push(json!({ key: { "field": "amount", limit: bound } }));
                }
                json!({
                    "name": format!("p{i}"),
                    "effect": rng.pick(&["permit", "refuse"]),
                    "conditions": conditions,
                })
            })
            .collect();
        PolicySet::from_value(&json!({ "policies": policies })).unwrap()
    }

    #[test]
    fn filing_by_action_finds_what_comparing_every_pair_finds() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut kinds = std::collections::BTreeMap::new();
        for n in 0..3_000 {
            let set = random_set(&mut rng);
            let filed = analyze_with(&set, None, &[], ActionBuckets::new);
            let every_pair = analyze_with(&set, None, &[], ActionBuckets::unfiled);
            assert_eq!(filed, every_pair, "set {n}: {:#?}", set.policies());
            for f in &filed {
                *kinds.entry(f.kind).or_insert(0) += 1;
            }
        }
        // The sets exercise the comparisons that are filed.
        for kind in ["shadowed", "refuse_never_fires", "overlap"] {
            assert!(
                kinds.get(kind).copied().unwrap_or(0) > 100,
                "{kind}: {kinds:?}"
            );
        }
    }

    #[test]
    fn policies_with_different_actions_are_not_compared() {
        let policies: Vec<Value> = (0..4)
            .map(|i| json!({ "name": format!("p{i}"), "effect": "permit", "conditions": [{ "action": format!("tool_{i}") }] }))
            .chain([json!({ "name": "all", "effect": "refuse", "conditions": [] })])
            .chain([json!({ "name": "tools", "effect": "refuse", "conditions": [{ "action": "tool_*" }] })])
            .collect();
        let set = PolicySet::from_value(&json!({ "policies": policies })).unwrap();
        let buckets = ActionBuckets::new(set.policies());
        let position = |name: &str| set.policies().iter().position(|p| p.name == name).unwrap();
        let meeting = |name: &str| buckets.meeting(first_action(&set.policies()[position(name)]));
        let mut tool_1 = vec![position("p1"), position("all"), position("tools")];
        tool_1.sort_unstable();
        assert_eq!(meeting("p1"), tool_1);
        assert_eq!(meeting("all"), (0..6).collect::<Vec<_>>());
        assert_eq!(meeting("tools").len(), 6);
    }

    fn one_action_policy(action: &str) -> PolicySet {
        PolicySet::from_value(&json!({ "policies": [
            { "name": "p", "effect": "permit", "conditions": [{ "action": action }] }
        ] }))
        .unwrap()
    }

    fn refusal(actions: Vec<String>) -> String {
        match KnownActions::new(actions) {
            Err(KavachError::InvalidArgument(why)) => why,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn a_known_action_the_loader_would_refuse_is_refused_by_its_index_and_rule() {
        let ok = || "read".to_owned();
        assert_eq!(
            refusal(vec![ok(), "x".repeat(1_000_000)]),
            "knownActions[1] is 1000000 bytes long, over the limit of 256 bytes"
        );
        assert_eq!(
            refusal(vec![ok(), ok(), "x".repeat(257)]),
            "knownActions[2] is 257 bytes long, over the limit of 256 bytes"
        );
        assert_eq!(
            refusal(vec!["a\u{1b}[2Jb".into()]),
            "knownActions[0] 'a\\u{1b}[2Jb' contains the control character \\u{1b} at character 1"
        );
        assert_eq!(
            refusal(vec![ok(), String::new()]),
            "knownActions[1] must be a non-empty string"
        );
        // Too long for any NFC form to fit, decided without normalizing it.
        let decomposed = "e\u{301}".repeat(2_000);
        assert_eq!(
            refusal(vec![decomposed]),
            "knownActions[0] is 6000 bytes long, over the limit of 256 bytes"
        );
        assert!(KnownActions::new(vec![ok(), "x".repeat(256)]).is_ok());
    }

    #[test]
    fn an_unnamed_action_is_quoted_as_an_excerpt() {
        let set = one_action_policy("write");
        let known = KnownActions::new(vec!["write".into(), "y".repeat(256)]).unwrap();
        let findings = analyze(&set, Some(&known), &[]);
        assert_eq!(
            findings,
            [Finding {
                kind: "unmentioned_action",
                severity: Severity::Info,
                policies: Vec::new(),
                message: format!(
                    "action '{}… (256 characters)' is named by no policy (only catch-all policies or the default deny decide it)",
                    "y".repeat(100)
                ),
            }]
        );
    }

    #[test]
    fn known_actions_are_compared_in_nfc_as_the_gate_compares_contexts() {
        let set = one_action_policy("l\u{f6}schen");
        let known = KnownActions::new(vec!["lo\u{308}schen".into()]).unwrap();
        assert_eq!(known.as_slice(), ["l\u{f6}schen"]);
        assert_eq!(analyze(&set, Some(&known), &[]), []);
    }
}
