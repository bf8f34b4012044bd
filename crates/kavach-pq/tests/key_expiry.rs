//! An expired key signs nothing and is trusted for nothing: permit tokens, audit entries and
//! checkpoints, manifests, and both directions of a secure channel, including a channel that
//! was built while the key was still valid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kavach_pq::audit::{AuditEntry, AuditEntryOptions, SignedAuditChain};
use kavach_pq::channel::{ChannelOptions, SecureChannel};
use kavach_pq::{KavachKeyPair, PqTokenSigner, PublicKeyDirectory, TokenFields};

const SEEDS: ([u8; 32], [u8; 32], [u8; 64], [u8; 32]) =
    ([0x21; 32], [0x22; 32], [0x23; 64], [0x24; 32]);

/// The same identity (seeds and id) with the given expiry.
fn identity(id: &str, expires_at: Option<DateTime<Utc>>) -> Arc<KavachKeyPair> {
    let (ml_dsa, ed, kem, x) = SEEDS;
    Arc::new(
        KavachKeyPair::from_seeds(
            id,
            ml_dsa,
            ed,
            kem,
            x,
            Utc::now() - Duration::hours(2),
            expires_at,
        )
        .unwrap(),
    )
}

fn expired() -> Arc<KavachKeyPair> {
    identity(
        "kavach-key-00000000-0000-4000-8000-0000000000e1",
        Some(Utc::now() - Duration::seconds(5)),
    )
}

fn token() -> TokenFields {
    TokenFields::parse(
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        1_700_000_000,
        1_700_000_030,
        "issue_refund",
    )
    .unwrap()
}

fn assert_expired(e: &kavach_pq::PqError, id: &str, what: &str) {
    assert_eq!(e.code(), "KEY_EXPIRED", "{what}: {e}");
    let m = e.to_string();
    assert!(m.contains("expired") && m.contains(id), "{what}: {m}");
}

fn entry() -> AuditEntry {
    AuditEntry::new(
        "agent",
        "issue_refund",
        "permit",
        "t",
        AuditEntryOptions::default(),
    )
    .unwrap()
}

#[test]
fn a_token_signer_from_an_expired_key_pair_refuses_to_sign_in_both_modes() {
    let kp = expired();
    for signer in [
        PqTokenSigner::from_keypair_hybrid(&kp),
        PqTokenSigner::from_keypair_pq_only(&kp),
    ] {
        assert_eq!(signer.expires_at(), kp.expires_at());
        assert_expired(&signer.sign(&token()).unwrap_err(), kp.id(), "sign");
        assert_expired(
            &signer.sign_envelope(&token()).unwrap_err(),
            kp.id(),
            "sign_envelope",
        );
    }
    // Verifying is not limited by the signer's expiry: a signature made by the same keys
    // before expiry (here: the same identity without an expiry) still verifies.
    let live = identity(kp.id(), None);
    let sig = PqTokenSigner::from_keypair_hybrid(&live)
        .sign(&token())
        .unwrap();
    PqTokenSigner::from_keypair_hybrid(&kp)
        .verify(&token(), &sig)
        .unwrap();
}

#[test]
fn a_token_signer_signs_until_its_key_pair_expires() {
    let kp = identity(
        "kavach-key-00000000-0000-4000-8000-0000000000e2",
        Some(Utc::now() + Duration::hours(1)),
    );
    let s = PqTokenSigner::from_keypair_hybrid(&kp);
    s.verify(&token(), &s.sign(&token()).unwrap()).unwrap();
    // Raw-byte signers carry no expiry.
    let b = kp.public_bundle();
    let raw = PqTokenSigner::pq_only(&[], &b.ml_dsa_verifying_key, kp.id()).unwrap();
    assert_eq!(raw.expires_at(), None);
}

#[test]
fn an_expired_key_pair_appends_and_checkpoints_nothing() {
    let kp = expired();
    for hybrid in [true, false] {
        let mut c = SignedAuditChain::new(kp.clone(), hybrid);
        assert_expired(&c.append(&entry()).unwrap_err(), kp.id(), "append");
        assert_expired(
            &c.append_batch(&[entry(), entry()]).unwrap_err(),
            kp.id(),
            "batch",
        );
        assert_eq!(c.len(), 0);
        assert_expired(&c.checkpoint().unwrap_err(), kp.id(), "checkpoint");
    }
    // A caller-chosen signing time cannot backdate the signature.
    let e = kavach_pq::signed_payload::SignedPayload::sign_at(
        &kp,
        b"x".to_vec(),
        true,
        Utc::now() - Duration::days(1),
        uuid::Uuid::new_v4().to_string(),
    )
    .unwrap_err();
    assert_expired(&e, kp.id(), "sign_at in the past");
    // The same chain file is still verifiable with the expired bundle (audits outlive keys).
    let live = identity(kp.id(), None);
    let mut c = SignedAuditChain::new(live, true);
    c.append(&entry()).unwrap();
    assert_eq!(c.verify(&kp.public_bundle()).unwrap(), 1);
}

#[test]
fn an_expired_root_signs_no_manifest() {
    let kp = expired();
    let e = PublicKeyDirectory::build_signed_manifest(&kp, &[kp.public_bundle()]).unwrap_err();
    assert_expired(&e, kp.id(), "manifest");
}

#[test]
fn a_channel_refuses_expired_keys_at_construction_send_and_receive() {
    let expiry = Utc::now() + Duration::seconds(60);
    let a = identity(
        "kavach-key-00000000-0000-4000-8000-0000000000a1",
        Some(expiry),
    );
    let b = Arc::new(KavachKeyPair::generate().unwrap());
    // Both channels are built while `a` is valid.
    let ab = SecureChannel::new(a.clone(), b.public_bundle(), ChannelOptions::default()).unwrap();
    let ba = SecureChannel::new(b.clone(), a.public_bundle(), ChannelOptions::default()).unwrap();
    let signed = ab.send_signed(b"transfer 100", "ctx", "c1").unwrap();
    let plain = ab.send_data(b"raw").unwrap();
    let other = ab.send_signed(b"transfer 200", "ctx", "c2").unwrap();
    assert_eq!(ba.receive_signed(&other, "ctx").unwrap(), b"transfer 200");

    // After `a` expires (the message is still well inside the replay window).
    let after = expiry + Duration::seconds(1);
    ba.set_clock_for_testing(Some(after));
    assert_expired(
        &ba.receive_signed(&signed, "ctx").unwrap_err(),
        a.id(),
        "receive signed",
    );
    assert_expired(
        &ba.receive_data(&plain).unwrap_err(),
        a.id(),
        "receive data",
    );
    assert_expired(
        &ba.send_signed(b"x", "ctx", "c").unwrap_err(),
        a.id(),
        "send to expired",
    );
    assert_expired(
        &ba.send_data(b"x").unwrap_err(),
        a.id(),
        "send data to expired",
    );
    ab.set_clock_for_testing(Some(after));
    assert_expired(
        &ab.send_signed(b"x", "ctx", "c").unwrap_err(),
        a.id(),
        "send by expired",
    );
    // The refused message did not use up its nonce: at a valid time it is still accepted.
    ba.set_clock_for_testing(None);
    assert_eq!(ba.receive_signed(&signed, "ctx").unwrap(), b"transfer 100");

    // Construction with an expired key on either side.
    let gone = expired();
    for (local, remote) in [(gone.clone(), b.clone()), (b.clone(), gone.clone())] {
        let e = SecureChannel::new(local, remote.public_bundle(), ChannelOptions::default())
            .unwrap_err();
        assert_expired(&e, gone.id(), "construction");
    }
}
