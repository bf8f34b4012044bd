//! Every condition of the policy language, judged through the real gate pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kavach_core::{PrincipalKind, RefuseCode};

#[test]
fn identity_kind_role_and_id() {
    let (g, _) = gate_json(&one(r#"[{"identity_kind":"agent"}]"#));
    assert!(permitted(&g, &agent("x")));
    assert!(!permitted(&g, &ctx("u", PrincipalKind::User, "x")));

    let (g, _) = gate_json(&one(r#"[{"identity_role":"support"}]"#));
    let mut c = agent("x");
    assert!(!permitted(&g, &c));
    c.roles = vec!["Support".into(), "supportx".into()];
    assert!(!permitted(&g, &c), "roles match exactly");
    c.roles.push("support".into());
    assert!(permitted(&g, &c));

    let (g, _) = gate_json(&one(r#"[{"identity_id":"agent-bot"}]"#));
    assert!(permitted(&g, &agent("x")));
    assert!(!permitted(
        &g,
        &ctx("agent-bot2", PrincipalKind::Agent, "x")
    ));
}

#[test]
fn action_patterns() {
    let (g, _) = gate_json(&one(r#"[{"action":"refund.*"}]"#));
    for ok in ["refund", "refund.issue", "refunds"] {
        assert!(permitted(&g, &agent(ok)), "{ok}");
    }
    for no in ["refun", "issue_refund", "Refund"] {
        assert!(!permitted(&g, &agent(no)), "{no}");
    }
    let (g, _) = gate_json(&one(r#"[{"action":"refund*"}]"#));
    assert!(permitted(&g, &agent("refund_small")));
    let (g, _) = gate_json(&one(r#"[{"action":"*"}]"#));
    assert!(permitted(&g, &agent("anything")));
    let (g, _) = gate_json(&one(r#"[{"action":"issue_refund"}]"#));
    assert!(permitted(&g, &agent("issue_refund")));
    assert!(!permitted(&g, &agent("issue_refund2")));
    assert!(!permitted(&g, &agent("issue_refun")));
}

#[test]
fn resource_patterns() {
    let (g, _) = gate_json(&one(r#"[{"resource":"orders/*"}]"#));
    let mut c = agent("read");
    assert!(!permitted(&g, &c), "no resource is false");
    c.resource = Some("orders/17".into());
    assert!(permitted(&g, &c));
    c.resource = Some("order".into());
    assert!(!permitted(&g, &c));
    let (g, _) = gate_json(&one(r#"[{"resource":"*"}]"#));
    assert!(!permitted(&g, &agent("read")), "'*' still needs a resource");
}

#[test]
fn param_max_and_min() {
    let (g, _) = gate_json(&one(r#"[{"param_max":{"field":"amount","max":1000}}]"#));
    assert!(permitted(&g, &with_num(agent("r"), "amount", 1000.0)));
    assert!(permitted(&g, &with_num(agent("r"), "amount", -5.0)));
    assert!(!permitted(&g, &with_num(agent("r"), "amount", 1000.01)));
    assert!(!permitted(&g, &agent("r")), "missing param is false");
    assert!(
        !permitted(&g, &with_text(agent("r"), "amount", "5")),
        "text is not a number"
    );
    assert!(!permitted(&g, &with_num(agent("r"), "other", 1.0)));

    let (g, _) = gate_json(&one(r#"[{"param_min":{"field":"amount","min":10.5}}]"#));
    assert!(permitted(&g, &with_num(agent("r"), "amount", 10.5)));
    assert!(!permitted(&g, &with_num(agent("r"), "amount", 10.49)));
    assert!(!permitted(&g, &agent("r")));
    assert!(!permitted(&g, &with_text(agent("r"), "amount", "100")));
}

#[test]
fn param_in() {
    let (g, _) = gate_json(&one(
        r#"[{"param_in":{"field":"currency","values":["INR","USD"]}}]"#,
    ));
    assert!(permitted(&g, &with_text(agent("r"), "currency", "INR")));
    assert!(
        !permitted(&g, &with_text(agent("r"), "currency", "inr")),
        "case-sensitive"
    );
    assert!(!permitted(&g, &with_text(agent("r"), "currency", "EUR")));
    assert!(!permitted(&g, &agent("r")));
    let (g, _) = gate_json(&one(r#"[{"param_in":{"field":"n","values":["1"]}}]"#));
    assert!(
        !permitted(&g, &with_num(agent("r"), "n", 1.0)),
        "a number never matches"
    );
}

#[test]
fn rate_limit_exactly_max_then_refused_then_frees() {
    let (g, clock) = gate_json(&one(
        r#"[{"action":"pay"},{"rate_limit":{"max":3,"window":"1m"}}]"#,
    ));
    for _ in 0..3 {
        assert!(permitted(&g, &agent("pay")));
    }
    let v = eval(&g, &agent("pay"));
    let r = refusal(&v);
    assert_eq!(r.code, RefuseCode::RateLimitExceeded);
    assert_eq!(r.evaluator, "policy");
    assert!(
        r.reason.contains("policy 'p'") && r.reason.contains("3 per 1m"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("frees up in"), "{}", r.reason);
    // Other principals and actions have their own counters.
    assert!(permitted(&g, &ctx("other", PrincipalKind::Agent, "pay")));
    // Refused evaluations count too: the 4th and 5th attempts at t=0 and t=10s keep the
    // window full until the third-oldest hit leaves it.
    clock.advance_ms(10_000);
    assert_eq!(
        code(&eval(&g, &agent("pay"))),
        Some(RefuseCode::RateLimitExceeded)
    );
    clock.advance_ms(50_000); // t = 60s: the first three hits have left the window.
    assert!(permitted(&g, &agent("pay")));
}

#[test]
fn reload_keeps_every_limits_count_whatever_else_the_policy_gains_loses_or_reorders() {
    let daily = r#"{"rate_limit":{"max":3,"window":"24h"}}"#;
    let per_minute = r#"{"rate_limit":{"max":10,"window":"1m"}}"#;
    let set = |conditions: &[&str]| {
        kavach_core::policy::PolicySet::from_json(&one(&format!(
            r#"[{{"action":"pay"}},{}]"#,
            conditions.join(",")
        )))
        .unwrap()
    };
    let (g, _) = gate_with(set(&[daily]), kavach_core::gate::GateConfig::default());
    for _ in 0..3 {
        assert!(permitted(&g, &agent("pay")));
    }
    let exhausted = || code(&eval(&g, &agent("pay"))) == Some(RefuseCode::RateLimitExceeded);
    assert!(exhausted());

    g.reload(set(&[daily, per_minute]));
    assert!(
        exhausted(),
        "adding a second limit keeps the first one's count"
    );
    g.reload(set(&[daily]));
    assert!(
        exhausted(),
        "removing the second limit keeps the first one's count"
    );
    g.reload(set(&[per_minute, daily]));
    assert!(exhausted(), "a limit added in front keeps the daily count");
    g.reload(set(&[daily, per_minute]));
    assert!(exhausted(), "reordering the limits keeps the daily count");
    g.reload(set(&[per_minute, daily]));
    g.reload(set(&[daily]));
    assert!(
        exhausted(),
        "removing the limit in front keeps the daily count"
    );
    g.reload(set(&[r#"{"rate_limit":{"max":3,"window":"1d"}}"#]));
    assert!(exhausted(), "'1d' is the window '24h' was");
}

#[test]
fn rate_limit_frees_up_message_counts_refused_hits() {
    let (g, clock) = gate_json(&one(r#"[{"rate_limit":{"max":1,"window":"10s"}}]"#));
    assert!(permitted(&g, &agent("a")));
    clock.advance_ms(4_000);
    let v = eval(&g, &agent("a"));
    // The refused hit at t=4s counts, so a further hit fits only once it leaves: at t=14s.
    assert!(
        refusal(&v).reason.contains("frees up in 10s"),
        "{}",
        refusal(&v).reason
    );
}

#[test]
fn rate_limit_prefers_a_later_permit_policy() {
    let (g, _) = gate_json(
        r#"{"policies":[
        {"name":"fast","effect":"permit","priority":1,"conditions":[{"action":"x"},{"rate_limit":{"max":1,"window":"1h"}}]},
        {"name":"slow","effect":"permit","priority":2,"conditions":[{"action":"x"},{"param_max":{"field":"n","max":5}}]}]}"#,
    );
    assert!(permitted(&g, &agent("x")));
    // `fast` is spent: `slow` decides (permit for small n, else the rate limit is the cause).
    assert!(permitted(&g, &with_num(agent("x"), "n", 1.0)));
    let v = eval(&g, &with_num(agent("x"), "n", 9.0));
    assert_eq!(refusal(&v).code, RefuseCode::RateLimitExceeded);
    assert!(refusal(&v).reason.contains("'fast'"));
}

#[test]
fn rate_limit_not_the_cause_when_other_conditions_fail() {
    let (g, _) = gate_json(&one(
        r#"[{"rate_limit":{"max":1,"window":"1h"}},{"identity_kind":"user"}]"#,
    ));
    assert_eq!(
        code(&eval(&g, &agent("x"))),
        Some(RefuseCode::NoPolicyMatch)
    );
    assert_eq!(
        code(&eval(&g, &agent("x"))),
        Some(RefuseCode::NoPolicyMatch)
    );
}

#[test]
fn session_age_max() {
    let (g, clock) = gate_json(&one(r#"[{"session_age_max":"1h"}]"#));
    let mut c = agent("x");
    c.session_started_at = Some(NOON_MS / 1000 - 3600);
    assert!(permitted(&g, &c), "exactly 1h old");
    c.session_started_at = Some(NOON_MS / 1000 - 3601);
    assert!(!permitted(&g, &c));
    // Learned on first sight from the session id.
    let mut s = agent("x");
    s.session_id = Some("sess-1".into());
    assert!(permitted(&g, &s));
    clock.advance_ms(3_600_000);
    assert!(permitted(&g, &s));
    clock.advance_ms(1_000);
    assert!(!permitted(&g, &s));
}

#[test]
fn time_windows_with_injected_clock() {
    let (g, clock) = gate_json(&one(r#"[{"time_window":"22:00-06:00"}]"#));
    assert!(!permitted(&g, &agent("x")), "noon is outside");
    clock.set_ms(NOON_MS + 10 * 3_600_000); // 22:00 UTC
    assert!(permitted(&g, &agent("x")));
    clock.set_ms(NOON_MS + 18 * 3_600_000 - 60_000); // 05:59 next day
    assert!(permitted(&g, &agent("x")));
    clock.set_ms(NOON_MS + 18 * 3_600_000); // 06:00
    assert!(!permitted(&g, &agent("x")));

    let (g, clock) = gate_json(&one(r#"[{"time_window":"09:00-18:00 Asia/Kolkata"}]"#));
    assert!(permitted(&g, &agent("x")), "12:00 UTC is 17:30 IST");
    clock.set_ms(NOON_MS + 30 * 60_000); // 18:00 IST
    assert!(!permitted(&g, &agent("x")));
    clock.set_ms(NOON_MS - 9 * 3_600_000 + 30 * 60_000); // 03:30 UTC = 09:00 IST
    assert!(permitted(&g, &agent("x")));
}

#[test]
fn empty_conditions_match_everything_and_empty_set_refuses_everything() {
    let (g, _) = gate_json(&one("[]"));
    assert!(permitted(&g, &agent("anything")));
    for empty in ["{}", r#"{"policies":[]}"#, r#"{"policy":[]}"#] {
        let (g, _) = gate_json(empty);
        assert_eq!(
            code(&eval(&g, &agent("x"))),
            Some(RefuseCode::NoPolicyMatch),
            "{empty:?}"
        );
    }
    let set = kavach_core::policy::PolicySet::from_toml("").unwrap();
    assert!(set.is_empty());
}

#[test]
fn priority_order_and_ties() {
    // Lower priority first; equal priorities keep declaration order.
    let (g, _) = gate_json(
        r#"{"policies":[
        {"name":"allow","effect":"permit","conditions":[{"action":"x"}]},
        {"name":"deny","effect":"refuse","priority":10,"conditions":[{"action":"x"}]}]}"#,
    );
    let v = eval(&g, &agent("x"));
    assert_eq!(refusal(&v).code, RefuseCode::PolicyDenied);
    assert!(refusal(&v).reason.contains("'deny'"));

    let (g, _) = gate_json(
        r#"{"policies":[
        {"name":"first","effect":"permit","priority":5,"conditions":[{"action":"x*"}]},
        {"name":"second","effect":"refuse","priority":5,"conditions":[{"action":"x"}]}]}"#,
    );
    assert!(
        permitted(&g, &agent("x")),
        "tie: declaration order, across index buckets"
    );

    let (g, _) = gate_json(
        r#"{"policies":[
        {"name":"a","effect":"refuse","priority":5,"conditions":[]},
        {"name":"b","effect":"permit","priority":-1,"conditions":[{"action":"x"}]}]}"#,
    );
    assert!(permitted(&g, &agent("x")), "negative priority first");
    assert_eq!(code(&eval(&g, &agent("y"))), Some(RefuseCode::PolicyDenied));
}

#[test]
fn candidates_merge_across_exact_prefix_and_catch_all() {
    let set = kavach_core::policy::PolicySet::from_json(
        r#"{"policies":[
        {"name":"all","effect":"permit","priority":30,"conditions":[]},
        {"name":"pre2","effect":"permit","priority":20,"conditions":[{"action":"ref*"}]},
        {"name":"exact","effect":"permit","priority":40,"conditions":[{"action":"refund"}]},
        {"name":"pre1","effect":"permit","priority":10,"conditions":[{"action":"refund.*"}]},
        {"name":"other","effect":"permit","priority":0,"conditions":[{"action":"pay"}]},
        {"name":"anyp","effect":"permit","priority":25,"conditions":[{"action":"*"}]}]}"#,
    )
    .unwrap();
    let names: Vec<&str> = set.candidates("refund").map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["pre1", "pre2", "anyp", "all", "exact"]);
    let names: Vec<&str> = set.candidates("re").map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["anyp", "all"]);
}

#[test]
fn conditions_short_circuit_in_order() {
    // The rate limit after a failing condition is never reached, so it never counts.
    let (g, _) = gate_json(&one(
        r#"[{"identity_kind":"user"},{"rate_limit":{"max":1,"window":"1h"}}]"#,
    ));
    for _ in 0..3 {
        assert_eq!(
            code(&eval(&g, &agent("x"))),
            Some(RefuseCode::NoPolicyMatch)
        );
    }
    let u = ctx("u", PrincipalKind::User, "x");
    assert!(permitted(&g, &u));
    assert_eq!(code(&eval(&g, &u)), Some(RefuseCode::RateLimitExceeded));
}

#[test]
fn rate_limit_max_zero_refuses_from_the_first_call_like_an_exhausted_limit() {
    let (g, clock) = gate_json(&one(
        r#"[{"action":"pay"},{"rate_limit":{"max":0,"window":"1h"}}]"#,
    ));
    for _ in 0..3 {
        let v = eval(&g, &agent("pay"));
        let r = refusal(&v);
        assert_eq!(r.code, RefuseCode::RateLimitExceeded);
        assert!(
            r.reason.contains("rate limit of 0 per 1h exceeded") && r.reason.contains("policy 'p'"),
            "{}",
            r.reason
        );
        clock.advance_ms(3_600_000);
    }
    // A later permit policy still decides, as after any exhausted limit.
    let (g, _) = gate_json(
        r#"{"policies":[
        {"name":"off","effect":"permit","priority":1,"conditions":[{"action":"x"},{"rate_limit":{"max":0,"window":"1m"}}]},
        {"name":"small","effect":"permit","priority":2,"conditions":[{"action":"x"},{"param_max":{"field":"n","max":5}}]}]}"#,
    );
    assert!(permitted(&g, &with_num(agent("x"), "n", 1.0)));
    assert_eq!(
        code(&eval(&g, &with_num(agent("x"), "n", 9.0))),
        Some(RefuseCode::RateLimitExceeded)
    );
}

#[test]
fn session_age_max_without_session_fields_is_a_fresh_session() {
    let (g, _) = gate_json(&one(r#"[{"session_age_max":"1h"}]"#));
    assert!(permitted(&g, &agent("x")), "no session fields: age 0");
    let (g, _) = gate_json(&one(r#"[{"session_age_max":"1s"}]"#));
    assert!(
        permitted(&g, &agent("x")),
        "age 0 fits the smallest maximum"
    );
}

#[test]
fn empty_json_document_is_a_parse_error_and_empty_toml_the_kill_switch() {
    for blank in ["", "  ", "\n\t "] {
        let err = kavach_core::policy::PolicySet::from_json(blank).unwrap_err();
        assert_eq!(err.code().as_str(), "POLICY_PARSE", "{blank:?}");
        assert!(err.to_string().contains("empty JSON document"), "{err}");
    }
    assert!(kavach_core::policy::PolicySet::from_toml("")
        .unwrap()
        .is_empty());
}

#[test]
fn session_started_at_in_the_future_or_in_milliseconds_is_invalid_context() {
    let (g, _) = gate_json(&one(r#"[{"session_age_max":"1h"}]"#));
    let now = NOON_MS / 1000;
    let mut c = agent("x");
    c.session_started_at = Some(now + 5 * 3600);
    let v = eval(&g, &c);
    assert_eq!(refusal(&v).code, RefuseCode::InvalidContext);
    assert!(
        refusal(&v).reason.contains("in the future"),
        "{}",
        refusal(&v).reason
    );
    c.session_started_at = Some(NOON_MS);
    let v = eval(&g, &c);
    assert_eq!(refusal(&v).code, RefuseCode::InvalidContext);
    assert!(
        refusal(&v).reason.contains("looks like milliseconds"),
        "{}",
        refusal(&v).reason
    );
    // Within the allowed skew: a fresh session.
    c.session_started_at = Some(now + 60);
    assert!(permitted(&g, &c));
}

#[test]
fn reads_param_names_the_params_conditions_and_invariants_read() {
    use kavach_core::gate::GateConfig;
    use kavach_core::invariants::Invariant;
    use kavach_core::policy::PolicySet;

    let set = PolicySet::from_json(
        r#"{"policies":[
          {"name":"a","effect":"permit","conditions":[{"action":"refund"},{"param_max":{"field":"amount","max":10}}]},
          {"name":"b","effect":"refuse","conditions":[{"param_min":{"field":"qty","min":5}},{"action":"ship*"}]},
          {"name":"c","effect":"permit","conditions":[{"param_in":{"field":"T\u00fcrkiye","values":["x"]}}]}]}"#,
    )
    .unwrap();
    for field in ["amount", "qty", "T\u{fc}rkiye"] {
        assert!(set.reads_param(field), "{field}");
    }
    for field in ["refund", "Amount", "amoun", "", "max", "x"] {
        assert!(!set.reads_param(field), "{field}");
    }
    let config = GateConfig {
        invariants: vec![Invariant::new("cap", "total", 100.0).unwrap()],
        ..GateConfig::default()
    };
    let (g, _) = gate_with(set, config);
    assert!(g.reads_param("total"), "an invariant's field");
    assert!(g.reads_param("amount"));
    // Compared in NFC, as a context's param names are.
    assert!(g.reads_param("Tu\u{308}rkiye"));
    assert!(!g.reads_param("Total"));

    // A reload replaces what the policies read; the invariants stay.
    g.reload(
        PolicySet::from_json(&one(
            r#"[{"param_in":{"field":"country","values":["IN"]}}]"#,
        ))
        .unwrap(),
    );
    assert!(g.reads_param("country") && g.reads_param("total"));
    assert!(!g.reads_param("amount") && !g.reads_param("qty"));
    g.reload(PolicySet::empty());
    assert!(!g.reads_param("country") && g.reads_param("total"));
}

#[test]
fn refusal_reads_params_names_the_rules_a_call_without_params_would_skip() {
    use kavach_core::gate::GateConfig;
    use kavach_core::invariants::Invariant;
    use kavach_core::policy::PolicySet;

    let set = PolicySet::from_json(
        r#"{"policies":[
          {"name":"no_bulk_orders","effect":"refuse","conditions":[{"action":"orders.*"},{"param_min":{"field":"qty","min":100}}]},
          {"name":"no_deletes","effect":"refuse","conditions":[{"action":"users.delete"}]},
          {"name":"small_refunds","effect":"permit","conditions":[{"action":"refunds.create"},{"param_max":{"field":"amount","max":10}}]},
          {"name":"rest","effect":"permit","conditions":[]}]}"#,
    )
    .unwrap();
    let (g, _) = gate_with(set.clone(), GateConfig::default());
    // A refuse policy for the action reads a param: judged without it, it would not refuse.
    assert!(g.refusal_reads_params("orders.create"));
    // A refuse policy without params, a permit policy's bound (which fails closed), no policy.
    assert!(!g.refusal_reads_params("users.delete"));
    assert!(!g.refusal_reads_params("refunds.create"));
    assert!(!g.refusal_reads_params("webhooks.create"));
    // An invariant applies to every action.
    let config = GateConfig {
        invariants: vec![Invariant::new("cap", "amount", 100.0).unwrap()],
        ..GateConfig::default()
    };
    let (g, _) = gate_with(set, config);
    assert!(g.refusal_reads_params("webhooks.create") && g.refusal_reads_params("users.delete"));
}
