//! The three classical primitives the secure channel is built from, behind byte-slice
//! signatures so the Wycheproof known-answer tests exercise exactly the code the channel runs
//! (including its own length checks), not just the upstream crates.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{PqError, Result};

/// ChaCha20-Poly1305 key length.
pub const AEAD_KEY_LEN: usize = 32;
/// ChaCha20-Poly1305 nonce length (RFC 8439); anything else is refused.
pub const AEAD_NONCE_LEN: usize = 12;
/// Poly1305 tag length.
pub const AEAD_TAG_LEN: usize = 16;

fn aead_auth() -> PqError {
    PqError::DecryptionFailed(
        "aead authentication failed (wrong key, wrong recipient or modified ciphertext)".into(),
    )
}

fn cipher(key: &[u8]) -> Result<ChaCha20Poly1305> {
    let key = Key::try_from(key).map_err(|_| {
        PqError::InvalidKey(format!(
            "aead key must be {AEAD_KEY_LEN} bytes, got {}",
            key.len()
        ))
    })?;
    Ok(ChaCha20Poly1305::new(&key))
}

fn nonce(nonce: &[u8]) -> Result<Nonce> {
    Nonce::try_from(nonce).map_err(|_| {
        PqError::DecryptionFailed(format!(
            "aead nonce must be {AEAD_NONCE_LEN} bytes, got {}",
            nonce.len()
        ))
    })
}

/// ChaCha20-Poly1305 seal: returns `ciphertext ‖ 16-byte tag`.
pub fn aead_seal(key: &[u8], nonce_bytes: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let c = cipher(key)?;
    let n = nonce(nonce_bytes)?;
    c.encrypt(
        &n,
        Payload {
            msg: plaintext,
            aad,
        },
    )
    .map_err(|_| aead_auth())
}

/// ChaCha20-Poly1305 open of `ciphertext ‖ tag`; any modification is `AeadAuth`.
pub fn aead_open(key: &[u8], nonce_bytes: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let c = cipher(key)?;
    let n = nonce(nonce_bytes)?;
    if sealed.len() < AEAD_TAG_LEN {
        return Err(aead_auth());
    }
    c.decrypt(&n, Payload { msg: sealed, aad })
        .map_err(|_| aead_auth())
}

/// HKDF-SHA256 (RFC 5869) into a zeroizing buffer of `len` bytes. An empty salt is the same
/// as no salt (RFC 5869 §2.2).
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new(vec![0u8; len]);
    hk.expand(info, okm.as_mut_slice()).map_err(|_| {
        PqError::InvalidArgument(format!("hkdf output of {len} bytes exceeds 255 * 32"))
    })?;
    Ok(okm)
}

/// X25519 (RFC 7748) scalar multiplication without the contributory check: the raw function
/// the KATs pin (they include low-order points whose result is all zero).
pub fn x25519_raw(secret: &[u8; 32], public: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let sk = x25519_dalek::StaticSecret::from(*secret);
    let pk = x25519_dalek::PublicKey::from(*public);
    Zeroizing::new(sk.diffie_hellman(&pk).to_bytes())
}

/// X25519 as the channel uses it: an all-zero result (the peer sent a low-order point, so the
/// exchange contributes nothing secret) is refused (RFC 7748 §6.1).
pub fn x25519_checked(secret: &[u8; 32], public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
    let out = x25519_raw(secret, public);
    let zero = out.iter().fold(0u8, |acc, b| acc | b) == 0;
    if zero {
        return Err(PqError::DecryptionFailed(
            "x25519 exchange produced an all-zero secret (low-order public key)".into(),
        ));
    }
    Ok(out)
}
