//! Interop fixtures of tests/data/interop (written by an independent implementation from fixed
//! seeds): everything listed in interop/README.md must hold here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use std::sync::Arc;

use kavach_pq::{
    DirectoryTokenVerifier, KavachKeyPair, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory,
    TokenFields,
};

fn token() -> (TokenFields, Vec<u8>) {
    let t = json_shared("interop/token.json");
    let fields = TokenFields::parse(
        t["tokenId"].as_str().unwrap(),
        t["evaluationId"].as_str().unwrap(),
        t["issuedAt"].as_i64().unwrap(),
        t["expiresAt"].as_i64().unwrap(),
        t["actionName"].as_str().unwrap(),
    )
    .unwrap();
    (fields, hex(t["canonicalHex"].as_str().unwrap()))
}

fn envelope(name: &str) -> Vec<u8> {
    read_shared(&format!("interop/{name}"))
        .trim_end()
        .as_bytes()
        .to_vec()
}

fn root_vk() -> Vec<u8> {
    hex(&read_shared("interop/root-ml-dsa-verifying-key.hex"))
}

fn path(name: &str) -> std::path::PathBuf {
    shared_dir().join("interop").join(name)
}

fn directories() -> Vec<(&'static str, Arc<PublicKeyDirectory>)> {
    vec![
        (
            "unsigned",
            Arc::new(PublicKeyDirectory::from_file(path("manifest-unsigned.json")).unwrap()),
        ),
        (
            "signed",
            Arc::new(
                PublicKeyDirectory::from_signed_file(path("manifest-signed.json"), &root_vk())
                    .unwrap(),
            ),
        ),
    ]
}

#[test]
fn bundle_from_seeds_matches_fixture_byte_for_byte() {
    let kp = interop_signer();
    let fixture = read_shared("interop/bundle.json");
    assert_eq!(kp.public_bundle().to_json(), fixture.trim_end());
    let parsed = PublicKeyBundle::from_json(&fixture).unwrap();
    assert_eq!(parsed, kp.public_bundle());
}

#[test]
fn canonical_bytes_match_fixture() {
    let (fields, canonical) = token();
    assert_eq!(fields.canonical_bytes(), canonical);
}

#[test]
fn root_verifying_key_matches_seed() {
    let root = KavachKeyPair::from_seeds(
        ROOT_ID,
        [0x20; 32],
        [0; 32],
        [0; 64],
        [1; 32],
        chrono::Utc::now(),
        None,
    )
    .unwrap();
    assert_eq!(root.public_bundle().ml_dsa_verifying_key, root_vk());
}

#[test]
fn manifests_load_and_hold_the_signer_bundle() {
    let kp = interop_signer();
    for (name, dir) in directories() {
        assert_eq!(dir.len(), 1, "{name}");
        assert_eq!(dir.fetch(SIGNER_ID).unwrap(), kp.public_bundle(), "{name}");
    }
}

#[test]
fn signed_manifest_rejected_with_any_other_root() {
    let other = KavachKeyPair::generate()
        .unwrap()
        .public_bundle()
        .ml_dsa_verifying_key;
    let signer_vk = interop_signer().public_bundle().ml_dsa_verifying_key;
    for vk in [other, signer_vk] {
        let err =
            PublicKeyDirectory::from_signed_file(path("manifest-signed.json"), &vk).unwrap_err();
        assert_eq!(err.code(), "SIGNATURE_INVALID");
        assert!(
            err.to_string().contains("signature verification failed"),
            "{err}"
        );
    }
}

#[test]
fn envelopes_verify_in_their_mode_over_both_directories() {
    let (fields, _) = token();
    for (name, dir) in directories() {
        let hybrid = DirectoryTokenVerifier::new(dir.clone(), true);
        let pq = DirectoryTokenVerifier::new(dir.clone(), false);
        hybrid
            .verify(&fields, &envelope("envelope-hybrid.json"), true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        pq.verify(&fields, &envelope("envelope-pq-only.json"), true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Each is rejected by the other mode (downgrade defence, before any crypto).
        let e = hybrid
            .verify(&fields, &envelope("envelope-pq-only.json"), true)
            .unwrap_err();
        assert_eq!(e.code(), "ALGORITHM_MISMATCH");
        assert!(e.to_string().contains("hybrid"), "{e}");
        let e = pq
            .verify(&fields, &envelope("envelope-hybrid.json"), true)
            .unwrap_err();
        assert_eq!(e.code(), "ALGORITHM_MISMATCH");
        // And for any other action name.
        for action in [
            "issue_refunds",
            "issue_refun",
            "ISSUE_REFUND",
            "",
            "delete_account",
        ] {
            let mut other = fields.clone();
            other.action_name = action.to_string();
            for (v, env) in [
                (&hybrid, "envelope-hybrid.json"),
                (&pq, "envelope-pq-only.json"),
            ] {
                let e = v.verify(&other, &envelope(env), true).unwrap_err();
                assert_eq!(e.code(), "SIGNATURE_INVALID", "{name} {env} {action}");
                assert!(e.to_string().contains("signature verification failed"));
            }
        }
    }
}

#[test]
fn signer_rebuilt_from_seeds_verifies_the_envelopes() {
    let (fields, _) = token();
    let kp = interop_signer();
    let b = kp.public_bundle();
    let ed_vk = b.ed25519_verifying_key.clone();
    let hybrid = PqTokenSigner::hybrid(
        &[0x10; 32],
        &b.ml_dsa_verifying_key,
        &[0x11; 32],
        &ed_vk,
        SIGNER_ID,
    )
    .unwrap();
    hybrid
        .verify(&fields, &envelope("envelope-hybrid.json"))
        .unwrap();
    let pq = PqTokenSigner::pq_only(&[0x10; 32], &b.ml_dsa_verifying_key, SIGNER_ID).unwrap();
    pq.verify(&fields, &envelope("envelope-pq-only.json"))
        .unwrap();
    // Verifier-only signers (empty signing keys) verify too.
    let vo = PqTokenSigner::hybrid(&[], &b.ml_dsa_verifying_key, &[], &ed_vk, SIGNER_ID).unwrap();
    vo.verify(&fields, &envelope("envelope-hybrid.json"))
        .unwrap();
    assert_eq!(
        hybrid
            .verify(&fields, &envelope("envelope-pq-only.json"))
            .unwrap_err()
            .code(),
        "ALGORITHM_MISMATCH"
    );
    // What we sign verifies under the fixture bundle in a directory.
    let dir = Arc::new(PublicKeyDirectory::from_file(path("manifest-unsigned.json")).unwrap());
    let sig = hybrid.sign(&fields).unwrap();
    DirectoryTokenVerifier::new(dir.clone(), true)
        .verify(&fields, &sig, true)
        .unwrap();
    let sig = pq.sign(&fields).unwrap();
    DirectoryTokenVerifier::new(dir, false)
        .verify(&fields, &sig, true)
        .unwrap();
}

#[test]
fn our_manifests_of_the_fixture_bundle_match_byte_for_byte() {
    let kp = interop_signer();
    let unsigned = PublicKeyDirectory::build_unsigned_manifest(&[kp.public_bundle()]);
    assert_eq!(
        String::from_utf8(unsigned).unwrap(),
        read_shared("interop/manifest-unsigned.json").trim_end()
    );
    // The signed manifest's bundles_json is the same string.
    let signed: serde_json::Value = json_shared("interop/manifest-signed.json");
    assert_eq!(
        signed["bundles_json"].as_str().unwrap(),
        read_shared("interop/manifest-unsigned.json").trim_end()
    );
}
