//! A whole audit chain (`SignedAuditChain.verifyJsonl`, `verifyFile`): the windowed blob
//! verifier, and the streaming reader, which must agree with it.
#![no_main]

use std::sync::OnceLock;

use kavach_fuzz::signer_bundle;
use kavach_pq::audit::{verify_jsonl, verify_reader};
use kavach_pq::PublicKeyBundle;
use libfuzzer_sys::fuzz_target;

fn bundle() -> &'static PublicKeyBundle {
    static B: OnceLock<PublicKeyBundle> = OnceLock::new();
    B.get_or_init(signer_bundle)
}

fuzz_target!(|data: &[u8]| {
    // Both modes: the bundle's own (hybrid) and PQ-only asked for explicitly.
    for mode in [None, Some(false)] {
        let blob = verify_jsonl(data, bundle(), mode, None);
        // The streaming reader repeats every signature check, so it runs when the blob
        // verified (and must then count the same entries) or when the input is small enough
        // to be cheap.
        if blob.is_ok() || data.len() < 4096 {
            let streamed = verify_reader(std::io::Cursor::new(data), bundle(), mode, None);
            assert_eq!(
                blob.as_ref().ok(),
                streamed.as_ref().ok(),
                "blob and streaming verification disagree ({mode:?}): {blob:?} vs {streamed:?}"
            );
        }
    }
});
