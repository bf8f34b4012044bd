//! Malformed policies are load errors that name the policy and the offending key; the same
//! mistakes in TOML give the same messages as in JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kavach_core::policy::PolicySet;
use kavach_core::ErrorCode;

fn json_err(doc: &str) -> String {
    let e = PolicySet::from_json(doc).expect_err(doc);
    assert_eq!(e.code(), ErrorCode::PolicyParse);
    e.to_string()
}

fn toml_err(doc: &str) -> String {
    let e = PolicySet::from_toml(doc).expect_err(doc);
    assert_eq!(e.code(), ErrorCode::PolicyParse);
    e.to_string()
}

/// A one-policy document named `x` with the given condition (JSON text).
fn cond(c: &str) -> String {
    format!(r#"{{"policies":[{{"name":"x","effect":"permit","conditions":[{c}]}}]}}"#)
}

#[test]
fn malformed_policies_name_the_policy_and_the_key() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (cond(r#"{"idnetity_kind":"agent"}"#), vec!["policy 'x': unknown condition 'idnetity_kind'"]),
        (cond(r#"{"identity_kind":"robot"}"#), vec!["policy 'x'", "'identity_kind'", "'robot'"]),
        (cond(r#"{"identity_kind":5}"#), vec!["policy 'x'", "'identity_kind'", "non-empty string"]),
        (cond(r#"{"identity_role":""}"#), vec!["policy 'x'", "'identity_role'"]),
        (cond(r#"{"identity_id":["a"]}"#), vec!["policy 'x'", "'identity_id'"]),
        (cond(r#"{"action":"re*fund"}"#), vec!["policy 'x'", "'action'", "'re*fund'"]),
        (cond(r#"{"resource":true}"#), vec!["policy 'x'", "'resource'"]),
        (cond(r#"{"param_max":{"field":"amount"}}"#), vec!["policy 'x'", "'param_max'", "missing key 'max'"]),
        (cond(r#"{"param_max":{"field":"amount","max":"1000"}}"#), vec!["policy 'x'", "'param_max'", "key 'max'", "finite number"]),
        (cond(r#"{"param_max":{"field":"amount","max":10,"maxx":1}}"#), vec!["policy 'x'", "'param_max'", "unknown key 'maxx'"]),
        (cond(r#"{"param_min":{"max":1,"field":"a"}}"#), vec!["policy 'x'", "'param_min'", "unknown key 'max'"]),
        (cond(r#"{"param_min":{"min":1}}"#), vec!["policy 'x'", "'param_min'", "missing key 'field'"]),
        (cond(r#"{"param_in":{"field":"c","values":"INR"}}"#), vec!["policy 'x'", "'param_in'", "key 'values'"]),
        (cond(r#"{"param_in":{"field":"c","values":["INR",1]}}"#), vec!["policy 'x'", "'param_in'", "key 'values'", "only strings"]),
        (cond(r#"{"param_in":{"field":"c","values":[]}}"#), vec!["policy 'x'", "'param_in'", "key 'values'"]),
        (cond(r#"{"rate_limit":{"max":-1,"window":"1h"}}"#), vec!["policy 'x'", "'rate_limit'", "key 'max'"]),
        (cond(r#"{"rate_limit":{"max":2.5,"window":"1h"}}"#), vec!["policy 'x'", "'rate_limit'", "key 'max'"]),
        (cond(r#"{"rate_limit":{"max":5,"window":"1 hour"}}"#), vec!["policy 'x'", "'rate_limit'", "key 'window'", "'1 hour'"]),
        (cond(r#"{"rate_limit":{"max":5,"window":3600}}"#), vec!["policy 'x'", "'rate_limit'", "key 'window'"]),
        (cond(r#"{"rate_limit":{"max":5}}"#), vec!["policy 'x'", "'rate_limit'", "missing key 'window'"]),
        (cond(r#"{"session_age_max":"5y"}"#), vec!["policy 'x'", "'session_age_max'", "'5y'"]),
        (cond(r#"{"time_window":"09:00-18:00 Mars/Olympus"}"#), vec!["policy 'x'", "'time_window'", "'Mars/Olympus'"]),
        (cond(r#"{"time_window":"9-18"}"#), vec!["policy 'x'", "'time_window'", "'9-18'"]),
        (cond(r#"{"action":"a","identity_kind":"agent"}"#), vec!["policy 'x'", "condition #0", "exactly one key"]),
        (cond(r#""action""#), vec!["policy 'x'", "condition #0", "object"]),
        (r#"{"policies":[{"name":"x","effect":"allow","conditions":[]}]}"#.into(), vec!["policy 'x'", "key 'effect'", "'allow'"]),
        (r#"{"policies":[{"name":"x","effect":"refuse","conditions":[{"rate_limit":{"max":5,"window":"1h"}}]}]}"#.into(), vec!["policy 'x'", "'rate_limit'", "only allowed in permit policies"]),
        (r#"{"policies":[{"name":"x","conditions":[]}]}"#.into(), vec!["policy 'x'", "missing key 'effect'"]),
        (r#"{"policies":[{"name":"x","effect":"permit"}]}"#.into(), vec!["policy 'x'", "missing key 'conditions'"]),
        (r#"{"policies":[{"name":"x","effect":"permit","conditions":{}}]}"#.into(), vec!["policy 'x'", "key 'conditions'", "array"]),
        (r#"{"policies":[{"name":"x","effect":"permit","conditions":[],"priorty":1}]}"#.into(), vec!["policy 'x'", "unknown key 'priorty'"]),
        (r#"{"policies":[{"name":"x","effect":"permit","conditions":[],"priority":1.5}]}"#.into(), vec!["policy 'x'", "key 'priority'", "integer"]),
        (r#"{"policies":[{"name":"x","effect":"permit","conditions":[],"priority":"1"}]}"#.into(), vec!["policy 'x'", "key 'priority'"]),
        (r#"{"policies":[{"name":"x","effect":"permit","conditions":[],"description":7}]}"#.into(), vec!["policy 'x'", "key 'description'"]),
        (r#"{"policies":[{"effect":"permit","conditions":[]}]}"#.into(), vec!["policy #0", "missing key 'name'"]),
        (r#"{"policies":[{"name":"ok","effect":"permit","conditions":[]},{"name":"","effect":"permit","conditions":[]}]}"#.into(), vec!["policy #1", "key 'name'"]),
        (r#"{"policies":[{"name":"x","effect":"permit","conditions":[]},{"name":"x","effect":"refuse","conditions":[]}]}"#.into(), vec!["policy 'x'", "duplicate policy name"]),
        (r#"{"polices":[]}"#.into(), vec!["unknown top-level key 'polices'"]),
        (r#"{"policies":{}}"#.into(), vec!["'policies'", "array"]),
        (r#"{"policies":[],"policy":[]}"#.into(), vec!["'policies'", "'policy'"]),
        (r#"[]"#.into(), vec!["'policies'"]),
        (r#"{"policies":[7]}"#.into(), vec!["policy #0", "object"]),
        (r#"{"policies":["#.into(), vec!["invalid JSON"]),
        (r#"{"policies":[{"name":"x","effect":"refuse","effect":"permit","conditions":[]}]}"#.into(), vec!["invalid JSON", "duplicate key 'effect'"]),
        (r#"{"policies":[]} {}"#.into(), vec!["invalid JSON"]),
    ];
    assert!(cases.len() >= 40);
    for (doc, needles) in &cases {
        let msg = json_err(doc);
        for n in needles {
            assert!(
                msg.contains(n),
                "doc {doc}\n  message {msg:?}\n  lacks {n:?}"
            );
        }
        // Messages start lowercase (house style) and have no trailing period.
        assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
        // The same mistake through the object loader gives the same message (documents that
        // are not valid JSON text, duplicate keys included, have no object form).
        if msg.starts_with("invalid JSON") {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) {
            assert_eq!(PolicySet::from_value(&v).unwrap_err().to_string(), msg);
        }
    }
}

/// JSON text is compiled policy by policy as it is read; a document with several problems
/// still reports the one a whole-document pass reports: the JSON text's, then the document's
/// shape, then the first problem in declaration order.
#[test]
fn json_documents_with_several_problems_report_the_first_as_a_whole_document_pass_does() {
    let bad = r#"{"name":"b","effect":"allow","conditions":[]}"#;
    let ok = |n: &str| format!(r#"{{"name":"{n}","effect":"permit","conditions":[]}}"#);
    let cases: Vec<(String, &str)> = vec![
        // The shape of the document first, wherever its key stands.
        (
            format!(r#"{{"policies":[{bad}],"version":2}}"#),
            "unknown top-level key 'version'",
        ),
        (format!(r#"{{"policies":[{bad}],"policy":[]}}"#), "not both"),
        (format!(r#"{{"policy":[{bad}],"policies":7}}"#), "not both"),
        // A duplicate name before an invalid policy, and the other way round.
        (
            format!(r#"{{"policies":[{},{},{bad}]}}"#, ok("a"), ok("a")),
            "policy 'a': duplicate policy name (policies #0 and #1)",
        ),
        (
            format!(r#"{{"policies":[{},{bad},{}]}}"#, ok("a"), ok("a")),
            "policy 'b': key 'effect'",
        ),
        // The alias, and a list that is not an array.
        (
            format!(r#"{{"policy":[{},{bad}]}}"#, ok("a")),
            "policy 'b': key 'effect'",
        ),
        (
            r#"{"policies":{"name":"x"}}"#.into(),
            "top-level key 'policies' must be an array",
        ),
        (
            r#"{"policy":"x"}"#.into(),
            "top-level key 'policy' must be an array",
        ),
        (r#" ["policies"]"#.into(), "got array"),
        (r#"null"#.into(), "got null"),
    ];
    for (doc, needle) in &cases {
        let msg = json_err(doc);
        assert!(
            msg.contains(needle),
            "doc {doc}\n  message {msg:?}\n  lacks {needle:?}"
        );
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(
            PolicySet::from_value(&v).unwrap_err().to_string(),
            msg,
            "{doc}"
        );
    }
    // Not even valid JSON: the text's problem, though an earlier policy is invalid too.
    for doc in [
        format!(r#"{{"policies":[{bad},{}]"#, ok("a")),
        format!(r#"{{"policies":[{bad}],"policies":[]}}"#),
        format!(r#"{{"policies":[{bad},{{"name":"c","name":"d"}}]}}"#),
    ] {
        assert!(json_err(&doc).starts_with("invalid JSON"), "{doc}");
    }
    // A valid document read in pieces is the one a whole-document pass builds.
    let doc = format!(r#"{{"policy":[{},{}]}}"#, ok("a"), ok("c"));
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(
        PolicySet::from_json(&doc).unwrap().policies(),
        PolicySet::from_value(&v).unwrap().policies()
    );
}

#[test]
fn toml_mistakes_name_the_policy_and_the_key() {
    let cases: &[(&str, &[&str])] = &[
        ("[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ idnetity_kind = \"agent\" }]\n", &["policy 'x': unknown condition 'idnetity_kind'"]),
        ("[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ param_max = { field = \"a\", max = nan } }]\n", &["policy 'x'", "'max'", "finite"]),
        ("[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ param_min = { field = \"a\", min = -inf } }]\n", &["policy 'x'", "'min'", "finite"]),
        ("[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ time_window = 09:00:00 }]\n", &["policy 'x'", "time_window", "datetime"]),
        ("[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = []\nstarts = 2026-01-01\n", &["policy 'x'", "'starts'", "datetime"]),
        ("[[policy]]\nname = \"x\"\neffect = \"deny\"\nconditions = []\n", &["policy 'x'", "key 'effect'", "'deny'"]),
        ("[policy]\nname = \"x\"\n", &["'policy'", "[[policy]]"]),
        ("[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ rate_limit = { max = 5, window = \"24hours\" } }]\n", &["policy 'x'", "'rate_limit'", "'window'", "'24hours'"]),
        ("version = 2\n", &["unknown top-level key 'version'"]),
        ("[[policy]\n", &["invalid TOML"]),
        ("[[policy]]\neffect = \"permit\"\nconditions = [{ param_max = { field = \"a\", max = nan } }]\n", &["policy #0", "'max'"]),
    ];
    for (doc, needles) in cases {
        let msg = toml_err(doc);
        for n in *needles {
            assert!(
                msg.contains(n),
                "doc {doc}\n  message {msg:?}\n  lacks {n:?}"
            );
        }
    }
}

/// TOML tables keep their keys in document order (the toml crate's `preserve_order`, which
/// also halves the parsed document's size): of two values the language cannot hold, the one
/// written first is reported, whatever the keys' alphabetical order.
#[test]
fn toml_values_the_language_cannot_hold_are_reported_in_document_order() {
    let doc = "[[policy]]\nname = \"x\"\neffect = \"permit\"\nstarts = 2026-01-01\nconditions = [{ time_window = 09:00:00 }]\n";
    let msg = toml_err(doc);
    assert!(msg.contains("key 'starts'"), "{msg}");
    let doc = "[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ time_window = 09:00:00 }]\nstarts = 2026-01-01\n";
    let msg = toml_err(doc);
    assert!(msg.contains("condition 'time_window'"), "{msg}");
}

#[test]
fn same_mistake_same_message_in_toml_and_json() {
    let toml = "[[policy]]\nname = \"x\"\neffect = \"permit\"\nconditions = [{ param_max = { field = \"a\", mx = 1 } }]\n";
    let json = cond(r#"{"param_max":{"field":"a","mx":1}}"#);
    assert_eq!(toml_err(toml), json_err(&json));
}

#[test]
fn condition_keys_are_exported() {
    assert_eq!(kavach_core::policy::CONDITION_KEYS.len(), 11);
    assert!(kavach_core::policy::CONDITION_KEYS.contains(&"time_window"));
}

#[test]
fn files_load_through_the_same_schema() {
    let dir = std::env::temp_dir().join(format!("kavach-core-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("p.toml");
    std::fs::write(
        &toml,
        "[[policy]]\nname = \"r\"\neffect = \"permit\"\nconditions = [{ action = \"read\" }]\n",
    )
    .unwrap();
    assert_eq!(PolicySet::from_toml_file(&toml).unwrap().len(), 1);
    let json = dir.join("p.json");
    std::fs::write(&json, cond(r#"{"acton":"read"}"#)).unwrap();
    let e = PolicySet::from_json_file(&json).unwrap_err();
    assert!(e
        .to_string()
        .contains("policy 'x': unknown condition 'acton'"));
    let e = PolicySet::from_toml_file(dir.join("missing.toml")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(e.to_string().contains("missing.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}
