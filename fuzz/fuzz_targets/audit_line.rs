//! One audit JSONL line: the chain entry, the audit entry it signs, a checkpoint, and the
//! first step of chain verification under the interop signer's bundle.
#![no_main]

use std::sync::OnceLock;

use kavach_fuzz::signer_bundle;
use kavach_pq::audit::{AuditEntry, ChainEntry, ChainVerifier, Checkpoint};
use kavach_pq::PublicKeyBundle;
use libfuzzer_sys::fuzz_target;

fn bundle() -> &'static PublicKeyBundle {
    static B: OnceLock<PublicKeyBundle> = OnceLock::new();
    B.get_or_init(signer_bundle)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = ChainEntry::from_line(data) {
        let _ = entry.to_line();
    }
    let _ = AuditEntry::from_json_bytes(data);
    let _ = Checkpoint::from_json(data);
    // Both modes: the bundle's own (hybrid) and PQ-only asked for explicitly.
    for mode in [None, Some(false)] {
        if let Ok(mut v) = ChainVerifier::new(bundle(), mode, None) {
            if v.push_line(data).is_ok() {
                let _ = v.finish();
            }
        }
    }
});
