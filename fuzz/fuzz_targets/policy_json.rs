//! Policy JSON loader (`Gate.fromJsonFile`, `Gate.fromJson`): any bytes give a policy set or a
//! `PolicyParseError`, never a panic, a hang or an unbounded allocation.
//!
//! The candidate index of every set loaded must agree with a scan of the set.
//!
//! The loader compiles the document policy by policy as it reads it; the schema also runs on a
//! whole parsed document (`from_value`, the object loader's rules). Both must agree on every
//! input: the same policies, or the same first problem. The one difference allowed is the
//! duplicate key, which only the text loader can see (serde_json keeps the last value).
#![no_main]

use kavach_core::policy::pattern::Pattern;
use kavach_core::policy::{Condition, PolicySet};
use libfuzzer_sys::fuzz_target;

/// The index must find, in rank order, exactly the policies a scan of the whole set finds:
/// those whose first action condition matches, or that have none. A policy it missed would
/// be skipped at evaluation (a refusal lost). Probed with fixed names and with every
/// pattern's stem, bare and extended.
fn candidates_are_a_scan(set: &PolicySet) {
    let mut probes: Vec<String> = ["", "a", "delete_user", "issue_refund", "x.y.z", "é"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in set.policies() {
        for c in &p.conditions {
            if let Condition::Action(Pattern::Exact(s) | Pattern::Prefix(s)) = c {
                probes.extend([
                    s.clone(),
                    format!("{s}.x"),
                    format!("{s}é"),
                    s.chars().skip(1).collect(),
                ]);
            }
        }
    }
    for action in &probes {
        let indexed: Vec<&str> = set.candidates(action).map(|p| p.name.as_str()).collect();
        let scanned: Vec<&str> = set
            .policies()
            .iter()
            .filter(|p| {
                p.conditions
                    .iter()
                    .find_map(|c| match c {
                        Condition::Action(pattern) => Some(pattern.matches(action)),
                        _ => None,
                    })
                    .unwrap_or(true)
            })
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(indexed, scanned, "candidates for {action:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let streamed = PolicySet::from_json(text);
    if let Ok(set) = &streamed {
        candidates_are_a_scan(set);
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let whole = serde_json::from_str::<serde_json::Value>(body);
    match (streamed, whole) {
        (Ok(set), Ok(doc)) => {
            let again = PolicySet::from_value(&doc).unwrap_or_else(|e| {
                panic!("streamed loader accepted, whole-document pass refused: {e}")
            });
            assert_eq!(
                set.policies(),
                again.policies(),
                "the two passes compiled different policies"
            );
        }
        (Ok(_), Err(e)) => panic!("streamed loader accepted text serde_json refuses: {e}"),
        (Err(streamed), Ok(doc)) => {
            let message = streamed.to_string();
            if message.starts_with("invalid JSON") {
                assert!(
                    message.contains("duplicate"),
                    "valid JSON refused as invalid: {message}"
                );
            } else {
                let whole = PolicySet::from_value(&doc).err().unwrap_or_else(|| {
                    panic!("whole-document pass accepted what the streamed one refused: {message}")
                });
                assert_eq!(
                    message,
                    whole.to_string(),
                    "the two passes report different problems"
                );
            }
        }
        (Err(streamed), Err(_)) => {
            // Not JSON: the text's problem comes first, whatever policy before it was invalid.
            let message = streamed.to_string();
            assert!(
                message.starts_with("invalid JSON") || message == "empty JSON document",
                "text serde_json refuses was reported as {message}"
            );
        }
    }
});
