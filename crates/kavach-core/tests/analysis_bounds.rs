//! Policy analysis on sets built to overwhelm it: findings stay bounded per kind (the rest are
//! counted in one finding), and repeated time windows cost one comparison, deciding exactly
//! as a single copy does. No timings are asserted: the sets are sized so that an analysis
//! without these bounds takes minutes (or runs out of memory), which shows as a hung test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kavach_core::analysis::{analyze, Finding, KnownActions, Severity, MAX_FINDINGS_PER_KIND};
use kavach_core::policy::PolicySet;
use serde_json::{json, Value};

fn set_of(policies: Vec<Value>) -> PolicySet {
    PolicySet::from_value(&json!({ "policies": policies })).unwrap()
}

/// `permits` permits for one principal each and `refuses` refusals of one action each: every
/// permit meets every refusal, so they overlap in permits × refuses pairs.
fn permits_and_refuses(permits: usize, refuses: usize) -> PolicySet {
    let permit = |i: usize| json!({"name": format!("p{i}"), "effect": "permit", "conditions": [{"identity_id": format!("u{i}")}]});
    let refuse = |i: usize| json!({"name": format!("r{i}"), "effect": "refuse", "conditions": [{"action": format!("a{i}")}]});
    set_of(
        (0..permits)
            .map(permit)
            .chain((0..refuses).map(refuse))
            .collect(),
    )
}

fn of_kind<'a>(findings: &'a [Finding], kind: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.kind == kind).collect()
}

/// The finding that ends a kind cut off at the limit, saying how many more there are.
fn is_left_out_note(f: &Finding) -> bool {
    f.message.contains("findings are not listed")
}

fn assert_cut_off(findings: &[Finding], kind: &str, left_out: usize) {
    let listed = of_kind(findings, kind);
    assert_eq!(listed.len(), MAX_FINDINGS_PER_KIND + 1, "{kind}");
    let (note, before) = listed.split_last().unwrap();
    assert!(!before.iter().any(|f| is_left_out_note(f)), "{kind}");
    assert!(note.policies.is_empty());
    assert_eq!(
        note.message,
        format!(
            "{left_out} more '{kind}' findings are not listed: the analysis lists at most {MAX_FINDINGS_PER_KIND} of each kind"
        )
    );
}

#[test]
fn overlaps_past_the_limit_are_counted_in_one_finding() {
    let findings = analyze(&permits_and_refuses(1500, 1500), None, &[]);
    assert_cut_off(&findings, "overlap", 1500 * 1500 - MAX_FINDINGS_PER_KIND);
    // The listed ones are the first pairs in evaluation order, as without the limit.
    let overlaps = of_kind(&findings, "overlap");
    assert_eq!(overlaps[0].policies, ["p0", "r0"]);
    assert_eq!(
        overlaps[0].message,
        "permit 'p0' and refuse 'r0' can match the same call; 'p0' is evaluated first and decides"
    );
    assert_eq!(overlaps[999].policies, ["p0", "r999"]);
    assert_eq!(overlaps[1000].severity, Severity::Info);
    // The first permit covers every action while 1500 refusals name one: one deny list.
    let deny_lists = of_kind(&findings, "deny_list");
    assert_eq!(deny_lists.len(), 1);
    assert_eq!(deny_lists[0].policies.len(), 1501);
    assert_eq!(findings.len(), MAX_FINDINGS_PER_KIND + 2);
}

#[test]
fn a_kind_up_to_the_limit_is_listed_whole() {
    for (permits, refuses) in [(27, 37), (25, 40)] {
        let findings = analyze(&permits_and_refuses(permits, refuses), None, &[]);
        let overlaps = of_kind(&findings, "overlap");
        assert_eq!(overlaps.len(), permits * refuses);
        assert!(overlaps.len() <= MAX_FINDINGS_PER_KIND);
        assert!(!findings.iter().any(is_left_out_note));
    }
}

#[test]
fn one_past_the_limit_lists_the_limit_and_counts_one() {
    let findings = analyze(&permits_and_refuses(77, 13), None, &[]);
    assert_eq!(77 * 13, MAX_FINDINGS_PER_KIND + 1);
    assert_cut_off(&findings, "overlap", 1);
}

#[test]
fn every_kind_is_bounded() {
    // One catch-all permit first: every later permit is shadowed, every later refusal never fires.
    let mut policies = vec![json!({"name": "all", "effect": "permit", "conditions": []})];
    policies.extend((0..1200).map(|i| {
        json!({"name": format!("s{i}"), "effect": "permit", "conditions": [{"identity_id": format!("u{i}")}]})
    }));
    policies.extend((0..1100).map(|i| {
        json!({"name": format!("n{i}"), "effect": "refuse", "conditions": [{"action": format!("a{i}")}]})
    }));
    let known = KnownActions::new((0..1300).map(|i| format!("unnamed{i}")).collect()).unwrap();
    let findings = analyze(&set_of(policies), Some(&known), &[]);
    assert_cut_off(&findings, "shadowed", 200);
    assert_cut_off(&findings, "refuse_never_fires", 100);
    assert_cut_off(&findings, "unmentioned_action", 300);
    assert_eq!(findings.len(), 3 * (MAX_FINDINGS_PER_KIND + 1));
}

/// The time-window repro: `policies` policies of `copies` copies of one window and a distinct
/// principal each.
fn repeated_windows(policies: usize, copies: usize) -> PolicySet {
    set_of(
        (0..policies)
            .map(|i| {
                let mut conditions: Vec<Value> = (0..copies)
                    .map(|_| json!({"time_window": "00:00-23:59 America/New_York"}))
                    .collect();
                conditions.push(json!({"identity_id": format!("u{i}")}));
                json!({"name": format!("p{i}"), "effect": "permit", "conditions": conditions})
            })
            .collect(),
    )
}

/// Like `repeated_windows`, but principals and effects repeat so that windows decide findings:
/// p2 has p0's conditions, p3 has p1's.
fn repeated_windows_that_shadow(copies: usize) -> PolicySet {
    let policies = [
        ("p0", "permit", "u0"),
        ("p1", "refuse", "u1"),
        ("p2", "refuse", "u0"),
        ("p3", "permit", "u1"),
    ];
    set_of(
        policies
            .iter()
            .map(|(name, effect, principal)| {
                let mut conditions: Vec<Value> = (0..copies)
                    .map(|_| json!({"time_window": "00:00-23:59 America/New_York"}))
                    .collect();
                conditions.push(json!({"identity_id": principal}));
                json!({"name": name, "effect": effect, "conditions": conditions})
            })
            .collect(),
    )
}

fn finding(kind: &'static str, severity: Severity, policies: &[&str], message: &str) -> Finding {
    Finding {
        kind,
        severity,
        policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        message: message.to_owned(),
    }
}

fn shadowed_copies_findings() -> Vec<Finding> {
    vec![
        finding(
            "refuse_never_fires",
            Severity::Warning,
            &["p2", "p0"],
            "policy 'p2' (refuse) never decides: 'p0' (permit, evaluated first: priority 100 vs 100) matches every call it matches",
        ),
        finding(
            "shadowed",
            Severity::Warning,
            &["p3", "p1"],
            "policy 'p3' (permit) never decides: 'p1' (refuse, evaluated first: priority 100 vs 100) matches every call it matches",
        ),
    ]
}

#[test]
fn repeated_time_windows_decide_as_a_few_copies_do() {
    assert_eq!(analyze(&repeated_windows(2, 3), None, &[]), []);
    assert_eq!(analyze(&repeated_windows(4, 100), None, &[]), []);
    let expected = shadowed_copies_findings();
    assert_eq!(
        analyze(&repeated_windows_that_shadow(3), None, &[]),
        expected
    );
    assert_eq!(
        analyze(&repeated_windows_that_shadow(100), None, &[]),
        expected
    );
}

#[test]
fn time_windows_in_zones_decide_findings_as_before() {
    let set = set_of(vec![
        json!({"name": "office_ny", "effect": "permit", "conditions": [{"time_window": "09:00-17:00 America/New_York"}, {"identity_id": "u0"}]}),
        json!({"name": "standup_ny", "effect": "refuse", "conditions": [{"time_window": "10:00-11:00 America/New_York"}, {"identity_id": "u0"}]}),
        json!({"name": "night_kolkata", "effect": "refuse", "conditions": [{"time_window": "22:00-06:00 Asia/Kolkata"}, {"identity_id": "u0"}]}),
        // Casablanca is UTC+0 only during Ramadan: the two windows meet then, and only then.
        json!({"name": "ramadan_noon", "effect": "refuse", "conditions": [{"time_window": "12:00-12:30 Africa/Casablanca"}, {"time_window": "12:00-12:30"}]}),
        json!({"name": "never", "effect": "permit", "conditions": [{"time_window": "09:00-12:00"}, {"time_window": "13:00-17:00"}]}),
        json!({"name": "late_utc", "effect": "permit", "conditions": [{"time_window": "23:00-23:30"}, {"identity_id": "u0"}]}),
        json!({"name": "day_ny", "effect": "permit", "conditions": [{"time_window": "00:00-23:59 America/New_York"}, {"identity_id": "u1"}]}),
        json!({"name": "noon_utc", "effect": "refuse", "conditions": [{"time_window": "12:00-12:30"}, {"identity_id": "u1"}]}),
    ]);
    let expected = vec![
        finding(
            "refuse_never_fires",
            Severity::Warning,
            &["standup_ny", "office_ny"],
            "policy 'standup_ny' (refuse) never decides: 'office_ny' (permit, evaluated first: priority 100 vs 100) matches every call it matches",
        ),
        finding(
            "time_window_never_opens",
            Severity::Warning,
            &["never"],
            "policy 'never' can never match: its time windows never open at the same time",
        ),
        finding(
            "shadowed",
            Severity::Warning,
            &["late_utc", "night_kolkata"],
            "policy 'late_utc' (permit) never decides: 'night_kolkata' (refuse, evaluated first: priority 100 vs 100) matches every call it matches",
        ),
        finding(
            "refuse_never_fires",
            Severity::Warning,
            &["noon_utc", "day_ny"],
            "policy 'noon_utc' (refuse) never decides: 'day_ny' (permit, evaluated first: priority 100 vs 100) matches every call it matches",
        ),
        finding(
            "overlap",
            Severity::Info,
            &["office_ny", "night_kolkata"],
            "permit 'office_ny' and refuse 'night_kolkata' can match the same call; 'office_ny' is evaluated first and decides",
        ),
        finding(
            "overlap",
            Severity::Info,
            &["ramadan_noon", "day_ny"],
            "refuse 'ramadan_noon' and permit 'day_ny' can match the same call; 'ramadan_noon' is evaluated first and decides",
        ),
    ];
    assert_eq!(analyze(&set, None, &[]), expected);
}

#[test]
fn a_conflict_between_names_is_unsatisfiable_whatever_the_names_say() {
    let set = set_of(vec![json!({
        "name": "two_ids",
        "effect": "permit",
        "conditions": [{"identity_id": "time windows a"}, {"identity_id": "time windows b"}]
    })]);
    let findings = analyze(&set, None, &[]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, "unsatisfiable");
}
