//! Secure channel: round trip, replay, context, recipient, tamper, re-wrap, time window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use kavach_pq::channel::{
    ChannelMessage, ChannelOptions, SealedPayload, SecureChannel, DEFAULT_MAX_MESSAGE_BYTES,
};
use kavach_pq::KavachKeyPair;

fn kp() -> Arc<KavachKeyPair> {
    Arc::new(KavachKeyPair::generate().unwrap())
}

fn pair(a: &Arc<KavachKeyPair>, b: &Arc<KavachKeyPair>) -> (SecureChannel, SecureChannel) {
    (
        SecureChannel::new(a.clone(), b.public_bundle(), ChannelOptions::default()).unwrap(),
        SecureChannel::new(b.clone(), a.public_bundle(), ChannelOptions::default()).unwrap(),
    )
}

#[test]
fn round_trip_replay_and_context() {
    let (a, b) = (kp(), kp());
    let (ab, ba) = pair(&a, &b);
    assert_eq!(ab.local_key_id(), a.id());
    assert_eq!(ab.remote_key_id(), b.id());
    let sealed = ab.send_signed(b"refund 500", "ctx-1", "corr-1").unwrap();
    // Wrong context first: refused, and the nonce is not consumed.
    let e = ba.receive_signed(&sealed, "ctx-2").unwrap_err();
    assert_eq!(e.code(), "CONTEXT_MISMATCH");
    assert!(e.to_string().contains("context"));
    assert_eq!(ba.receive_signed(&sealed, "ctx-1").unwrap(), b"refund 500");
    let e = ba.receive_signed(&sealed, "ctx-1").unwrap_err();
    assert_eq!(e.code(), "REPLAY");
    assert!(e.to_string().contains("replay"));
    // Raw data both ways.
    let raw = ba.send_data(b"hello").unwrap();
    assert_eq!(ab.receive_data(&raw).unwrap(), b"hello");
    // An unsigned blob given to receive_signed.
    let e = ab.receive_signed(&ab_to_self(&ba), "ctx-1").unwrap_err();
    assert!(e.to_string().contains("receiveData"), "{e}");
}

fn ab_to_self(ba: &SecureChannel) -> Vec<u8> {
    ba.send_data(b"not signed").unwrap()
}

#[test]
fn wrong_recipient_and_tamper() {
    let (a, b, c) = (kp(), kp(), kp());
    let (ab, _) = pair(&a, &b);
    let ca = SecureChannel::new(c.clone(), a.public_bundle(), ChannelOptions::default()).unwrap();
    let sealed = ab.send_signed(b"x", "ctx", "corr").unwrap();
    let e = ca.receive_signed(&sealed, "ctx").unwrap_err();
    assert!(e.to_string().contains("wrong recipient"), "{e}");
    let ba = SecureChannel::new(b.clone(), a.public_bundle(), ChannelOptions::default()).unwrap();
    // Flip one byte of every byte field, and change each string field.
    let s: SealedPayload = serde_json::from_slice(&sealed).unwrap();
    let mut variants = Vec::new();
    for field in 0..4 {
        let mut t = s.clone();
        match field {
            0 => t.kem_ciphertext[10] ^= 1,
            1 => t.encrypted_data[3] ^= 1,
            2 => t.nonce[0] ^= 1,
            _ => t.ephemeral_x25519_pk.as_mut().unwrap()[5] ^= 1,
        }
        variants.push(t);
    }
    let mut t = s.clone();
    t.payload_id = uuid::Uuid::new_v4().to_string();
    variants.push(t);
    let mut t = s.clone();
    t.ephemeral_x25519_pk = None;
    variants.push(t);
    for (i, t) in variants.into_iter().enumerate() {
        let e = ba
            .receive_signed(&serde_json::to_vec(&t).unwrap(), "ctx")
            .unwrap_err();
        assert!(!e.to_string().is_empty(), "variant {i}");
    }
    assert_eq!(ba.receive_signed(&sealed, "ctx").unwrap(), b"x");
}

#[test]
fn a_sealed_payload_with_a_key_it_does_not_know_is_refused() {
    let (a, b) = (kp(), kp());
    let (ab, ba) = pair(&a, &b);
    let sealed = String::from_utf8(ab.send_signed(b"x", "ctx", "corr").unwrap()).unwrap();
    // A renamed auth_tag (which may be absent) and an added key: one changed byte each way.
    for changed in [
        sealed.replacen("\"auth_tag\"", "\"buth_tag\"", 1),
        sealed.replacen("{", "{\"x\":1,", 1),
    ] {
        assert_ne!(changed, sealed);
        let e = ba.receive_signed(changed.as_bytes(), "ctx").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
    // auth_tag left out entirely is still a valid message (the field has a default).
    let without = sealed.replacen(",\"auth_tag\":[]", "", 1);
    assert_ne!(without, sealed);
    assert_eq!(ba.receive_signed(without.as_bytes(), "ctx").unwrap(), b"x");
}

#[test]
fn rewrap_to_another_recipient_is_refused() {
    let (a, b, c) = (kp(), kp(), kp());
    let (ab, _) = pair(&a, &b);
    let sealed = ab.send_signed(b"pay", "ctx-b", "corr").unwrap();
    // B (malicious) decrypts and re-encrypts A's signed message to C, in C's context.
    let ba = SecureChannel::new(b.clone(), a.public_bundle(), ChannelOptions::default()).unwrap();
    let plain = ba.receive_data(&sealed).unwrap();
    let mut msg: ChannelMessage = serde_json::from_slice(&plain).unwrap();
    msg.context_id = "ctx-c".into();
    let bc = SecureChannel::new(b.clone(), c.public_bundle(), ChannelOptions::default()).unwrap();
    let rewrapped = bc.send_data(&serde_json::to_vec(&msg).unwrap()).unwrap();
    let ca = SecureChannel::new(c.clone(), a.public_bundle(), ChannelOptions::default()).unwrap();
    let e = ca.receive_signed(&rewrapped, "ctx-c").unwrap_err();
    assert!(
        e.to_string().contains("signature verification failed"),
        "{e}"
    );
}

#[test]
fn out_of_window_messages_are_refused() {
    let (a, b) = (kp(), kp());
    let (ab, ba) = pair(&a, &b);
    ab.set_clock_for_testing(Some(Utc::now() - Duration::seconds(301)));
    let old = ab.send_signed(b"old", "ctx", "c").unwrap();
    ab.set_clock_for_testing(Some(Utc::now() + Duration::seconds(60)));
    let future = ab.send_signed(b"future", "ctx", "c").unwrap();
    for m in [old, future] {
        let e = ba.receive_signed(&m, "ctx").unwrap_err();
        assert_eq!(e.code(), "REPLAY", "{e}");
    }
    // Once a nonce leaves the window it is forgotten, and the message is refused as too old.
    ab.set_clock_for_testing(None);
    let m = ab.send_signed(b"now", "ctx", "c").unwrap();
    ba.receive_signed(&m, "ctx").unwrap();
    assert_eq!(ba.tracked_nonces(), 1);
    ba.set_clock_for_testing(Some(Utc::now() + Duration::seconds(400)));
    let e = ba.receive_signed(&m, "ctx").unwrap_err();
    assert!(
        e.to_string().contains("older than the replay window"),
        "{e}"
    );
}

#[test]
fn a_replay_stays_refused_after_the_receivers_clock_steps_back() {
    let (a, b) = (kp(), kp());
    let (ab, ba) = pair(&a, &b);
    let t = Utc::now();
    ab.set_clock_for_testing(Some(t));
    ba.set_clock_for_testing(Some(t));
    let m = ab.send_signed(b"transfer 100", "ctx", "corr").unwrap();
    assert_eq!(ba.receive_signed(&m, "ctx").unwrap(), b"transfer 100");
    // Past the window the nonce is forgotten (memory stays bounded) and the message is too old.
    ba.set_clock_for_testing(Some(t + Duration::seconds(301)));
    let e = ba.receive_signed(&m, "ctx").unwrap_err();
    assert_eq!(e.code(), "REPLAY");
    assert_eq!(ba.tracked_nonces(), 0);
    // The clock steps back (NTP, a restored snapshot): the message is still too old, measured
    // from the latest time the receiver has read.
    ba.set_clock_for_testing(Some(t + Duration::seconds(5)));
    let e = ba.receive_signed(&m, "ctx").unwrap_err();
    assert_eq!(e.code(), "REPLAY", "{e}");
    assert!(
        e.to_string().contains("older than the replay window")
            && e.to_string().contains("latest time this receiver has read"),
        "{e}"
    );
    // New messages inside the window of the latest reading are still accepted, once.
    ab.set_clock_for_testing(Some(t + Duration::seconds(10)));
    let fresh = ab.send_signed(b"transfer 7", "ctx", "corr").unwrap();
    assert_eq!(ba.receive_signed(&fresh, "ctx").unwrap(), b"transfer 7");
    assert_eq!(
        ba.receive_signed(&fresh, "ctx").unwrap_err().code(),
        "REPLAY"
    );
}

fn limited(a: &Arc<KavachKeyPair>, b: &Arc<KavachKeyPair>, max: usize) -> SecureChannel {
    let opts = ChannelOptions {
        max_message_bytes: max,
        ..ChannelOptions::default()
    };
    SecureChannel::new(a.clone(), b.public_bundle(), opts).unwrap()
}

fn expect_over_limit(r: kavach_pq::Result<Vec<u8>>, max: usize) {
    let e = r.expect_err("over the limit must be refused");
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    assert!(
        e.to_string().contains(&format!("maxMessageBytes = {max}")),
        "'{e}' does not name the limit"
    );
}

#[test]
fn max_message_bytes_is_checked_before_any_work() {
    assert_eq!(ChannelOptions::default().max_message_bytes, 4 << 20);
    assert_eq!(DEFAULT_MAX_MESSAGE_BYTES, 4 << 20);
    let (a, b) = (kp(), kp());
    let (ab, ba_default) = pair(&a, &b);
    // Not even JSON: the size error comes first, so nothing was parsed or decrypted.
    let junk = vec![b'['; DEFAULT_MAX_MESSAGE_BYTES + 1];
    expect_over_limit(
        ba_default.receive_signed(&junk, "ctx"),
        DEFAULT_MAX_MESSAGE_BYTES,
    );
    expect_over_limit(ba_default.receive_data(&junk), DEFAULT_MAX_MESSAGE_BYTES);

    // A genuine message over a smaller receiver limit is refused, and one at the limit is not.
    let sealed = ab.send_signed(&[7u8; 2048], "ctx", "corr").unwrap();
    let tight = limited(&b, &a, sealed.len() - 1);
    expect_over_limit(tight.receive_signed(&sealed, "ctx"), sealed.len() - 1);
    let exact = limited(&b, &a, sealed.len());
    assert_eq!(
        exact.receive_signed(&sealed, "ctx").unwrap(),
        vec![7u8; 2048]
    );

    // The sender refuses what its own limit would refuse, raw or signed.
    let small = limited(&a, &b, 1024);
    expect_over_limit(small.send_data(&[0u8; 1025]), 1024);
    expect_over_limit(small.send_data(&[0u8; 100]), 1024);
    expect_over_limit(small.send_signed(b"x", "ctx", "corr"), 1024);
    // Data over the limit is refused as given, before it is signed and encoded (the size
    // named is the data's own, not that of a signed message built from it).
    let e = small.send_signed(&[0u8; 1025], "ctx", "corr").unwrap_err();
    assert!(
        e.to_string().ends_with(
            "message to send is 1025 bytes, over the channel limit maxMessageBytes = 1024"
        ),
        "{e}"
    );
}
