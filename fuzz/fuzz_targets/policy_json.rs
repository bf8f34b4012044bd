//! Policy JSON loader (`Gate.fromJsonFile`, `Gate.fromJson`): any bytes give a policy set or a
//! `PolicyParseError`, never a panic, a hang or an unbounded allocation.
#![no_main]

use kavach_core::policy::PolicySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = PolicySet::from_json(text) {
        // The index built for the set must answer lookups for any name.
        for action in ["", "a", "delete_user", "issue_refund", "x.y.z"] {
            let _ = set.candidates(action).count();
        }
    }
});
