//! Permit signing and verification: tamper matrix, downgrade defence both ways, construction
//! errors, and the directory verifier's errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use std::sync::Arc;

use chrono::{Duration, Utc};
use kavach_pq::{
    DirectoryTokenVerifier, KavachKeyPair, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory,
    SignatureEnvelope, TokenFields,
};
use uuid::Uuid;

fn token() -> TokenFields {
    TokenFields {
        token_id: Uuid::parse_str("11111111-1111-4111-8111-111111111111").unwrap(),
        evaluation_id: Uuid::parse_str("22222222-2222-4222-8222-222222222222").unwrap(),
        issued_at: 1_767_225_600,
        expires_at: 1_767_225_630,
        action_name: "issue_refund".into(),
    }
}

fn tampered_tokens() -> Vec<(&'static str, TokenFields)> {
    let t = token();
    let mut out = vec![];
    let mut x = t.clone();
    x.token_id = Uuid::parse_str("11111111-1111-4111-8111-111111111112").unwrap();
    out.push(("token_id", x));
    let mut x = t.clone();
    x.evaluation_id = Uuid::parse_str("32222222-2222-4222-8222-222222222222").unwrap();
    out.push(("evaluation_id", x));
    let mut x = t.clone();
    x.issued_at += 1;
    out.push(("issued_at", x));
    let mut x = t.clone();
    x.expires_at += 3600;
    out.push(("expires_at", x));
    let mut x = t.clone();
    x.action_name = "issue_refund ".into();
    out.push(("action_name", x));
    let mut x = t;
    x.action_name = String::new();
    out.push(("action_name empty", x));
    out
}

fn expect_code(r: kavach_pq::Result<()>, code: &str, words: &str) {
    let e = r.expect_err("must be rejected");
    assert_eq!(e.code(), code, "{e}");
    assert!(e.to_string().contains(words), "'{e}' lacks '{words}'");
}

#[test]
fn sign_verify_round_trip_both_modes() {
    for hybrid in [true, false] {
        let s = if hybrid {
            PqTokenSigner::generate_hybrid().unwrap()
        } else {
            PqTokenSigner::generate_pq_only().unwrap()
        };
        assert_eq!(s.is_hybrid(), hybrid);
        assert!(s.key_id().starts_with("kavach-key-"));
        let sig = s.sign(&token()).unwrap();
        s.verify(&token(), &sig).unwrap();
        let env = SignatureEnvelope::from_bytes(&sig).unwrap();
        assert_eq!(env.key_id, s.key_id());
        assert_eq!(env.ml_dsa_signature.len(), 3309);
        assert_eq!(
            env.ed25519_signature.as_ref().map(Vec::len),
            hybrid.then_some(64)
        );
        // Hedged: two signatures of the same token differ, both verify.
        let sig2 = s.sign(&token()).unwrap();
        assert_ne!(sig, sig2);
        s.verify(&token(), &sig2).unwrap();
    }
}

#[test]
fn tamper_matrix_every_field_and_signature_byte_rejected() {
    let kp = KavachKeyPair::generate().unwrap();
    for hybrid in [true, false] {
        let s = if hybrid {
            PqTokenSigner::from_keypair_hybrid(&kp)
        } else {
            PqTokenSigner::from_keypair_pq_only(&kp)
        };
        let dir = Arc::new(PublicKeyDirectory::in_memory(vec![kp.public_bundle()]).unwrap());
        let v = DirectoryTokenVerifier::new(dir, hybrid);
        let sig = s.sign(&token()).unwrap();
        v.verify(&token(), &sig, true).unwrap();
        for (field, t) in tampered_tokens() {
            expect_code(
                s.verify(&t, &sig),
                "SIGNATURE_INVALID",
                "signature verification failed",
            );
            expect_code(
                v.verify(&t, &sig, true),
                "SIGNATURE_INVALID",
                "signature verification failed",
            );
            let _ = field;
        }
        let env = SignatureEnvelope::from_bytes(&sig).unwrap();
        // Flip bytes across the ML-DSA signature (c~, z, hint region) and the Ed25519 one.
        for pos in [0, 1, 31, 32, 100, 1000, 3000, 3250, 3300, 3308] {
            let mut e = env.clone();
            e.ml_dsa_signature[pos] ^= 0x01;
            expect_code(
                s.verify(&token(), &e.to_bytes()),
                "SIGNATURE_INVALID",
                "signature verification failed",
            );
            expect_code(
                v.verify(&token(), &e.to_bytes(), true),
                "SIGNATURE_INVALID",
                "signature verification failed",
            );
        }
        if hybrid {
            for pos in [0, 31, 32, 63] {
                let mut e = env.clone();
                e.ed25519_signature.as_mut().unwrap()[pos] ^= 0x80;
                expect_code(
                    s.verify(&token(), &e.to_bytes()),
                    "SIGNATURE_INVALID",
                    "Ed25519",
                );
                expect_code(
                    v.verify(&token(), &e.to_bytes(), true),
                    "SIGNATURE_INVALID",
                    "Ed25519",
                );
            }
            // A valid ML-DSA part with a missing Ed25519 part is not hybrid.
            let mut e = env.clone();
            e.ed25519_signature = None;
            expect_code(
                v.verify(&token(), &e.to_bytes(), true),
                "ALGORITHM_MISMATCH",
                "hybrid",
            );
        }
        // Truncated / extended signatures.
        let mut e = env.clone();
        e.ml_dsa_signature.pop();
        expect_code(
            v.verify(&token(), &e.to_bytes(), true),
            "SIGNATURE_INVALID",
            "3309",
        );
        let mut e = env.clone();
        e.ml_dsa_signature.push(0);
        expect_code(
            v.verify(&token(), &e.to_bytes(), true),
            "SIGNATURE_INVALID",
            "3309",
        );
        // Another key id in the envelope.
        let mut e = env.clone();
        e.key_id = "kavach-key-someone-else".into();
        expect_code(
            s.verify(&token(), &e.to_bytes()),
            "SIGNATURE_INVALID",
            "signature verification failed",
        );
        expect_code(
            v.verify(&token(), &e.to_bytes(), true),
            "KEY_NOT_FOUND",
            "public key not found",
        );
        // Garbage bytes: a malformed envelope.
        expect_code(
            v.verify(&token(), b"not json", true),
            "FORMAT_INVALID",
            "malformed signature envelope",
        );
    }
}

#[test]
fn downgrade_defence_both_ways() {
    let kp = KavachKeyPair::generate().unwrap();
    let hybrid = PqTokenSigner::from_keypair_hybrid(&kp);
    let pq = PqTokenSigner::from_keypair_pq_only(&kp);
    let dir = Arc::new(PublicKeyDirectory::in_memory(vec![kp.public_bundle()]).unwrap());
    let hv = DirectoryTokenVerifier::new(dir.clone(), true);
    let pv = DirectoryTokenVerifier::new(dir, false);
    let h_sig = hybrid.sign(&token()).unwrap();
    let p_sig = pq.sign(&token()).unwrap();
    expect_code(
        hybrid.verify(&token(), &p_sig),
        "ALGORITHM_MISMATCH",
        "hybrid",
    );
    expect_code(
        hv.verify(&token(), &p_sig, true),
        "ALGORITHM_MISMATCH",
        "hybrid",
    );
    expect_code(
        pq.verify(&token(), &h_sig),
        "ALGORITHM_MISMATCH",
        "ml-dsa-65",
    );
    expect_code(
        pv.verify(&token(), &h_sig, true),
        "ALGORITHM_MISMATCH",
        "ml-dsa-65",
    );
    // Relabelling a hybrid envelope as PQ-only (dropping the Ed25519 part) is still refused by
    // the hybrid verifier, and relabelling a PQ-only one as hybrid has no Ed25519 signature.
    let mut e = SignatureEnvelope::from_bytes(&h_sig).unwrap();
    e.algorithm = "ml-dsa-65".into();
    e.ed25519_signature = None;
    expect_code(
        hv.verify(&token(), &e.to_bytes(), true),
        "ALGORITHM_MISMATCH",
        "hybrid",
    );
    let mut e = SignatureEnvelope::from_bytes(&p_sig).unwrap();
    e.algorithm = "ml-dsa-65+ed25519".into();
    expect_code(
        hv.verify(&token(), &e.to_bytes(), true),
        "ALGORITHM_MISMATCH",
        "Ed25519",
    );
    // A PQ-only envelope that smuggles an Ed25519 signature is refused by PQ-only verifiers.
    let mut e = SignatureEnvelope::from_bytes(&p_sig).unwrap();
    e.ed25519_signature = Some(vec![0; 64]);
    expect_code(
        pv.verify(&token(), &e.to_bytes(), true),
        "ALGORITHM_MISMATCH",
        "hybrid",
    );
    // Unknown algorithm names.
    let mut e = SignatureEnvelope::from_bytes(&h_sig).unwrap();
    e.algorithm = "ML-DSA-65+Ed25519".into();
    expect_code(
        hv.verify(&token(), &e.to_bytes(), true),
        "ALGORITHM_MISMATCH",
        "hybrid",
    );
}

#[test]
fn construction_from_bytes_checks_lengths_and_pairs() {
    let kp = interop_signer();
    let b = kp.public_bundle();
    let (vk, ed) = (
        b.ml_dsa_verifying_key.clone(),
        b.ed25519_verifying_key.clone(),
    );
    let id = SIGNER_ID;
    let bad = |r: kavach_pq::Result<PqTokenSigner>, words: &str| {
        let e = r.expect_err("must fail");
        assert_eq!(e.code(), "INVALID_KEY", "{e}");
        assert!(e.to_string().contains(words), "'{e}' lacks '{words}'");
    };
    bad(PqTokenSigner::pq_only(&[0x10; 31], &vk, id), "32-byte seed");
    bad(
        PqTokenSigner::pq_only(&[0x10; 4032], &vk, id),
        "32-byte seed",
    );
    bad(PqTokenSigner::pq_only(&[0x10; 32], &vk[..1951], id), "1952");
    bad(
        PqTokenSigner::pq_only(&[0x10; 32], &[vk.clone(), vec![0]].concat(), id),
        "1952",
    );
    bad(
        PqTokenSigner::pq_only(&[0x99; 32], &vk, id),
        "does not match",
    );
    bad(
        PqTokenSigner::hybrid(&[0x10; 32], &vk, &[0x11; 31], &ed, id),
        "32-byte seed",
    );
    bad(
        PqTokenSigner::hybrid(&[0x10; 32], &vk, &[0x11; 32], &ed[..31], id),
        "32 bytes",
    );
    bad(
        PqTokenSigner::hybrid(&[0x10; 32], &vk, &[0x12; 32], &ed, id),
        "does not match",
    );
    bad(
        PqTokenSigner::hybrid(&[0x10; 32], &vk, &[], &ed, id),
        "both signing keys",
    );
    // Small-order Ed25519 key (identity point).
    let mut ident = [0u8; 32];
    ident[0] = 1;
    bad(
        PqTokenSigner::hybrid(&[], &vk, &[], &ident, id),
        "small order",
    );
    let e = PqTokenSigner::pq_only(&[0x10; 32], &vk, " ").unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    // Verifier-only signers cannot sign.
    let v = PqTokenSigner::pq_only(&[], &vk, id).unwrap();
    assert!(!v.can_sign());
    let e = v.sign(&token()).unwrap_err();
    assert_eq!(e.code(), "SIGNING_FAILED");
    assert!(e.to_string().contains("verifier only"));
}

#[test]
fn directory_verifier_errors_and_expiry() {
    let live = KavachKeyPair::generate().unwrap();
    let mut expired_bundle = live.public_bundle();
    expired_bundle.id = "kavach-key-expired".into();
    expired_bundle.expires_at = Some(Utc::now() - Duration::seconds(5));
    let dir = Arc::new(PublicKeyDirectory::in_memory(vec![expired_bundle.clone()]).unwrap());
    let v = DirectoryTokenVerifier::new(dir.clone(), true);
    // The same key material under the expired id.
    let s = PqTokenSigner::hybrid(
        &[],
        &live.public_bundle().ml_dsa_verifying_key,
        &[],
        &live.public_bundle().ed25519_verifying_key,
        "kavach-key-expired",
    )
    .unwrap();
    assert!(!s.can_sign());
    let signer = PqTokenSigner::from_keypair_hybrid(&live);
    let env = SignatureEnvelope::from_bytes(&signer.sign(&token()).unwrap()).unwrap();
    let mut e = env.clone();
    e.key_id = "kavach-key-expired".into();
    let r = v.verify(&token(), &e.to_bytes(), true);
    let err = r.unwrap_err();
    assert_eq!(err.code(), "KEY_EXPIRED");
    assert!(err.to_string().contains("expired") && err.to_string().contains("kavach-key-expired"));
    // Without expiry enforcement it verifies (audits replay old permits).
    v.verify(&token(), &e.to_bytes(), false).unwrap();
    // Unknown key.
    let err = v.verify(&token(), &env.to_bytes(), true).unwrap_err();
    assert_eq!(err.code(), "KEY_NOT_FOUND");
    assert!(err.to_string().contains("public key not found"));
    assert!(err.to_string().contains(live.id()));
    // Insert it, verify, remove it again.
    dir.insert(live.public_bundle()).unwrap();
    v.verify(&token(), &env.to_bytes(), true).unwrap();
    assert!(dir.remove(live.id()).unwrap());
    assert!(!dir.remove(live.id()).unwrap());
    assert_eq!(
        v.verify(&token(), &env.to_bytes(), true)
            .unwrap_err()
            .code(),
        "KEY_NOT_FOUND"
    );
    // The token's own expiry is not judged: an old token verifies.
    dir.insert(live.public_bundle()).unwrap();
    let old = TokenFields {
        issued_at: 0,
        expires_at: 30,
        ..token()
    };
    let sig = signer.sign(&old).unwrap();
    v.verify(&old, &sig, true).unwrap();
}

#[test]
fn key_pair_basics_and_debug_redaction() {
    let kp = KavachKeyPair::generate_with_expiry(3600).unwrap();
    assert!(kp.id().starts_with("kavach-key-"));
    assert_eq!(
        Uuid::parse_str(&kp.id()["kavach-key-".len()..])
            .unwrap()
            .get_version_num(),
        4
    );
    assert!(!kp.is_expired());
    assert_eq!(
        (kp.expires_at().unwrap() - kp.created_at()).num_seconds(),
        3600
    );
    let expired = KavachKeyPair::generate_with_expiry(0).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(expired.is_expired());
    let b = kp.public_bundle();
    assert_eq!(
        (
            b.ml_dsa_verifying_key.len(),
            b.ml_kem_encapsulation_key.len(),
            b.ed25519_verifying_key.len(),
            b.x25519_public_key.len()
        ),
        (1952, 1184, 32, 32)
    );
    let dbg = format!("{kp:?}");
    assert!(
        dbg.starts_with(&format!("KavachKeyPair {{ id: \"{}\"", kp.id())),
        "{dbg}"
    );
    assert!(dbg.ends_with(".. }"), "{dbg}");
    let signer_dbg = format!("{:?}", PqTokenSigner::from_keypair_hybrid(&kp));
    assert!(!signer_dbg.contains('['), "{signer_dbg}");
    // Signatures under the key pair verify under its bundle.
    let msg = b"hello";
    b.verify_ml_dsa(msg, &kp.sign_ml_dsa(msg)).unwrap();
    b.verify_ed25519(msg, &kp.sign_ed25519(msg)).unwrap();
    assert_eq!(
        b.verify_ml_dsa(b"other", &kp.sign_ml_dsa(msg))
            .unwrap_err()
            .code(),
        "SIGNATURE_INVALID"
    );
    assert_eq!(
        b.verify_ed25519(b"other", &kp.sign_ed25519(msg))
            .unwrap_err()
            .code(),
        "SIGNATURE_INVALID"
    );
}

#[test]
fn kem_and_x25519_agree_and_reject_low_order() {
    let kp = KavachKeyPair::generate().unwrap();
    let b = kp.public_bundle();
    let (ct, ss) = b.ml_kem_encapsulate().unwrap();
    assert_eq!(ct.len(), 1088);
    assert_eq!(*kp.ml_kem_decapsulate(&ct).unwrap(), *ss);
    assert_eq!(
        kp.ml_kem_decapsulate(&ct[..1000]).unwrap_err().code(),
        "DECRYPTION_FAILED"
    );
    let other = KavachKeyPair::generate().unwrap();
    let ob = other.public_bundle();
    let a = kp
        .x25519_diffie_hellman(&ob.x25519_public_key.clone().try_into().unwrap())
        .unwrap();
    let c = other
        .x25519_diffie_hellman(&b.x25519_public_key.clone().try_into().unwrap())
        .unwrap();
    assert_eq!(*a, *c);
    // Low-order points give an all-zero secret: refused.
    for low in [[0u8; 32], {
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    }] {
        let e = kp.x25519_diffie_hellman(&low).unwrap_err();
        assert_eq!(e.code(), "DECRYPTION_FAILED");
    }
}

#[test]
fn bundle_json_rejects_bad_lengths_and_fields() {
    let json = interop_signer().public_bundle().to_json();
    let short = json.replacen(
        "\"ed25519_verifying_key\":[",
        "\"ed25519_verifying_key\":[1,",
        1,
    );
    let e = PublicKeyBundle::from_json(&short).unwrap_err();
    assert_eq!(e.code(), "INVALID_KEY");
    assert!(
        e.to_string()
            .contains("ed25519_verifying_key must be 32 bytes, got 33"),
        "{e}"
    );
    let extra = json.replacen("{\"id\"", "{\"extra\":1,\"id\"", 1);
    assert_eq!(
        PublicKeyBundle::from_json(&extra).unwrap_err().code(),
        "FORMAT_INVALID"
    );
    let big = json.replacen("\"x25519_public_key\":[", "\"x25519_public_key\":[256,", 1);
    assert_eq!(
        PublicKeyBundle::from_json(&big).unwrap_err().code(),
        "FORMAT_INVALID"
    );
    let offset = json.replace("2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00");
    let b = PublicKeyBundle::from_json(&offset).unwrap();
    assert_eq!(b.to_json(), json);
}

/// Signs `token()` and verifies the same token as JS would pass it, with the given times and
/// `observeOnly`.
fn verify_js_input(
    issued_at: f64,
    expires_at: f64,
    observe_only: Option<bool>,
) -> kavach_pq::Result<()> {
    let s = PqTokenSigner::generate_hybrid().unwrap();
    let t = token();
    let sig = s.sign(&t).unwrap();
    let input = TokenFields::from_js(
        &t.token_id.to_string(),
        &t.evaluation_id.to_string(),
        issued_at,
        expires_at,
        t.action_name.clone(),
        observe_only,
    )?;
    s.verify(&input, &sig)
}

#[test]
fn token_input_with_fractional_time_or_observe_only_is_not_the_signed_token() {
    let (iat, exp) = (1_767_225_600.0, 1_767_225_630.0);
    // The exact token verifies, with `observeOnly` absent or false.
    verify_js_input(iat, exp, None).unwrap();
    verify_js_input(iat, exp, Some(false)).unwrap();
    // A fraction the i64 field would drop is refused, naming the field.
    expect_code(
        verify_js_input(iat, exp + 0.999, None),
        "INVALID_ARGUMENT",
        "expiresAt",
    );
    expect_code(
        verify_js_input(iat + 0.5, exp, None),
        "INVALID_ARGUMENT",
        "issuedAt",
    );
    for bad in [f64::NAN, f64::INFINITY, 1e300] {
        expect_code(
            verify_js_input(iat, bad, None),
            "INVALID_ARGUMENT",
            "expiresAt",
        );
    }
    // `observeOnly` is not signed: a flipped flag is refused instead of verifying.
    expect_code(
        verify_js_input(iat, exp, Some(true)),
        "INVALID_ARGUMENT",
        "observeOnly",
    );
}

#[test]
fn only_the_canonical_uuid_spelling_is_a_token_id() {
    let id = "1cbf910f-a600-44d7-84d6-39262159033a";
    let eval = "22222222-2222-4222-8222-222222222222";
    let canonical = TokenFields::parse(id, eval, 1, 2, "refund").unwrap();
    let signer = PqTokenSigner::generate_hybrid().unwrap();
    let sig = signer.sign(&canonical).unwrap();
    signer.verify(&canonical, &sig).unwrap();
    let simple = id.replace('-', "");
    for spelled in [
        id.to_uppercase(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
        simple.clone(),
        simple.to_uppercase(),
        format!(" {id}"),
    ] {
        for (token_id, evaluation_id, field) in [
            (spelled.as_str(), eval, "tokenId"),
            (id, spelled.as_str(), "evaluationId"),
        ] {
            let e = TokenFields::parse(token_id, evaluation_id, 1, 2, "refund").unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{spelled}");
            let m = e.to_string();
            assert!(m.contains(field), "{m}");
            let form = m.contains("canonical form") || m.contains("is not a UUID");
            assert!(form, "{spelled}: {m}");
            let e = TokenFields::from_js(token_id, evaluation_id, 1.0, 2.0, "refund", None)
                .unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT");
        }
        // Spellings the uuid crate reads name the canonical form.
        if !spelled.starts_with(' ') {
            let m = TokenFields::parse(&spelled, eval, 1, 2, "refund")
                .unwrap_err()
                .to_string();
            assert!(m.contains("canonical form") && m.contains(id), "{m}");
        }
    }
}
