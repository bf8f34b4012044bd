//! The portable (non-SIMD) ML-DSA-65 code of `libcrux-ml-dsa`, forced: CPUs without AVX2
//! (and builds without NEON) take this path at run time, while this machine's dispatch
//! picks AVX2. The crate's `ml_dsa_65::portable` module calls it directly, so the ACVP
//! keyGen vectors, the Wycheproof verify vectors and the pure-mode ACVP sigGen vectors
//! run through it here, and its output is compared with the dispatched path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use kavach_pq::primitives::MlDsaSigner;
use kavach_pq::SecretBytes;
use libcrux_ml_dsa::ml_dsa_65::{
    self, portable, MLDSA65Signature, MLDSA65SigningKey, MLDSA65VerificationKey,
};

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    <[u8; N]>::try_from(b).unwrap()
}

#[test]
fn portable_keygen_matches_acvp_and_the_dispatched_path() {
    let doc = json_shared("vectors/acvp/ML-DSA-keyGen-FIPS204/internalProjection.json");
    let mut tally = Tally::new("acvp/ML-DSA-keyGen-FIPS204 (portable)");
    for g in doc["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let seed = hexs(&t["seed"]);
            let pair = portable::generate_key_pair(array(&seed));
            let ours = MlDsaSigner::from_seed(SecretBytes::from_slice(&seed).unwrap());
            let ok = pair.verification_key.as_slice() == hexs(&t["pk"])
                && pair.signing_key.as_slice() == hexs(&t["sk"])
                && ours.verifier().as_bytes() == pair.verification_key.as_slice();
            tally.check(t["tcId"].clone(), ok, || "key pair differs".into());
        }
    }
    assert_eq!(tally.finish(), 25);
}

#[test]
fn portable_verify_matches_wycheproof() {
    let doc = json_shared("vectors/wycheproof/mldsa_65_verify_test.json");
    let mut tally = Tally::new("wycheproof/mldsa_65_verify_test.json (portable)");
    for g in doc["testGroups"].as_array().unwrap() {
        let pk = hexs(&g["publicKey"]);
        for t in g["tests"].as_array().unwrap() {
            let want = t["result"] == "valid";
            let ctx = t.get("ctx").map(hexs).unwrap_or_default();
            let sig = hexs(&t["sig"]);
            let got = match (
                <[u8; 1952]>::try_from(&pk[..]),
                <[u8; 3309]>::try_from(&sig[..]),
            ) {
                (Ok(pk), Ok(sig)) => portable::verify(
                    &MLDSA65VerificationKey::new(pk),
                    &hexs(&t["msg"]),
                    &ctx,
                    &MLDSA65Signature::new(sig),
                )
                .is_ok(),
                _ => false,
            };
            tally.check(t["tcId"].clone(), got == want, || format!("got {got}"));
        }
    }
    assert_eq!(tally.finish(), 210);
}

#[test]
fn portable_pure_signing_matches_acvp_and_the_dispatched_path() {
    let folder = "ML-DSA-sigGen-FIPS204";
    let prompt = json_shared(&format!("vectors/acvp/{folder}/prompt.json"));
    let expected = tests_by_id(&json_shared(&format!(
        "vectors/acvp/{folder}/expectedResults.json"
    )));
    let mut tally = Tally::new(&format!("acvp/{folder} pure (portable)"));
    for g in prompt["testGroups"].as_array().unwrap() {
        if g["signatureInterface"] != "external" || g["preHash"] != "pure" {
            continue;
        }
        let det = g["deterministic"].as_bool().unwrap();
        for t in g["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let sk = match t.get("seed") {
                Some(seed) => portable::generate_key_pair(array(&hexs(seed))).signing_key,
                None => MLDSA65SigningKey::new(array(&hexs(&t["sk"]))),
            };
            let rnd: [u8; 32] = if det {
                [0; 32]
            } else {
                array(&hexs(&t["rnd"]))
            };
            let (msg, ctx) = (hexs(&t["message"]), hexs(&t["context"]));
            let forced = portable::sign(&sk, &msg, &ctx, rnd).unwrap();
            let dispatched = ml_dsa_65::sign(&sk, &msg, &ctx, rnd).unwrap();
            let want = hexs(&expected[&id]["signature"]);
            let ok = forced.as_slice() == want && dispatched.as_slice() == want;
            tally.check(id, ok, || "signature differs".into());
        }
    }
    assert_eq!(tally.finish(), 30);
}
