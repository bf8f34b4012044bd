//! Wycheproof known-answer tests for the channel's classical primitives: X25519,
//! ChaCha20-Poly1305 and HKDF-SHA256, run through the exact wrappers the secure channel uses.
//! Vectors are read at test time from `tests/data/vectors/wycheproof` (origin recorded in
//! `tests/data/vectors/PROVENANCE.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use kavach_pq::channel::primitives::{
    aead_open, aead_seal, hkdf_sha256, x25519_checked, x25519_raw,
};
use serde_json::Value;

fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

fn load(name: &str) -> Value {
    let path = shared_dir().join("vectors/wycheproof").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hx(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap()).unwrap()
}

fn cases(doc: &Value) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for g in doc["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            out.push((g.clone(), t.clone()));
        }
    }
    assert_eq!(out.len() as u64, doc["numberOfTests"].as_u64().unwrap());
    out
}

#[test]
fn wycheproof_x25519() {
    let doc = load("x25519_test.json");
    let (mut valid, mut acc_match, mut acc_refused) = (0usize, 0usize, 0usize);
    for (g, t) in cases(&doc) {
        assert_eq!(g["curve"], "curve25519");
        let id = &t["tcId"];
        let sk: [u8; 32] = hx(&t, "private").try_into().unwrap();
        let pk: [u8; 32] = hx(&t, "public").try_into().unwrap();
        let shared = hx(&t, "shared");
        // The raw function must match every vector, valid or acceptable: RFC 7748 defines
        // the output for twist points, non-canonical and low-order inputs too.
        assert_eq!(&x25519_raw(&sk, &pk)[..], &shared[..], "tcId {id} raw");
        match t["result"].as_str().unwrap() {
            "valid" => {
                let got = x25519_checked(&sk, &pk).unwrap_or_else(|e| panic!("tcId {id}: {e}"));
                assert_eq!(&got[..], &shared[..], "tcId {id}");
                valid += 1;
            }
            "acceptable" => match x25519_checked(&sk, &pk) {
                Ok(got) => {
                    assert_eq!(&got[..], &shared[..], "tcId {id}");
                    acc_match += 1;
                }
                Err(_) => {
                    // The channel refuses only an all-zero (non-contributory) secret.
                    assert!(shared.iter().all(|b| *b == 0), "tcId {id} refused");
                    acc_refused += 1;
                }
            },
            other => panic!("tcId {id}: unexpected result {other}"),
        }
    }
    println!(
        "x25519_test.json: {} passed ({valid} valid; acceptable: {acc_match} computed, \
         {acc_refused} refused as all-zero by the channel)",
        valid + acc_match + acc_refused
    );
    assert_eq!(valid, 264);
    assert_eq!(valid + acc_match + acc_refused, 518);
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let doc = load("chacha20_poly1305_test.json");
    let (mut valid, mut invalid, mut bad_nonce) = (0usize, 0usize, 0usize);
    for (g, t) in cases(&doc) {
        assert_eq!(g["tagSize"], 128);
        let id = &t["tcId"];
        let key = hx(&t, "key");
        let iv = hx(&t, "iv");
        let aad = hx(&t, "aad");
        let msg = hx(&t, "msg");
        let mut sealed = hx(&t, "ct");
        sealed.extend_from_slice(&hx(&t, "tag"));
        match t["result"].as_str().unwrap() {
            "valid" => {
                assert_eq!(
                    aead_seal(&key, &iv, &aad, &msg).unwrap(),
                    sealed,
                    "tcId {id} seal"
                );
                assert_eq!(
                    aead_open(&key, &iv, &aad, &sealed).unwrap(),
                    msg,
                    "tcId {id} open"
                );
                valid += 1;
            }
            "invalid" => {
                assert!(
                    aead_open(&key, &iv, &aad, &sealed).is_err(),
                    "tcId {id} accepted"
                );
                if iv.len() != 12 {
                    // Wrong nonce sizes are refused before any computation, both ways.
                    assert!(aead_seal(&key, &iv, &aad, &msg).is_err(), "tcId {id} seal");
                    bad_nonce += 1;
                }
                invalid += 1;
            }
            other => panic!("tcId {id}: unexpected result {other}"),
        }
    }
    println!(
        "chacha20_poly1305_test.json: {} passed ({valid} valid, {invalid} invalid of which \
         {bad_nonce} invalid nonce sizes)",
        valid + invalid
    );
    assert_eq!(valid + invalid, 325);
    assert!(bad_nonce > 0);
}

#[test]
fn wycheproof_hkdf_sha256() {
    let doc = load("hkdf_sha256_test.json");
    let (mut valid, mut invalid) = (0usize, 0usize);
    for (_, t) in cases(&doc) {
        let id = &t["tcId"];
        let size = t["size"].as_u64().unwrap() as usize;
        let out = hkdf_sha256(&hx(&t, "salt"), &hx(&t, "ikm"), &hx(&t, "info"), size);
        match t["result"].as_str().unwrap() {
            "valid" => {
                assert_eq!(&out.unwrap()[..], &hx(&t, "okm")[..], "tcId {id}");
                valid += 1;
            }
            "invalid" => {
                assert!(out.is_err(), "tcId {id} accepted");
                invalid += 1;
            }
            other => panic!("tcId {id}: unexpected result {other}"),
        }
    }
    println!(
        "hkdf_sha256_test.json: {} passed ({valid} valid, {invalid} invalid)",
        valid + invalid
    );
    assert_eq!(valid + invalid, 86);
}
