//! Param names and string values are compared in NFC on both sides: a `param_in` deny list or
//! a bound on a non-ASCII field sees every canonically equivalent spelling, and two spellings
//! of one name in one context are refused rather than left to chance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use kavach_core::gate::{Gate, GateConfig};
use kavach_core::invariants::Invariant;
use kavach_core::policy::PolicySet;
use kavach_core::{ActionContext, ParamValue, RefuseCode};

const NFC: &str = "T\u{fc}rkiye";
const NFD: &str = "Tu\u{308}rkiye";

/// A context as the binding hands it to the gate: normalized.
fn normalized(mut c: ActionContext) -> ActionContext {
    c.normalize();
    c
}

fn embargo(spelling: &str) -> Arc<Gate> {
    let json = format!(
        r#"{{"policies":[
          {{"name":"embargo","effect":"refuse","priority":1,"conditions":[{{"param_in":{{"field":"country","values":["{spelling}"]}}}}]}},
          {{"name":"all","effect":"permit","conditions":[]}}]}}"#
    );
    gate_json(&json).0
}

#[test]
fn a_param_in_deny_list_sees_every_spelling_of_its_values() {
    for policy_spelling in [NFC, NFD] {
        let gate = embargo(policy_spelling);
        for context_spelling in [NFC, NFD] {
            let c = normalized(with_text(agent("ship"), "country", context_spelling));
            assert_eq!(
                code(&eval(&gate, &c)),
                Some(RefuseCode::PolicyDenied),
                "policy {policy_spelling:?}, context {context_spelling:?}"
            );
        }
        let other = normalized(with_text(agent("ship"), "country", "France"));
        assert!(eval(&gate, &other).decision.is_permit());
    }
}

#[test]
fn bounds_and_invariants_on_a_non_ascii_field_see_every_spelling_of_its_name() {
    let json = r#"{"policies":[
      {"name":"big","effect":"refuse","priority":1,"conditions":[{"param_min":{"field":"gro\u0308sse","min":100}}]},
      {"name":"all","effect":"permit","conditions":[]}]}"#;
    let gate = gate_json(json).0;
    let c = normalized(with_num(agent("order"), "gr\u{f6}sse", 500.0));
    assert_eq!(code(&eval(&gate, &c)), Some(RefuseCode::PolicyDenied));

    let config = GateConfig {
        invariants: vec![Invariant::new("cap", "gr\u{f6}sse", 10.0).unwrap()],
        ..GateConfig::default()
    };
    let all =
        PolicySet::from_json(r#"{"policies":[{"name":"all","effect":"permit","conditions":[]}]}"#)
            .unwrap();
    let (capped, _) = gate_with(all, config);
    let c = normalized(with_num(agent("order"), "gro\u{308}sse", 500.0));
    assert_eq!(
        code(&eval(&capped, &c)),
        Some(RefuseCode::InvariantViolation)
    );
}

#[test]
fn two_spellings_of_one_param_name_are_an_invalid_context() {
    let gate = embargo(NFC);
    let mut c = agent("ship");
    c.params
        .push((format!("{NFC}-code"), ParamValue::Number(1.0)));
    c.params
        .push((format!("{NFD}-code"), ParamValue::Number(5000.0)));
    let v = eval(&gate, &normalized(c));
    assert_eq!(code(&v), Some(RefuseCode::InvalidContext));
    assert!(
        refusal(&v)
            .reason
            .contains("is given twice (two Unicode spellings of one name)"),
        "{}",
        refusal(&v).reason
    );
}

/// U+212A KELVIN SIGN is `K` in NFC: a non-ASCII key that is one name with an ASCII one.
#[test]
fn an_ascii_param_name_and_a_spelling_whose_nfc_is_ascii_are_an_invalid_context() {
    let gate = embargo(NFC);
    for names in [["apiKey", "api\u{212A}ey"], ["api\u{212A}ey", "apiKey"]] {
        let mut c = agent("ship");
        c.params.push((names[0].into(), ParamValue::Number(1.0)));
        c.params.push((names[1].into(), ParamValue::Number(5000.0)));
        let v = eval(&gate, &normalized(c));
        assert_eq!(code(&v), Some(RefuseCode::InvalidContext), "{names:?}");
    }
}
