//! Policy TOML loader (`Gate.fromFile`, `Gate.fromToml`): any bytes give a policy set or a
//! `PolicyParseError`, never a panic, a hang or an unbounded allocation.
//!
//! TOML enters the one schema as JSON would: a document holding nothing JSON cannot hold (no
//! datetime, no `nan` or `inf`) must give what its JSON form gives through the object loader's
//! pass (`PolicySet::from_value`), the same policies or the same first problem.
#![no_main]

use kavach_core::policy::PolicySet;
use libfuzzer_sys::fuzz_target;

/// Whether `v` holds only what JSON can: no datetime, finite floats.
fn json_shaped(v: &toml::Value) -> bool {
    match v {
        toml::Value::Datetime(_) => false,
        toml::Value::Float(f) => f.is_finite(),
        toml::Value::Array(items) => items.iter().all(json_shaped),
        toml::Value::Table(t) => t.values().all(json_shaped),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = PolicySet::from_toml(text);
    if let Ok(set) = &loaded {
        for action in ["", "a", "delete_user", "issue_refund", "x.y.z"] {
            let _ = set.candidates(action).count();
        }
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Ok(table) = toml::from_str::<toml::Table>(body) else {
        // Not TOML: the loader must say so.
        let message = loaded.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("invalid TOML"),
            "text toml refuses was reported as {message:?}"
        );
        return;
    };
    if !table.values().all(json_shaped) {
        return;
    }
    let doc = serde_json::to_value(&table).expect("a JSON-shaped TOML table converts");
    match (loaded, PolicySet::from_value(&doc)) {
        (Ok(a), Ok(b)) => assert_eq!(
            a.policies(),
            b.policies(),
            "TOML and its JSON form compiled different policies"
        ),
        (Err(a), Err(b)) => assert_eq!(
            a.to_string(),
            b.to_string(),
            "TOML and its JSON form report different problems"
        ),
        (a, b) => panic!(
            "TOML gave {:?}, its JSON form {:?}",
            a.map(|s| s.len()),
            b.map(|s| s.len())
        ),
    }
});
