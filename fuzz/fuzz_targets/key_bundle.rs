//! Public-key bundle JSON (`PublicKeyBundle.fromJson`, directory entries): parse, validate,
//! decode the keys it carries, and round-trip what parses.
#![no_main]

use kavach_pq::chrono::Utc;
use kavach_pq::PublicKeyBundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bundle) = PublicKeyBundle::from_json(text) else {
        return;
    };
    let _ = bundle.validate();
    let _ = bundle.is_expired_at(Utc::now());
    let _ = bundle.ml_dsa_verifier();
    let _ = bundle.verify_ed25519(b"m", &[0u8; 64]);
    let again = PublicKeyBundle::from_json(&bundle.to_json());
    assert!(
        again.is_ok(),
        "a parsed bundle does not re-parse: {again:?}"
    );
});
