//! Secret export/import: round trips keep id, keys and expiry; wrong passphrases and modified
//! blobs are clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use kavach_pq::secret_export::{
    export_secret_with_cost, import_secret_with_limits, ScryptCost, ScryptLimits,
    MAX_SCRYPT_MEMORY_BYTES,
};
use kavach_pq::{
    DirectoryTokenVerifier, KavachKeyPair, PqTokenSigner, PublicKeyDirectory, TokenFields,
};

fn token() -> TokenFields {
    TokenFields::parse(
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        1,
        31,
        "issue_refund",
    )
    .unwrap()
}

const CHEAP: ScryptCost = ScryptCost {
    log_n: 10,
    r: 8,
    p: 1,
};

fn assert_same(a: &KavachKeyPair, b: &KavachKeyPair) {
    assert_eq!(a.id(), b.id());
    assert_eq!(a.created_at(), b.created_at());
    assert_eq!(a.expires_at(), b.expires_at());
    assert_eq!(a.public_bundle(), b.public_bundle());
}

#[test]
fn plain_round_trip_keeps_signatures_verifying() {
    let kp = KavachKeyPair::generate_with_expiry(86_400).unwrap();
    let blob = kp.export_secret(None).unwrap();
    assert_eq!(&blob[..6], b"KVSK\x01\x00");
    let back = KavachKeyPair::import_secret(&blob, None).unwrap();
    assert_same(&kp, &back);
    // A permit signed before the restart verifies under the restored key and vice versa.
    let before = PqTokenSigner::from_keypair_hybrid(&kp)
        .sign(&token())
        .unwrap();
    let after_signer = PqTokenSigner::from_keypair_hybrid(&back);
    after_signer.verify(&token(), &before).unwrap();
    let after = after_signer.sign(&token()).unwrap();
    let dir = Arc::new(PublicKeyDirectory::in_memory(vec![kp.public_bundle()]).unwrap());
    DirectoryTokenVerifier::new(dir, true)
        .verify(&token(), &after, true)
        .unwrap();
    // The agreement keys survive too.
    let (ct, ss) = kp.public_bundle().ml_kem_encapsulate().unwrap();
    assert_eq!(*back.ml_kem_decapsulate(&ct).unwrap(), *ss);
}

#[test]
fn encrypted_round_trip_default_cost() {
    let kp = KavachKeyPair::generate().unwrap();
    let blob = kp
        .export_secret(Some("correct horse battery staple"))
        .unwrap();
    assert_eq!(&blob[..7], b"KVSK\x01\x01\x11"); // mode 1, log_n 17
    let back = KavachKeyPair::import_secret(&blob, Some("correct horse battery staple")).unwrap();
    assert_same(&kp, &back);
    // Fresh salt and nonce every time.
    assert_ne!(
        blob,
        kp.export_secret(Some("correct horse battery staple"))
            .unwrap()
    );
}

#[test]
fn wrong_passphrase_and_modified_blobs_are_clear_errors() {
    let kp = KavachKeyPair::generate_with_expiry(60).unwrap();
    let blob = export_secret_with_cost(&kp, Some("pw-1"), CHEAP).unwrap();
    let back = KavachKeyPair::import_secret(&blob, Some("pw-1")).unwrap();
    assert_same(&kp, &back);
    let e = KavachKeyPair::import_secret(&blob, Some("pw-2")).unwrap_err();
    assert_eq!(e.code(), "PASSPHRASE_INVALID");
    assert!(e.to_string().contains("wrong passphrase"), "{e}");
    let e = KavachKeyPair::import_secret(&blob, None).unwrap_err();
    assert_eq!(e.code(), "PASSPHRASE_INVALID");
    assert!(e.to_string().contains("passphrase is required"));
    // Flip every byte position class: header params, salt, nonce, ciphertext, tag. (The
    // header flips make r = 264 and p = 0, out of the format's range; a cost inside the range
    // but above the import caps is `scrypt_cost_above_the_import_caps_is_refused_before_any_kdf`.)
    for pos in [8, 11, 15, 31, 40, 60, blob.len() - 17, blob.len() - 1] {
        let mut m = blob.clone();
        m[pos] ^= 0x01;
        let e = KavachKeyPair::import_secret(&m, Some("pw-1")).unwrap_err();
        assert_eq!(e.code(), "PASSPHRASE_INVALID", "pos {pos}: {e}");
    }
    // Absurd scrypt cost in a modified header is refused before any work.
    let mut m = blob.clone();
    m[6] = 40;
    assert!(KavachKeyPair::import_secret(&m, Some("pw-1"))
        .unwrap_err()
        .to_string()
        .contains("out of range"));
    let e = KavachKeyPair::import_secret(&blob[..blob.len() - 1], Some("pw-1")).unwrap_err();
    assert_eq!(e.code(), "PASSPHRASE_INVALID");
    assert_eq!(
        KavachKeyPair::import_secret(&blob[..20], Some("pw-1"))
            .unwrap_err()
            .code(),
        "FORMAT_INVALID"
    );

    // Plaintext exports: checksum catches modification; a passphrase is refused.
    let plain = kp.export_secret(None).unwrap();
    for pos in [6, 8, 50, 100, plain.len() - 1] {
        let mut m = plain.clone();
        m[pos] ^= 0x40;
        let e = KavachKeyPair::import_secret(&m, None).unwrap_err();
        assert_eq!(e.code(), "FORMAT_INVALID", "pos {pos}");
        assert!(e.to_string().contains("modified"), "{e}");
    }
    assert_eq!(
        KavachKeyPair::import_secret(&plain, Some("pw"))
            .unwrap_err()
            .code(),
        "PASSPHRASE_INVALID"
    );
    // Not an export at all / unknown version.
    assert_eq!(
        KavachKeyPair::import_secret(b"hello world", None)
            .unwrap_err()
            .code(),
        "FORMAT_INVALID"
    );
    let mut v2 = plain.clone();
    v2[4] = 2;
    assert!(KavachKeyPair::import_secret(&v2, None)
        .unwrap_err()
        .to_string()
        .contains("version 2"));
    // Empty passphrase is a misuse, not "no encryption".
    assert_eq!(
        kp.export_secret(Some("")).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}

/// `blob` with its header's scrypt parameters replaced (the AEAD then fails, but only after a
/// key derivation at that cost, which is what the caps prevent).
fn with_cost(blob: &[u8], cost: ScryptCost) -> Vec<u8> {
    let mut m = blob.to_vec();
    m[6] = cost.log_n;
    m[7..11].copy_from_slice(&cost.r.to_le_bytes());
    m[11..15].copy_from_slice(&cost.p.to_le_bytes());
    m
}

#[test]
fn scrypt_memory_is_bounded_whatever_the_caps() {
    let kp = KavachKeyPair::generate().unwrap();
    let blob = export_secret_with_cost(&kp, Some("pw"), CHEAP).unwrap();
    let widest = ScryptLimits {
        max_log_n: 22,
        max_r: 32,
        max_p: 16,
    };
    // Within every single-parameter range and the widest caps, but 16 GiB of scrypt memory:
    // refused before any key derivation (its allocation would abort the process).
    let huge = ScryptCost {
        log_n: 22,
        r: 32,
        p: 1,
    };
    assert_eq!(huge.memory_bytes(), 16 << 30);
    let e = import_secret_with_limits(&with_cost(&blob, huge), Some("pw"), widest).unwrap_err();
    assert_eq!(e.code(), "PASSPHRASE_INVALID", "{e}");
    assert!(
        e.to_string()
            .contains("log_n 22, r 32 need 16384 MiB of memory, over the limit of 1024 MiB"),
        "{e}"
    );
    let e = export_secret_with_cost(&kp, Some("pw"), huge).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    // At the limit: accepted (an export at 1 GiB is cheap to check here at log_n 10 with the
    // same memory formula, so only the bound itself is asserted).
    let at_limit = ScryptCost {
        log_n: 22,
        r: 2,
        p: 1,
    };
    assert_eq!(at_limit.memory_bytes(), MAX_SCRYPT_MEMORY_BYTES);
}

#[test]
fn scrypt_cost_above_the_import_caps_is_refused_before_any_kdf() {
    assert_eq!(
        ScryptLimits::default(),
        ScryptLimits {
            max_log_n: 18,
            max_r: 8,
            max_p: 2
        }
    );
    let kp = KavachKeyPair::generate().unwrap();
    let blob = export_secret_with_cost(&kp, Some("pw"), CHEAP).unwrap();
    // Each parameter just above its default cap (log_n 19 alone would cost about 600 MiB and
    // seconds of scrypt before the AEAD could refuse the header).
    for (cost, name) in [
        (ScryptCost { log_n: 19, ..CHEAP }, "log_n = 19"),
        (ScryptCost { r: 9, ..CHEAP }, "r = 9"),
        (ScryptCost { p: 3, ..CHEAP }, "p = 3"),
        (
            ScryptCost {
                log_n: 22,
                r: 32,
                p: 16,
            },
            "log_n = 22",
        ),
    ] {
        let e = KavachKeyPair::import_secret(&with_cost(&blob, cost), Some("pw")).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
        assert!(e.to_string().contains(name), "'{e}' does not name {name}");
        assert!(e.to_string().contains("import limit"), "{e}");
    }
    // A genuine export above the default caps imports only with explicitly raised caps.
    let costly = ScryptCost {
        log_n: 10,
        r: 16,
        p: 3,
    };
    let blob = export_secret_with_cost(&kp, Some("pw"), costly).unwrap();
    let e = KavachKeyPair::import_secret(&blob, Some("pw")).unwrap_err();
    assert!(e.to_string().contains("r = 16"), "{e}");
    let raised = ScryptLimits {
        max_log_n: 18,
        max_r: 16,
        max_p: 3,
    };
    assert_same(
        &kp,
        &import_secret_with_limits(&blob, Some("pw"), raised).unwrap(),
    );
}
