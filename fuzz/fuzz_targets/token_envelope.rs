//! Permit signature envelope: decoding, the algorithm (downgrade) check and full verification
//! against the interop token, in hybrid and PQ-only mode. Nothing but the two interop
//! envelopes may verify.
#![no_main]

use std::sync::{Arc, OnceLock};

use kavach_fuzz::{interop_token, signer_bundle};
use kavach_pq::{DirectoryTokenVerifier, PublicKeyDirectory, SignatureEnvelope, TokenFields};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    token: TokenFields,
    hybrid: DirectoryTokenVerifier,
    pq_only: DirectoryTokenVerifier,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = PublicKeyDirectory::in_memory(vec![signer_bundle()])
            .unwrap_or_else(|e| panic!("directory: {e}"));
        let dir = Arc::new(dir);
        Fixture {
            token: interop_token(),
            hybrid: DirectoryTokenVerifier::new(dir.clone(), true),
            pq_only: DirectoryTokenVerifier::new(dir, false),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(env) = SignatureEnvelope::from_bytes(data) {
        let _ = env.check_algorithm(true);
        let _ = env.check_algorithm(false);
        let _ = env.to_bytes();
    }
    let hybrid = f.hybrid.verify(&f.token, data, false).is_ok();
    let pq_only = f.pq_only.verify(&f.token, data, false).is_ok();
    // One envelope can never satisfy both modes (downgrade defence).
    assert!(!(hybrid && pq_only), "an envelope verified in both modes");
});
