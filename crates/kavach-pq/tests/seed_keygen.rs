//! Same 32-byte seed, same ML-DSA-65 key pair: the verifying key and a deterministic
//! signature (which depends on every byte of the expanded signing key) for fixed seeds,
//! pinned as SHA-256 digests of what RustCrypto `ml-dsa` 0.1.2 produced, so exported keys
//! restore to the same identity whatever the ML-DSA implementation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kavach_pq::primitives::MlDsaSigner;
use kavach_pq::SecretBytes;
use sha2::{Digest, Sha256};

/// (seed, SHA-256 of the 1952-byte verifying key, SHA-256 of the deterministic
/// empty-context signature of `MESSAGE`).
const PINNED: [([u8; 32], &str, &str); 3] = [
    (
        [0x00; 32],
        "085ba380ff386dd52e42349c6eb88489d6058ea541a4e3fb0dce9a3fd1f7a911",
        "deaed3c336cd210395dd6fa134c2e7dd82a888207b65f176d5f312fd65886264",
    ),
    (
        [0x5a; 32],
        "3c0c693a14b7ad8fcc0272eacce507b514d865a06e8058087130f50ff43cc09b",
        "6a4a0b88e9fbd09620fcff77f8119e00db479203a828c85a711c0a0cb32c3ae5",
    ),
    (
        [0xff; 32],
        "accc50ec0bce614855e62e04741f54367add7a6ec074db7369f7484e6067e224",
        "d89d07c0a79f4f65ed20a54933f2afc6683cdab5622977fcee3ee5862f2d73cd",
    ),
];

const MESSAGE: &[u8] = b"kavach seed regression";

#[test]
fn same_seed_same_ml_dsa_key_pair() {
    for (seed, vk_digest, sig_digest) in PINNED {
        let signer = MlDsaSigner::from_seed(SecretBytes::new(seed));
        let vk = signer.verifier().to_bytes();
        let sig = signer
            .sign_deterministic_with_context(MESSAGE, b"")
            .unwrap();
        let tag = seed[0];
        assert_eq!(
            hex::encode(Sha256::digest(&vk)),
            vk_digest,
            "vk of seed {tag:02x}"
        );
        assert_eq!(
            hex::encode(Sha256::digest(&sig)),
            sig_digest,
            "sig of seed {tag:02x}"
        );
        assert!(signer.verifier().verify(MESSAGE, &sig));
    }
}
