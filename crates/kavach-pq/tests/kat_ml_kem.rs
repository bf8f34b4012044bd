//! ML-KEM-768 known-answer tests: NIST ACVP (keyGen, encapDecap incl. key checks), Wycheproof
//! (decaps from seed, encaps incl. modulus overflow, keygen from seed) and CCTV (modulus,
//! strcmp), read from tests/data/vectors at test time.
//! Run with `-- --nocapture` to see `N passed of M applicable` per file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use kavach_pq::primitives::{self, MlKemDecapsulator};
use kavach_pq::SecretBytes;
use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey};

fn from_seed(d: &[u8], z: &[u8]) -> MlKemDecapsulator {
    let seed: Vec<u8> = [d, z].concat();
    MlKemDecapsulator::from_seed(SecretBytes::from_slice(&seed).unwrap())
}

/// An expanded (2400-byte) decapsulation key that passes the FIPS 203 §7.3 check
/// (length, and H(ek) as stored in the key).
fn expanded(dk: &[u8]) -> Option<MlKem768PrivateKey> {
    let sk = MlKem768PrivateKey::try_from(dk).ok()?;
    mlkem768::validate_private_key(&sk, &MlKem768Ciphertext::default()).then_some(sk)
}

fn decapsulate_expanded(dk: &MlKem768PrivateKey, c: &[u8]) -> Vec<u8> {
    mlkem768::decapsulate(dk, &MlKem768Ciphertext::try_from(c).unwrap()).to_vec()
}

/// The FIPS 203 expanded decapsulation key of a 64-byte seed.
fn expanded_of_seed(seed: &[u8]) -> Vec<u8> {
    let pair = mlkem768::generate_key_pair(<[u8; 64]>::try_from(seed).unwrap());
    pair.private_key().as_slice().to_vec()
}

#[test]
fn acvp_keygen() {
    let doc = json_shared("vectors/acvp/ML-KEM-keyGen-FIPS203/internalProjection.json");
    let mut tally = Tally::new("acvp/ML-KEM-keyGen-FIPS203");
    for g in doc["testGroups"].as_array().unwrap() {
        assert_eq!(g["parameterSet"], "ML-KEM-768");
        for t in g["tests"].as_array().unwrap() {
            let (d, z) = (hexs(&t["d"]), hexs(&t["z"]));
            let ours = from_seed(&d, &z);
            let ek_ok = ours.encapsulation_key_bytes() == hexs(&t["ek"]);
            let dk_ok = expanded_of_seed(&[d, z].concat()) == hexs(&t["dk"]);
            tally.check(t["tcId"].clone(), ek_ok && dk_ok, || {
                format!("ek {ek_ok} dk {dk_ok}")
            });
        }
    }
    assert_eq!(tally.finish(), 25);
}

fn run_encap_decap(folder: &str) {
    let prompt = json_shared(&format!("vectors/acvp/{folder}/prompt.json"));
    let internal = tests_by_id(&json_shared(&format!(
        "vectors/acvp/{folder}/internalProjection.json"
    )));
    let mut tally = Tally::new(&format!("acvp/{folder}"));
    for g in prompt["testGroups"].as_array().unwrap() {
        let function = g["function"].as_str().unwrap();
        let format = g["keyFormat"].as_str().unwrap_or("expanded");
        for t in g["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let x = &internal[&id];
            let ok = match function {
                "encapsulation" => {
                    let m: [u8; 32] = hexs(&x["m"]).try_into().unwrap();
                    let (c, k) =
                        primitives::ml_kem_encapsulate_deterministic(&hexs(&x["ek"]), &m).unwrap();
                    c == hexs(&x["c"]) && k.to_vec() == hexs(&x["k"])
                }
                "decapsulation" => {
                    let want = hexs(&x["k"]);
                    let c = hexs(&x["c"]);
                    if format == "seed" {
                        let ours = from_seed(&hexs(&x["d"]), &hexs(&x["z"]));
                        ours.decapsulate(&c).unwrap().to_vec() == want
                    } else {
                        let dk = expanded(&hexs(&x["dk"])).unwrap();
                        decapsulate_expanded(&dk, &c) == want
                    }
                }
                "decapsulationKeyCheck" => {
                    let want = x["testPassed"].as_bool().unwrap();
                    expanded(&hexs(&x["dk"])).is_some() == want
                }
                "encapsulationKeyCheck" => {
                    let want = x["testPassed"].as_bool().unwrap();
                    primitives::ml_kem_encapsulation_key(&hexs(&x["ek"])).is_ok() == want
                }
                other => panic!("unknown function {other}"),
            };
            tally.check(id, ok, || format!("{function} ({format}) {}", x["reason"]));
        }
    }
    tally.finish();
}

#[test]
fn acvp_encap_decap() {
    run_encap_decap("ML-KEM-encapDecap-FIPS203");
}

#[test]
fn acvp_encap_decap_tr1_key_formats() {
    run_encap_decap("ML-KEM-encapDecap-FIPS203-tr1");
}

#[test]
fn wycheproof_decaps_from_seed() {
    let doc = json_shared("vectors/wycheproof/mlkem_768_test.json");
    let mut tally = Tally::new("wycheproof/mlkem_768_test.json");
    for g in doc["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let valid = t["result"] == "valid";
            let seed = hexs(&t["seed"]);
            let outcome: Result<Vec<u8>, String> = (|| {
                let s = SecretBytes::<64>::from_slice(&seed).ok_or("seed length")?;
                let dk = MlKemDecapsulator::from_seed(s);
                if let Some(ek) = t.get("ek") {
                    if dk.encapsulation_key_bytes() != hexs(ek) {
                        return Err("ek differs".to_string());
                    }
                }
                dk.decapsulate(&hexs(&t["c"]))
                    .map(|k| k.to_vec())
                    .map_err(|e| e.to_string())
            })();
            let ok = match (&outcome, valid) {
                (Ok(k), true) => *k == hexs(&t["K"]),
                (Err(_), false) => true,
                _ => false,
            };
            tally.check(t["tcId"].clone(), ok, || {
                format!("{}: {outcome:?}", t["comment"])
            });
        }
    }
    assert_eq!(tally.finish(), 193);
}

#[test]
fn wycheproof_encaps() {
    let doc = json_shared("vectors/wycheproof/mlkem_768_encaps_test.json");
    let mut tally = Tally::new("wycheproof/mlkem_768_encaps_test.json");
    for g in doc["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let valid = t["result"] == "valid";
            let m: [u8; 32] = hexs(&t["m"]).try_into().unwrap();
            let out = primitives::ml_kem_encapsulate_deterministic(&hexs(&t["ek"]), &m);
            let ok = match (&out, valid) {
                (Ok((c, k)), true) => *c == hexs(&t["c"]) && k.to_vec() == hexs(&t["K"]),
                (Err(e), false) => e.code() == "INVALID_KEY",
                _ => false,
            };
            tally.check(t["tcId"].clone(), ok, || format!("{:?}", t["flags"]));
        }
    }
    assert_eq!(tally.finish(), 265);
}

#[test]
fn wycheproof_keygen_from_seed() {
    let doc = json_shared("vectors/wycheproof/mlkem_768_keygen_seed_test.json");
    let mut tally = Tally::new("wycheproof/mlkem_768_keygen_seed_test.json");
    for g in doc["testGroups"].as_array().unwrap() {
        for t in g["tests"].as_array().unwrap() {
            let seed = hexs(&t["seed"]);
            let ours = MlKemDecapsulator::from_seed(SecretBytes::from_slice(&seed).unwrap());
            let ok = ours.encapsulation_key_bytes() == hexs(&t["ek"])
                && expanded_of_seed(&seed) == hexs(&t["dk"])
                && t["result"] == "valid";
            tally.check(t["tcId"].clone(), ok, String::new);
        }
    }
    assert_eq!(tally.finish(), 100);
}

#[test]
fn cctv_modulus_every_invalid_key_rejected() {
    // The file is gzip-compressed upstream; decompress with the system gzip (no Rust inflate
    // crate in this workspace).
    let path = shared_dir().join("vectors/cctv/ML-KEM/modulus/ML-KEM-768.txt.gz");
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "gzip failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut tally = Tally::new("cctv/ML-KEM/modulus/ML-KEM-768.txt.gz");
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let ek = hex(line);
        let rejected = matches!(
            primitives::ml_kem_encapsulation_key(&ek),
            Err(e) if e.code() == "INVALID_KEY"
        );
        tally.check(i, rejected, || "accepted an out-of-range key".into());
    }
    assert_eq!(tally.finish(), 780);
}

#[test]
fn cctv_strcmp() {
    let text = read_shared("vectors/cctv/ML-KEM/strcmp/ML-KEM-768.txt");
    let field = |name: &str| -> Vec<u8> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap();
        hex(&line[name.len() + 3..])
    };
    let mut tally = Tally::new("cctv/ML-KEM/strcmp/ML-KEM-768.txt");
    let dk = expanded(&field("dk")).unwrap();
    let k = decapsulate_expanded(&dk, &field("c"));
    tally.check("strcmp", k == field("K"), || "wrong key".into());
    assert_eq!(tally.finish(), 1);
}
