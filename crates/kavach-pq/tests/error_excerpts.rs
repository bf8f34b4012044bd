//! Error messages quote offending values cut to about 100 characters, however long the
//! value: a megabyte of remote input never becomes a megabyte of error message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kavach_pq::audit::{AuditEntry, AuditEntryOptions, ChainEntry, Checkpoint, SignedAuditChain};
use kavach_pq::channel::{ChannelOptions, SealedPayload, SecureChannel};
use kavach_pq::{
    DirectoryTokenVerifier, KavachKeyPair, PqError, PqTokenSigner, PublicKeyDirectory,
    SignatureEnvelope, TokenFields,
};

const MB: usize = 1_000_000;

fn big() -> String {
    "A".repeat(MB)
}

/// The message is short, says what it is about, and shows the cut value with its length.
fn assert_short(e: &PqError, code: &str, words: &str) {
    let m = e.to_string();
    assert_eq!(e.code(), code, "{}", &m[..m.len().min(300)]);
    assert!(m.len() < 600, "{code}: message of {} bytes", m.len());
    assert!(m.contains(words), "{m}");
    assert!(m.contains("(1000000 characters)"), "{m}");
}

fn kp() -> Arc<KavachKeyPair> {
    Arc::new(KavachKeyPair::generate().unwrap())
}

#[test]
fn a_remote_context_id_is_cut_in_context_mismatch() {
    let (a, b) = (kp(), kp());
    let ab = SecureChannel::new(a.clone(), b.public_bundle(), ChannelOptions::default()).unwrap();
    let ba = SecureChannel::new(b, a.public_bundle(), ChannelOptions::default()).unwrap();
    let m = ab.send_signed(b"x", &big(), "r").unwrap();
    let e = ba.receive_signed(&m, "other").unwrap_err();
    assert_short(&e, "CONTEXT_MISMATCH", "context");
    // And the expected id, when it is the long one.
    let m = ab.send_signed(b"x", "ctx", "r").unwrap();
    assert_short(
        &ba.receive_signed(&m, &big()).unwrap_err(),
        "CONTEXT_MISMATCH",
        "context",
    );
}

#[test]
fn an_unsigned_recipient_key_id_is_cut() {
    let (a, b) = (kp(), kp());
    let ab = SecureChannel::new(a.clone(), b.public_bundle(), ChannelOptions::default()).unwrap();
    let ba = SecureChannel::new(b, a.public_bundle(), ChannelOptions::default()).unwrap();
    let mut s: SealedPayload = serde_json::from_slice(&ab.send_data(b"x").unwrap()).unwrap();
    s.recipient_key_id = big();
    let e = ba
        .receive_data(&serde_json::to_vec(&s).unwrap())
        .unwrap_err();
    assert_short(&e, "DECRYPTION_FAILED", "wrong recipient");
}

#[test]
fn key_ids_from_callers_and_envelopes_are_cut() {
    let dir = Arc::new(PublicKeyDirectory::in_memory(vec![]).unwrap());
    assert_short(
        &dir.fetch(&big()).unwrap_err(),
        "KEY_NOT_FOUND",
        "public key not found",
    );
    let signer = PqTokenSigner::generate_hybrid().unwrap();
    let token = TokenFields::parse(
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        1,
        2,
        "x",
    )
    .unwrap();
    let mut env = signer.sign_envelope(&token).unwrap();
    env.key_id = big();
    let v = DirectoryTokenVerifier::new(dir, true);
    let e = v.verify(&token, &env.to_bytes(), true).unwrap_err();
    assert_short(&e, "KEY_NOT_FOUND", "public key not found");
    let e = signer.verify(&token, &env.to_bytes()).unwrap_err();
    assert_short(&e, "SIGNATURE_INVALID", "envelope was signed by key");
    let mut alg = signer.sign_envelope(&token).unwrap();
    alg.algorithm = big();
    let e = v.verify(&token, &alg.to_bytes(), true).unwrap_err();
    assert_short(&e, "ALGORITHM_MISMATCH", "algorithm");
    let e = SignatureEnvelope::from_bytes(format!("{{\"{}\":1}}", big()).as_bytes()).unwrap_err();
    assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());
}

#[test]
fn token_ids_are_cut() {
    let e =
        TokenFields::parse(&big(), "22222222-2222-4222-8222-222222222222", 1, 2, "x").unwrap_err();
    assert_short(&e, "INVALID_ARGUMENT", "tokenId");
}

#[test]
fn audit_values_are_cut() {
    let e = AuditEntry::new("p", "a", &big(), "", AuditEntryOptions::default()).unwrap_err();
    assert_short(&e, "INVALID_ARGUMENT", "verdict");
    let k = kp();
    let mut c = SignedAuditChain::new(k.clone(), true);
    c.append(&AuditEntry::new("p", "a", "permit", "", AuditEntryOptions::default()).unwrap())
        .unwrap();
    let blob = c.export_jsonl().unwrap();
    let line = std::str::from_utf8(&blob).unwrap().trim_end();
    let mut e = ChainEntry::from_line(line.as_bytes()).unwrap();
    e.signed_payload.key_id = big();
    let tampered = format!("{}\n", e.to_line().unwrap());
    let err = SignedAuditChain::verify_jsonl(tampered.as_bytes(), &k.public_bundle(), None, None)
        .unwrap_err();
    assert_short(&err, "CHAIN_INVALID", "entry 0: key id");
    // A line or checkpoint that does not parse: the parser's message is cut too.
    let junk = format!("{{\"{}\":1}}\n", big());
    let err = SignedAuditChain::verify_jsonl(junk.as_bytes(), &k.public_bundle(), None, None)
        .unwrap_err();
    assert!(
        err.to_string().len() < 600 && err.to_string().contains("entry 0"),
        "{err}"
    );
    let err = Checkpoint::from_json(junk.trim_end().as_bytes()).unwrap_err();
    assert!(
        err.to_string().len() < 600,
        "{} bytes",
        err.to_string().len()
    );
}
