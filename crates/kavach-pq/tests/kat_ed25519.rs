//! Ed25519 strict verification: Wycheproof ed25519_test.json (every vector) and the CCTV
//! ed25519vectors.json edge cases, which pin exactly what `verify_strict` accepts.
//! Run with `-- --nocapture` to see `N passed of M applicable` per file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use kavach_pq::primitives::ed25519_verify_strict;

#[test]
fn wycheproof_ed25519() {
    let doc = json_shared("vectors/wycheproof/ed25519_test.json");
    let mut tally = Tally::new("wycheproof/ed25519_test.json");
    for g in doc["testGroups"].as_array().unwrap() {
        let pk = hexs(&g["publicKey"]["pk"]);
        for t in g["tests"].as_array().unwrap() {
            let want = t["result"] == "valid";
            let got = ed25519_verify_strict(&pk, &hexs(&t["msg"]), &hexs(&t["sig"]));
            tally.check(t["tcId"].clone(), got == want, || {
                format!("{} {:?}: got {got}", t["comment"], t["flags"])
            });
        }
    }
    assert_eq!(tally.finish(), 151);
}

/// The acceptance policy we pin (ed25519-dalek `verify_strict`): reject small-order A or R,
/// non-canonical encodings of A or R, and signatures that only verify with the cofactor
/// (`low_order_residue`); accept everything else, including mixed-order points whose
/// cofactorless equation holds.
fn strict_policy_accepts(flags: &[&str]) -> bool {
    !flags.iter().any(|f| {
        matches!(
            *f,
            "low_order_A"
                | "low_order_R"
                | "non_canonical_A"
                | "non_canonical_R"
                | "low_order_residue"
        )
    })
}

#[test]
fn cctv_ed25519_edge_cases_pin_verify_strict() {
    let doc = json_shared("vectors/cctv/ed25519/ed25519vectors.json");
    let mut tally = Tally::new("cctv/ed25519/ed25519vectors.json");
    let (mut accepted, mut rejected) = (0, 0);
    for v in doc.as_array().unwrap() {
        let flags: Vec<&str> = v["flags"]
            .as_array()
            .map(|a| a.iter().map(|f| f.as_str().unwrap()).collect())
            .unwrap_or_default();
        let msg = v["msg"].as_str().unwrap().as_bytes();
        let got = ed25519_verify_strict(&hexs(&v["key"]), msg, &hexs(&v["sig"]));
        if got {
            accepted += 1;
        } else {
            rejected += 1;
        }
        let want = strict_policy_accepts(&flags);
        tally.check(v["number"].clone(), got == want, || {
            format!("flags {flags:?}: got {got}, policy says {want}")
        });
    }
    println!("cctv ed25519: verify_strict accepted {accepted}, rejected {rejected}");
    assert_eq!(tally.finish(), 914);
}
