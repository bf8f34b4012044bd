//! Audit chain: interop fixtures, golden bytes, tamper matrix, checkpoints, durable file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kavach_pq::audit::{
    entry_hash, verify_reader, AuditEntry, AuditEntryOptions, ChainEntry, ChainVerifier,
    FileOptions, SignedAuditChain,
};
use kavach_pq::signed_payload::SignedPayload;
use kavach_pq::{KavachKeyPair, PublicKeyBundle};

fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

fn interop(name: &str) -> Vec<u8> {
    std::fs::read(shared_dir().join("interop").join(name)).unwrap()
}

/// The interop signer rebuilt from its documented test seeds.
fn signer() -> Arc<KavachKeyPair> {
    Arc::new(
        KavachKeyPair::from_seeds(
            "kavach-key-00000000-0000-4000-8000-000000000001",
            [0x10; 32],
            [0x11; 32],
            [0x12; 64],
            [0x13; 32],
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            None,
        )
        .unwrap(),
    )
}

fn bundle() -> PublicKeyBundle {
    PublicKeyBundle::from_json(std::str::from_utf8(&interop("bundle.json")).unwrap()).unwrap()
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&interop("expected.json")).unwrap()
}

fn lines(blob: &[u8]) -> Vec<Vec<u8>> {
    blob.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn parse(l: &[u8]) -> ChainEntry {
    ChainEntry::from_line(l).unwrap()
}

/// What an attacker without the key can do: renumber and recompute every hash.
fn relink(entries: Vec<ChainEntry>) -> Vec<Vec<u8>> {
    let mut prev = "genesis".to_string();
    let mut out = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let linked = ChainEntry::link(i as u64, prev.clone(), e.signed_payload);
        prev = linked.entry_hash.clone();
        out.push(linked.to_line().unwrap().into_bytes());
    }
    out
}

fn err_of(blob: &[u8], mode: Option<bool>) -> String {
    SignedAuditChain::verify_jsonl(blob, &bundle(), mode, None)
        .unwrap_err()
        .to_string()
}

fn entry(i: usize) -> AuditEntry {
    AuditEntry::new(
        &format!("agent-{i}"),
        "issue_refund",
        "permit",
        &format!("token_id=t{i}"),
        AuditEntryOptions::default(),
    )
    .unwrap()
}

fn chain_of(n: usize, hybrid: bool) -> SignedAuditChain {
    let mut c = SignedAuditChain::new(signer(), hybrid);
    for i in 0..n {
        c.append(&entry(i)).unwrap();
    }
    c
}

#[test]
fn signer_from_seeds_matches_interop_bundle() {
    assert_eq!(signer().public_bundle(), bundle());
}

#[test]
fn interop_chains_verify_in_their_mode_and_reach_expected_heads() {
    let exp = expected();
    for (file, head_key, hybrid) in [
        ("audit-hybrid.jsonl", "auditHybridHead", true),
        ("audit-pq-only.jsonl", "auditPqOnlyHead", false),
    ] {
        let blob = interop(file);
        let n = SignedAuditChain::verify_jsonl(&blob, &bundle(), Some(hybrid), None).unwrap();
        assert_eq!(n, exp["auditLength"].as_u64().unwrap(), "{file}");
        // No mode given: the key's (hybrid), never the file's.
        let default = SignedAuditChain::verify_jsonl(&blob, &bundle(), None, None);
        if hybrid {
            assert_eq!(default.unwrap(), 3);
        } else {
            let e = default.unwrap_err();
            assert_eq!(e.code(), "ALGORITHM_MISMATCH", "{e}");
            assert!(e.to_string().contains("entry 0"), "{e}");
        }
        let last = parse(lines(&blob).last().unwrap());
        assert_eq!(last.entry_hash, exp[head_key].as_str().unwrap(), "{file}");
        assert!(last.signed_payload.is_hybrid() == hybrid);
        // Explicit opposite mode: refused before any cryptography, naming entry 0 and hybrid.
        let e = SignedAuditChain::verify_jsonl(&blob, &bundle(), Some(!hybrid), None).unwrap_err();
        assert_eq!(e.code(), "ALGORITHM_MISMATCH", "{file}");
        assert!(
            e.to_string().contains("entry 0") && e.to_string().contains("hybrid"),
            "{e}"
        );
    }
}

#[test]
fn golden_chain_from_seeds_reproduces_interop_bytes() {
    // Re-sign the interop entries (same data, times and nonces) with deterministic ML-DSA:
    // every line must come out byte-identical to the independent implementation's file.
    for (file, hybrid, head) in [
        (
            "audit-hybrid.jsonl",
            true,
            "b0dbbaf681f17db167b608c50c3c57179cc99860c6351c89352eb1e50c4408e6",
        ),
        (
            "audit-pq-only.jsonl",
            false,
            "f2e77ccf1f289aeacb9cc5540301506dd46834e913b4cec2c767442544aded40",
        ),
    ] {
        let blob = interop(file);
        let kp = signer();
        let mut chain = SignedAuditChain::new(kp.clone(), hybrid);
        for l in lines(&blob) {
            let p = parse(&l).signed_payload;
            let again =
                SignedPayload::sign_deterministic_at(&kp, p.data, hybrid, p.signed_at, p.nonce)
                    .unwrap();
            chain.append_payload(again).unwrap();
        }
        assert_eq!(chain.export_jsonl().unwrap(), blob, "{file}");
        assert_eq!(chain.head_hash(), head);
        assert_eq!(chain.verify(&bundle()).unwrap(), 3);
    }
    // Pin the hash function on its own: entry 0 of the hybrid fixture.
    let e0 = parse(&lines(&interop("audit-hybrid.jsonl"))[0]);
    assert_eq!(entry_hash(0, "genesis", &e0.signed_payload), e0.entry_hash);
    assert!(e0.entry_hash.starts_with("efbffcbaa6"));
}

#[test]
fn empty_and_blank_lines() {
    assert_eq!(
        SignedAuditChain::verify_jsonl(b"", &bundle(), None, None).unwrap(),
        0
    );
    assert_eq!(
        SignedAuditChain::verify_jsonl(b"\n\n  \n", &bundle(), Some(true), None).unwrap(),
        0
    );
    let c = SignedAuditChain::new(signer(), true);
    assert_eq!(c.head_hash(), "genesis");
    assert!(c.is_empty());
    let mut with_blanks = b"\n".to_vec();
    for l in lines(&interop("audit-hybrid.jsonl")) {
        with_blanks.extend_from_slice(&l);
        with_blanks.extend_from_slice(b"\n\n");
    }
    assert_eq!(
        SignedAuditChain::verify_jsonl(&with_blanks, &bundle(), None, None).unwrap(),
        3
    );
}

#[test]
fn tamper_matrix() {
    let c = chain_of(5, true);
    let good = lines(&c.export_jsonl().unwrap());
    assert_eq!(
        SignedAuditChain::verify_jsonl(&join(&good), &bundle(), None, None).unwrap(),
        5
    );

    let mutate = |i: usize, f: &dyn Fn(&mut ChainEntry)| {
        let mut ls = good.clone();
        let mut e = parse(&ls[i]);
        f(&mut e);
        ls[i] = e.to_line().unwrap().into_bytes();
        join(&ls)
    };
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "data",
            mutate(2, &|e| e.signed_payload.data[5] ^= 1),
            "entry 2",
            "entry hash",
        ),
        (
            "ml-dsa signature",
            mutate(2, &|e| e.signed_payload.ml_dsa_signature[9] ^= 1),
            "entry 2",
            "entry hash",
        ),
        (
            "ed25519 signature",
            mutate(3, &|e| {
                e.signed_payload.ed25519_signature.as_mut().unwrap()[0] ^= 1
            }),
            "entry 3",
            "entry hash",
        ),
        (
            "hash",
            mutate(1, &|e| e.entry_hash = "0".repeat(64)),
            "entry 1",
            "entry hash",
        ),
        ("index", mutate(2, &|e| e.index = 7), "entry 2", "index"),
        (
            "key id",
            mutate(2, &|e| e.signed_payload.key_id = "kavach-key-evil".into()),
            "entry 2",
            "key id",
        ),
        (
            "previous hash",
            mutate(3, &|e| e.previous_hash = "genesis".into()),
            "entry 3",
            "previous hash",
        ),
        // Data changed and the hash recomputed: only the signature can tell.
        (
            "data + rehash",
            mutate(2, &|e| {
                e.signed_payload.data[5] ^= 1;
                e.entry_hash = entry_hash(e.index, &e.previous_hash, &e.signed_payload);
            }),
            "entry 2",
            "signature verification failed",
        ),
    ];
    for (name, blob, at, what) in cases {
        let e = err_of(&blob, None);
        assert!(e.contains(at) && e.contains(what), "{name}: {e}");
    }
    // Drop a line, reorder two lines.
    let mut dropped = good.clone();
    dropped.remove(2);
    let e = err_of(&join(&dropped), None);
    assert!(e.contains("entry 2") && e.contains("index"), "{e}");
    let mut swapped = good.clone();
    swapped.swap(1, 2);
    let e = err_of(&join(&swapped), None);
    assert!(e.contains("entry 1") && e.contains("index"), "{e}");
    // Splice a line of another chain (same key, same index): the linkage breaks there.
    let other = lines(&chain_of(5, true).export_jsonl().unwrap());
    let mut spliced = good.clone();
    spliced[3] = other[3].clone();
    let e = err_of(&join(&spliced), None);
    assert!(e.contains("entry 3") && e.contains("previous hash"), "{e}");
    // Mixed modes: a PQ-only entry relinked into a hybrid chain is a splice (and a downgrade).
    let pq = lines(&chain_of(3, false).export_jsonl().unwrap());
    let mut entries: Vec<ChainEntry> = good.iter().map(|l| parse(l)).collect();
    entries[2] = parse(&pq[2]);
    let mixed = join(&relink(entries));
    let e = err_of(&mixed, None);
    assert!(e.contains("entry 2") && e.contains("splice"), "{e}");
    let e = SignedAuditChain::verify_jsonl(&mixed, &bundle(), None, None).unwrap_err();
    assert_eq!(e.code(), "ALGORITHM_MISMATCH");
    // Wrong verifying key.
    let stranger = KavachKeyPair::generate().unwrap().public_bundle();
    let e = SignedAuditChain::verify_jsonl(&join(&good), &stranger, None, None).unwrap_err();
    assert!(
        e.to_string().contains("entry 0") && e.to_string().contains("key id"),
        "{e}"
    );
}

#[test]
fn checkpoint_catches_truncate_delete_and_reorder_relink() {
    let mut c = chain_of(6, true);
    let cp = c.checkpoint().unwrap();
    assert_eq!(cp.length, 6);
    assert_eq!(cp.head_hash, c.head_hash());
    let cp = kavach_pq::audit::Checkpoint::from_json(cp.to_json().unwrap().as_bytes()).unwrap();
    let good = lines(&c.export_jsonl().unwrap());
    let b = bundle();
    assert_eq!(
        SignedAuditChain::verify_jsonl(&join(&good), &b, None, Some(&cp)).unwrap(),
        6
    );
    // Growth after the checkpoint is fine.
    c.append(&entry(6)).unwrap();
    assert_eq!(
        SignedAuditChain::verify_jsonl(&c.export_jsonl().unwrap(), &b, None, Some(&cp)).unwrap(),
        7
    );

    let entries: Vec<ChainEntry> = good.iter().map(|l| parse(l)).collect();
    let mut deleted = entries.clone();
    deleted.remove(2);
    let mut reordered = entries.clone();
    reordered.swap(1, 4);
    let truncated: Vec<ChainEntry> = entries[..4].to_vec();
    for (name, attacked) in [
        ("delete-and-relink", relink(deleted)),
        ("reorder-and-relink", relink(reordered)),
        ("truncate", relink(truncated)),
    ] {
        let blob = join(&attacked);
        // Without a checkpoint the shared format cannot tell: every signature and hash holds.
        assert!(
            SignedAuditChain::verify_jsonl(&blob, &b, None, None).is_ok(),
            "{name}"
        );
        let e = SignedAuditChain::verify_jsonl(&blob, &b, None, Some(&cp)).unwrap_err();
        assert_eq!(e.code(), "CHAIN_INVALID", "{name}");
        assert!(e.to_string().contains("entry "), "{name}: {e}");
        assert!(e.to_string().contains("checkpoint"), "{name}: {e}");
    }
    // A forged checkpoint (edited length) does not verify.
    let mut forged = cp.clone();
    forged.length = 3;
    let e = SignedAuditChain::verify_jsonl(&join(&good), &b, None, Some(&forged)).unwrap_err();
    assert_eq!(e.code(), "SIGNATURE_INVALID");
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kavach-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    dir
}

#[test]
fn durable_file_continues_and_repairs_torn_tail() {
    let path = tmp("durable.jsonl");
    let kp = signer();
    {
        let mut c = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap();
        assert!(c.is_empty());
        for i in 0..3 {
            c.append(&entry(i)).unwrap();
        }
        assert_eq!(c.durable_len(), 3);
        // Locked against a second writer while open.
        assert!(SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).is_err());
    }
    let head3;
    {
        let mut c = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap();
        assert_eq!(c.len(), 3);
        assert!(c.is_hybrid());
        c.append(&entry(3)).unwrap();
        assert_eq!(c.verify(&bundle()).unwrap(), 4);
        head3 = c.head_hash().to_string();
    }
    // Crash mid-write: half a line at the end.
    let full = std::fs::read(&path).unwrap();
    let mut torn = full.clone();
    torn.extend_from_slice(&full[..700]);
    std::fs::write(&path, &torn).unwrap();
    {
        let c = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c.torn_bytes_truncated(), 700);
        assert_eq!(c.head_hash(), head3);
    }
    assert_eq!(std::fs::read(&path).unwrap(), full);
    // A complete final entry that lost only its newline is kept.
    std::fs::write(&path, &full[..full.len() - 1]).unwrap();
    {
        let c = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap();
        assert_eq!((c.len(), c.torn_bytes_truncated()), (4, 0));
    }
    assert_eq!(std::fs::read(&path).unwrap(), full);
    // Explicit mode that differs from the file's is refused.
    let e = SignedAuditChain::open_file(
        &path,
        kp.clone(),
        FileOptions {
            hybrid: Some(false),
            sync_every: 1,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("hybrid"), "{e}");
    // A corrupted complete line refuses the open (fail closed, nothing silently dropped).
    let mut bad = full.clone();
    let pos = bad.len() / 2;
    bad[pos] = if bad[pos] == b'1' { b'2' } else { b'1' };
    std::fs::write(&path, &bad).unwrap();
    assert!(SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).is_err());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn grouped_fsync_acknowledges_in_batches() {
    let path = tmp("grouped.jsonl");
    let mut c = SignedAuditChain::open_file(
        &path,
        signer(),
        FileOptions {
            hybrid: Some(false),
            sync_every: 4,
        },
    )
    .unwrap();
    for i in 0..6 {
        c.append(&entry(i)).unwrap();
    }
    assert_eq!((c.len(), c.durable_len()), (6, 4));
    c.sync().unwrap();
    assert_eq!(c.durable_len(), 6);
    assert!(!c.is_hybrid());
    drop(c);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn batch_append_links_in_order_and_syncs_once() {
    let path = tmp("batch.jsonl");
    let mut c = SignedAuditChain::open_file(&path, signer(), FileOptions::default()).unwrap();
    c.append(&entry(0)).unwrap();
    let batch: Vec<AuditEntry> = (1..20).map(entry).collect();
    assert_eq!(c.append_batch(&batch).unwrap(), 20);
    assert_eq!(c.durable_len(), 20);
    assert_eq!(c.verify(&bundle()).unwrap(), 20);
    let blob = c.export_jsonl().unwrap();
    for (i, l) in lines(&blob).iter().enumerate() {
        let e = parse(l);
        let data = AuditEntry::from_json_bytes(&e.signed_payload.data).unwrap();
        assert_eq!(data.principal_id, format!("agent-{i}"));
    }
    let mut m = SignedAuditChain::new(signer(), false);
    m.append_batch(&batch).unwrap();
    assert_eq!(m.verify(&bundle()).unwrap(), 19);
    drop(c);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_verdict_is_refused() {
    let e = AuditEntry::new("p", "a", "maybe", "", AuditEntryOptions::default()).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}

/// Errors of the one-line-at-a-time path, the reference for the windowed parallel one.
fn err_one_by_one(blob: &[u8], mode: Option<bool>) -> Option<String> {
    let b = bundle();
    let mut v = ChainVerifier::new(&b, mode, None).unwrap();
    for l in blob.split(|b| *b == b'\n') {
        if let Err(e) = v.push_line(l) {
            return Some(e.to_string());
        }
    }
    v.finish().err().map(|e| e.to_string())
}

#[test]
fn windowed_parallel_verification_matches_one_by_one() {
    // More than one window (512 lines), so tampering lands in the first, a later one and
    // across a window boundary.
    let mut c = SignedAuditChain::new(signer(), false);
    let batch: Vec<AuditEntry> = (0..1100).map(entry).collect();
    c.append_batch(&batch).unwrap();
    let blob = c.export_jsonl().unwrap();
    assert_eq!(
        SignedAuditChain::verify_jsonl(&blob, &bundle(), Some(false), None).unwrap(),
        1100
    );
    assert_eq!(
        verify_reader(std::io::Cursor::new(&blob), &bundle(), Some(false), None).unwrap(),
        1100
    );
    let good = lines(&blob);
    let hybrid_line = chain_of(1, true).export_jsonl().unwrap();
    let mut cases: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    let mut data = good.clone();
    let s = String::from_utf8(data[700].clone()).unwrap();
    data[700] = s
        .replacen("\"data\":[123,", "\"data\":[124,", 1)
        .into_bytes();
    cases.push(("data", data));
    let mut sig = good.clone();
    let mut e = parse(&sig[513]);
    e.signed_payload.ml_dsa_signature[10] ^= 1;
    e.entry_hash = entry_hash(513, &e.previous_hash, &e.signed_payload);
    sig[513] = e.to_line().unwrap().into_bytes();
    cases.push(("signature", sig));
    let mut dropped = good.clone();
    dropped.remove(511);
    cases.push(("drop at a window edge", dropped));
    let mut swapped = good.clone();
    swapped.swap(3, 4);
    cases.push(("reorder", swapped));
    let mut garbage = good.clone();
    garbage[900] = b"{not json".to_vec();
    cases.push(("malformed", garbage));
    let mut spliced = good.clone();
    let mut h = parse(&lines(&hybrid_line)[0]);
    h.index = 600;
    h.previous_hash = parse(&good[599]).entry_hash;
    h.entry_hash = entry_hash(600, &h.previous_hash, &h.signed_payload);
    spliced[600] = h.to_line().unwrap().into_bytes();
    cases.push(("mixed modes", spliced));
    for (what, ls) in cases {
        let mut b = join(&ls);
        // Blank lines are skipped identically on both paths.
        b.splice(0..0, b"\n  \n".iter().copied());
        let expected =
            err_one_by_one(&b, Some(false)).unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(expected.contains("entry "), "{what}: {expected}");
        assert_eq!(err_of(&b, Some(false)), expected, "{what}");
        let from_reader = verify_reader(std::io::Cursor::new(&b), &bundle(), Some(false), None)
            .unwrap_err()
            .to_string();
        assert_eq!(from_reader, expected, "{what}");
    }
    // Explicit mode that differs: refused at entry 0 before any signature is checked.
    let e = SignedAuditChain::verify_jsonl(&blob, &bundle(), Some(true), None).unwrap_err();
    assert_eq!(e.code(), "ALGORITHM_MISMATCH");
}

#[test]
fn close_flushes_releases_the_lock_and_refuses_appends() {
    let path = tmp("close.jsonl");
    let kp = signer();
    let grouped = FileOptions {
        hybrid: Some(false),
        sync_every: 10,
    };
    let mut c = SignedAuditChain::open_file(&path, kp.clone(), grouped).unwrap();
    for i in 0..3 {
        c.append(&entry(i)).unwrap();
    }
    assert_eq!(c.durable_len(), 0);
    let e = SignedAuditChain::open_file(&path, kp.clone(), grouped).unwrap_err();
    assert!(e.to_string().contains("locked"), "{e}");
    c.close().unwrap();
    assert!(c.is_closed());
    assert_eq!(c.durable_len(), 3);
    c.close().unwrap();
    for e in [
        c.append(&entry(3)).unwrap_err(),
        c.append_batch(&[entry(3)]).unwrap_err(),
    ] {
        assert_eq!(e.code(), "CHAIN_CLOSED");
        assert!(e.to_string().contains("close()"), "{e}");
    }
    // Reads still work on the closed chain.
    assert_eq!(c.len(), 3);
    assert_eq!(c.verify(&bundle()).unwrap(), 3);
    let cp = c.checkpoint().unwrap();
    // The lock is gone: a new writer opens the file, sees the flushed entries and continues.
    let mut d = SignedAuditChain::open_file(&path, kp.clone(), grouped).unwrap();
    assert_eq!((d.len(), d.head_hash()), (3, c.head_hash()));
    d.append(&entry(3)).unwrap();
    d.close().unwrap();
    let blob = std::fs::read(&path).unwrap();
    assert_eq!(
        SignedAuditChain::verify_jsonl(&blob, &bundle(), Some(false), Some(&cp)).unwrap(),
        4
    );
    // In memory: close is just the end of appends.
    let mut m = chain_of(1, false);
    m.close().unwrap();
    assert_eq!(m.append(&entry(1)).unwrap_err().code(), "CHAIN_CLOSED");
    assert_eq!(m.verify(&bundle()).unwrap(), 1);
    std::fs::remove_file(&path).unwrap();
}

/// `line` with `extra` spliced in before the closing brace of the object that ends at `end`.
fn with_field_before(line: &[u8], end: usize, extra: &str) -> Vec<u8> {
    let mut out = line[..end].to_vec();
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(&line[end..]);
    out
}

#[test]
fn unsigned_extra_field_in_a_line_is_refused_naming_the_entry() {
    for (name, mode) in [
        ("audit-hybrid.jsonl", None),
        ("audit-pq-only.jsonl", Some(false)),
    ] {
        let good = lines(&interop(name));
        let line = &good[1];
        // At the end of the line object, and at the end of its `signed_payload` object.
        let payload_end = line.windows(2).rposition(|w| w == b"},").unwrap();
        for tampered in [
            with_field_before(line, line.len() - 1, r#","verdict":"refuse""#),
            with_field_before(line, payload_end, r#","verdict":"refuse""#),
        ] {
            let mut bad = good.clone();
            bad[1] = tampered;
            let blob = join(&bad);
            for e in [
                err_of(&blob, mode),
                err_one_by_one(&blob, mode).expect("must be refused"),
            ] {
                assert!(e.contains("entry 1"), "{name}: '{e}' lacks 'entry 1'");
                assert!(e.contains("unknown field `verdict`"), "{name}: {e}");
            }
        }
    }
}

/// What an attacker who can only write the file does to a hybrid chain: null every Ed25519
/// signature and relink with the unkeyed hashes (no key needed).
fn strip_ed25519(blob: &[u8]) -> Vec<u8> {
    let entries = lines(blob)
        .iter()
        .map(|l| {
            let mut e = parse(l);
            e.signed_payload.ed25519_signature = None;
            e
        })
        .collect();
    join(&relink(entries))
}

fn assert_downgrade_refused(e: &kavach_pq::PqError, what: &str) {
    assert_eq!(e.code(), "ALGORITHM_MISMATCH", "{what}: {e}");
    let m = e.to_string();
    assert!(
        m.contains("entry 0") && m.contains("pq-only chain"),
        "{what}: {m}"
    );
    assert!(m.contains("hybrid verifier"), "{what}: {m}");
}

#[test]
fn a_hybrid_chain_stripped_to_pq_only_is_refused_unless_pq_only_is_asked_for() {
    let blob = chain_of(4, true).export_jsonl().unwrap();
    let stripped = strip_ed25519(&blob);
    // The attack is consistent: every link and every ML-DSA signature still holds, so only
    // the mode can refuse it.
    assert_eq!(
        SignedAuditChain::verify_jsonl(&stripped, &bundle(), Some(false), None).unwrap(),
        4
    );
    let e = SignedAuditChain::verify_jsonl(&stripped, &bundle(), None, None).unwrap_err();
    assert_downgrade_refused(&e, "verify_jsonl, default mode");
    let e = verify_reader(std::io::Cursor::new(&stripped), &bundle(), None, None).unwrap_err();
    assert_downgrade_refused(&e, "verify_reader, default mode");
    let e = err_one_by_one(&stripped, None).unwrap();
    assert!(e.contains("entry 0") && e.contains("pq-only chain"), "{e}");
    // Stripping only the tail is caught at the first stripped entry.
    let mut tail: Vec<ChainEntry> = lines(&blob).iter().map(|l| parse(l)).collect();
    tail[3].signed_payload.ed25519_signature = None;
    let e =
        SignedAuditChain::verify_jsonl(&join(&relink(tail)), &bundle(), None, None).unwrap_err();
    assert_eq!(e.code(), "ALGORITHM_MISMATCH");
    assert!(e.to_string().contains("entry 3"), "{e}");
}

#[test]
fn open_file_takes_the_mode_from_the_key_pair_never_from_the_file() {
    let kp = signer();
    let path = tmp("stripped.jsonl");
    {
        let mut c = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap();
        assert!(c.is_hybrid());
        c.append_batch(&[entry(0), entry(1), entry(2)]).unwrap();
    }
    let stripped = strip_ed25519(&std::fs::read(&path).unwrap());
    std::fs::write(&path, &stripped).unwrap();
    // Reopened as the application does (no mode): refused, and nothing is appended.
    let e = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap_err();
    assert_downgrade_refused(&e, "open_file, default mode");
    let e = SignedAuditChain::open_file(
        &path,
        kp.clone(),
        FileOptions {
            hybrid: None,
            sync_every: 1,
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "ALGORITHM_MISMATCH");
    assert_eq!(std::fs::read(&path).unwrap(), stripped);
    std::fs::remove_file(&path).unwrap();

    // A chain written PQ-only on purpose is reopened by asking for PQ-only, and continues so.
    let pq = FileOptions {
        hybrid: Some(false),
        sync_every: 1,
    };
    {
        let mut c = SignedAuditChain::open_file(&path, kp.clone(), pq).unwrap();
        c.append(&entry(0)).unwrap();
    }
    let e = SignedAuditChain::open_file(&path, kp.clone(), FileOptions::default()).unwrap_err();
    assert_eq!(e.code(), "ALGORITHM_MISMATCH");
    assert!(e.to_string().contains("hybrid: false"), "{e}");
    {
        let mut c = SignedAuditChain::open_file(&path, kp.clone(), pq).unwrap();
        assert!(!c.is_hybrid());
        c.append(&entry(1)).unwrap();
    }
    let blob = std::fs::read(&path).unwrap();
    assert!(lines(&blob)
        .iter()
        .all(|l| !parse(l).signed_payload.is_hybrid()));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_hybrid_checkpoint_relabelled_pq_only_is_refused() {
    let mut c = chain_of(3, true);
    let cp = c.checkpoint().unwrap();
    let blob = c.export_jsonl().unwrap();
    // `algorithm` is not signed: relabelled, with the Ed25519 signature dropped, the
    // checkpoint still carries a valid ML-DSA-65 signature.
    let mut stripped = cp.clone();
    stripped.algorithm = "ml-dsa-65".into();
    stripped.ed25519_signature = None;
    let stripped =
        kavach_pq::audit::Checkpoint::from_json(stripped.to_json().unwrap().as_bytes()).unwrap();
    let pv = kavach_pq::signed_payload::PayloadVerifier::new(&bundle()).unwrap();
    stripped.verify_with(&pv, false).unwrap();
    let e = stripped.verify_with(&pv, true).unwrap_err();
    assert_eq!(e.code(), "ALGORITHM_MISMATCH");
    // Default mode: the key's (hybrid). Refused whether the chain is intact or stripped too.
    for (what, chain) in [
        ("intact chain", blob.clone()),
        ("stripped chain", strip_ed25519(&blob)),
    ] {
        let e =
            SignedAuditChain::verify_jsonl(&chain, &bundle(), None, Some(&stripped)).unwrap_err();
        assert_eq!(e.code(), "ALGORITHM_MISMATCH", "{what}: {e}");
        assert!(e.to_string().contains("pq-only checkpoint"), "{what}: {e}");
    }
    assert_eq!(
        SignedAuditChain::verify_jsonl(&blob, &bundle(), None, Some(&cp)).unwrap(),
        3
    );
}
