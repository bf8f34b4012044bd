//! Where the time of a permit verify, a signed permit and the audit chain goes: each step timed
//! on its own (median of many runs, the steps alternating in rounds so a load change hits all
//! of them alike), and each speed layer timed switched on and off in the same run.
//!
//! `cargo run --release -p kavach-pq --example verify_profile` (also the program `perf record`
//! runs to attribute cycles to functions; see docs/ARCHITECTURE.md "Signing and verification
//! speed").

// A measuring program: a failed setup step should stop it with the step named.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use kavach_pq::audit::{entry_hash, verify_jsonl, SignedAuditChain};
use kavach_pq::audit::{par, AuditEntry, AuditEntryOptions, ChainEntry, FileOptions};
use kavach_pq::primitives::ed25519_verify_strict;
use kavach_pq::signed_payload::{signed_message, SignedPayload};
use kavach_pq::{
    DirectoryTokenVerifier, KavachKeyPair, PqTokenSigner, PublicKeyDirectory, SignatureEnvelope,
    TokenFields,
};

type Step<'a> = (&'a str, Box<dyn FnMut() + 'a>);

/// Median µs per call of each step, `rounds` rounds of `per_round` calls, steps alternating.
fn measure(steps: &mut [Step<'_>], rounds: usize, per_round: usize) {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); steps.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in steps.iter_mut().enumerate() {
            for _ in 0..per_round {
                let t = Instant::now();
                f();
                samples[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    for (i, (name, _)) in steps.iter().enumerate() {
        let s = &mut samples[i];
        s.sort_by(f64::total_cmp);
        println!("{:>10.2} µs  {name}", s[s.len() / 2]);
    }
}

fn token() -> TokenFields {
    TokenFields::parse(
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        1_767_225_600,
        1_767_225_630,
        "issue_refund",
    )
    .expect("token")
}

/// CPU seconds this process has used (user + system, all threads; Linux `/proc`, else 0).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

fn main() {
    let only = std::env::args().nth(1).unwrap_or_default();
    let kp = Arc::new(KavachKeyPair::generate().expect("keygen"));
    println!("load average: {}", load().trim());
    if only.is_empty() || only == "token" {
        token_steps(&kp);
    }
    if only.is_empty() || only == "audit" {
        audit_steps(&kp);
    }
    println!("load average: {}", load().trim());
}

fn token_steps(kp: &KavachKeyPair) {
    let t = token();
    let msg = t.canonical_bytes();
    let hybrid = PqTokenSigner::from_keypair_hybrid(kp);
    let pq_only = PqTokenSigner::from_keypair_pq_only(kp);
    let dir = Arc::new(PublicKeyDirectory::in_memory(vec![kp.public_bundle()]).expect("dir"));
    let dir_hybrid = DirectoryTokenVerifier::new(dir.clone(), true);
    let dir_pq = DirectoryTokenVerifier::new(dir, false);
    let env_h = hybrid.sign(&t).expect("sign");
    let env_p = pq_only.sign(&t).expect("sign");
    let parsed = SignatureEnvelope::from_bytes(&env_h).expect("parse");
    let ml_vk = kavach_pq::primitives::MlDsaVerifier::from_bytes(&hybrid.ml_dsa_verifying_key())
        .expect("vk");
    let ed_vk = kp.public_bundle().ed25519_verifying_key;
    let ed_sig = parsed.ed25519_signature.clone().expect("hybrid");
    let ed_key = ed25519_dalek::VerifyingKey::from_bytes(&ed_vk.clone().try_into().expect("32"))
        .expect("point");
    let ed_sig_t = ed25519_dalek::Signature::from_bytes(&ed_sig.clone().try_into().expect("64"));
    println!("-- permit tokens (one call each)");
    let mut steps: Vec<Step<'_>> = vec![
        (
            "ML-DSA-65 verify (primitive)",
            Box::new(|| assert!(ml_vk.verify(&msg, &parsed.ml_dsa_signature))),
        ),
        (
            "Ed25519 verify_strict, key decoded per call",
            Box::new(|| assert!(ed25519_verify_strict(&ed_vk, &msg, &ed_sig))),
        ),
        (
            "Ed25519 verify_strict, key decoded once",
            Box::new(|| assert!(ed_key.verify_strict(&msg, &ed_sig_t).is_ok())),
        ),
        (
            "Ed25519 key decode (point decompression)",
            Box::new(|| {
                std::hint::black_box(ed25519_dalek::VerifyingKey::from_bytes(
                    std::hint::black_box(&ed_key.to_bytes()),
                ))
                .expect("point");
            }),
        ),
        (
            "envelope parse (hybrid), direct reader",
            Box::new(|| {
                std::hint::black_box(SignatureEnvelope::from_bytes(&env_h).expect("parse"));
            }),
        ),
        (
            "envelope parse (hybrid), serde (switched off)",
            Box::new(|| {
                std::hint::black_box(SignatureEnvelope::from_bytes_serde(&env_h).expect("parse"));
            }),
        ),
        (
            "envelope serialise (hybrid), direct writer",
            Box::new(|| {
                std::hint::black_box(parsed.to_bytes());
            }),
        ),
        (
            "envelope serialise (hybrid), serde (switched off)",
            Box::new(|| {
                std::hint::black_box(parsed.to_bytes_serde());
            }),
        ),
        (
            "PqTokenSigner.verify hybrid",
            Box::new(|| hybrid.verify(&t, &env_h).expect("verify")),
        ),
        (
            "DirectoryTokenVerifier.verify hybrid",
            Box::new(|| dir_hybrid.verify(&t, &env_h, true).expect("verify")),
        ),
        (
            "PqTokenSigner.verify PQ-only",
            Box::new(|| pq_only.verify(&t, &env_p).expect("verify")),
        ),
        (
            "DirectoryTokenVerifier.verify PQ-only",
            Box::new(|| dir_pq.verify(&t, &env_p, true).expect("verify")),
        ),
        (
            "ML-DSA-65 sign (primitive, hedged)",
            Box::new(|| {
                std::hint::black_box(kp.try_sign_ml_dsa(&msg).expect("sign"));
            }),
        ),
        (
            "Ed25519 sign (primitive)",
            Box::new(|| {
                std::hint::black_box(kp.sign_ed25519(&msg));
            }),
        ),
        (
            "PqTokenSigner.sign hybrid (envelope bytes)",
            Box::new(|| {
                std::hint::black_box(hybrid.sign(&t).expect("sign"));
            }),
        ),
        (
            "PqTokenSigner.sign PQ-only (envelope bytes)",
            Box::new(|| {
                std::hint::black_box(pq_only.sign(&t).expect("sign"));
            }),
        ),
    ];
    measure(&mut steps, 6, 300);
}

fn entry() -> AuditEntry {
    AuditEntry::new(
        "agent-bench",
        "issue_refund",
        "permit",
        "token_id=bench",
        AuditEntryOptions {
            session_id: Some("s-bench".into()),
            ..AuditEntryOptions::default()
        },
    )
    .expect("entry")
}

fn audit_steps(kp: &Arc<KavachKeyPair>) {
    let bundle = kp.public_bundle();
    let e = entry();
    let data = e.to_json_bytes().expect("json");
    let payload = SignedPayload::sign(kp, data.clone(), true).expect("sign");
    let linked = ChainEntry::link(0, "genesis".into(), payload.clone());
    let line = linked.to_line().expect("line");
    let verifier = kavach_pq::signed_payload::PayloadVerifier::new(&bundle).expect("verifier");
    println!("-- audit chain, per entry (one call each)");
    let mut steps: Vec<Step<'_>> = vec![
        (
            "AuditEntry to JSON",
            Box::new(|| {
                std::hint::black_box(e.to_json_bytes().expect("json"));
            }),
        ),
        (
            "SignedPayload::sign hybrid",
            Box::new(|| {
                std::hint::black_box(SignedPayload::sign(kp, data.clone(), true).expect("sign"));
            }),
        ),
        (
            "signed message (data ‖ nonce ‖ ts)",
            Box::new(|| {
                std::hint::black_box(signed_message(
                    &payload.data,
                    &payload.nonce,
                    &payload.signed_at,
                    b"",
                ));
            }),
        ),
        (
            "entry hash (SHA-256 + hex)",
            Box::new(|| {
                std::hint::black_box(entry_hash(0, "genesis", &payload));
            }),
        ),
        (
            "chain line serialise, direct writer",
            Box::new(|| {
                std::hint::black_box(linked.to_line().expect("line"));
            }),
        ),
        (
            "chain line serialise, serde (switched off)",
            Box::new(|| {
                std::hint::black_box(linked.to_line_serde().expect("line"));
            }),
        ),
        (
            "chain line parse, direct reader",
            Box::new(|| {
                std::hint::black_box(ChainEntry::from_line(line.as_bytes()).expect("parse"));
            }),
        ),
        (
            "chain line parse, serde (switched off)",
            Box::new(|| {
                std::hint::black_box(ChainEntry::from_line_serde(line.as_bytes()).expect("parse"));
            }),
        ),
        (
            "payload verify hybrid (both signatures, keys decoded once)",
            Box::new(|| verifier.verify(&payload, true).expect("verify")),
        ),
        (
            "payload verify hybrid (keys decoded per call: switched off)",
            Box::new(|| payload.verify(&bundle, true).expect("verify")),
        ),
    ];
    measure(&mut steps, 6, 200);

    println!("-- audit chain, whole operations (threads = 1 vs all, alternating)");
    let dir = std::env::temp_dir().join(format!("kavach-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let batch: Vec<AuditEntry> = (0..64).map(|_| entry()).collect();
    let file_chain = |name: &str| {
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        SignedAuditChain::open_file(&p, kp.clone(), FileOptions::default()).expect("open")
    };
    let mut each = file_chain("each.jsonl");
    let mut batched = file_chain("batch.jsonl");
    let mut big = SignedAuditChain::new(kp.clone(), true);
    while big.len() < 10_000 {
        big.append_batch(&batch[..batch.len().min(10_000 - big.len() as usize)])
            .expect("append");
    }
    let blob = big.export_jsonl().expect("export");
    let mut each_us = Vec::new();
    let mut batch_us: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut verify_us: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut verify_cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _round in 0..3 {
        let t = Instant::now();
        for _ in 0..64 {
            each.append(&e).expect("append");
        }
        each_us.push(t.elapsed().as_secs_f64() * 1e6 / 64.0);
        for (i, threads) in [1usize, 4].into_iter().enumerate() {
            par::set_max_threads(threads);
            for _ in 0..8 {
                let t = Instant::now();
                batched.append_batch(&batch).expect("batch");
                batch_us[i].push(t.elapsed().as_secs_f64() * 1e6 / 64.0);
            }
            let (t, cpu) = (Instant::now(), cpu_seconds());
            assert_eq!(
                verify_jsonl(&blob, &bundle, Some(true), None).expect("verify"),
                10_000
            );
            verify_us[i].push(t.elapsed().as_secs_f64() * 1e3);
            verify_cpu[i].push((cpu_seconds() - cpu) * 1e3);
        }
    }
    par::set_max_threads(4);
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let per_s = |us: f64| 1e6 / us;
    let a = med(&mut each_us);
    println!("{:>10.0} entries/s  append, file, fsync each", per_s(a));
    for (i, label) in ["1 thread", "all cores"].iter().enumerate() {
        let b = med(&mut batch_us[i]);
        println!(
            "{:>10.0} entries/s  appendBatch of 64, file, one fsync, {label}",
            per_s(b)
        );
    }
    for (i, label) in ["1 thread", "all cores"].iter().enumerate() {
        let v = med(&mut verify_us[i]);
        let c = med(&mut verify_cpu[i]);
        println!("{v:>10.1} ms  verifyJsonl of 10,000 hybrid entries, {label} ({c:.0} ms CPU)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
