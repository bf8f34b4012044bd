//! Thin, typed wrappers over the primitives, in the exact modes FORMATS.md fixes:
//! ML-DSA-65 pure mode with an empty context (hedged signing; Cryspen `libcrux-ml-dsa`),
//! strict Ed25519, ML-KEM-768 with seed keys (Cryspen `libcrux-ml-kem`), X25519 refusing non-contributory results.

use libcrux_ml_dsa::ml_dsa_65::{
    self as ml_dsa_65, MLDSA65Signature, MLDSA65SigningKey, MLDSA65VerificationKey,
};
use libcrux_ml_dsa::SIGNING_RANDOMNESS_SIZE;
use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{os_random, PqError, Result};
use crate::secret::SecretBytes;
use crate::sizes::*;

/// A 32-byte shared secret (ML-KEM or X25519), wiped on drop.
pub type SharedSecret = Zeroizing<[u8; SHARED_SECRET_LEN]>;

/// The FIPS 204 context string used everywhere: empty (pure ML-DSA).
const ML_DSA_CONTEXT: &[u8] = b"";

/// An ML-DSA-65 verifying key (1952 bytes). `libcrux-ml-dsa` verifies from the encoded key
/// (it re-expands the matrix A per call, inside the measured ~80 µs), so the encoded form
/// is the decoded form; any 1952 bytes are a well-formed key (t1 is 10-bit packed).
#[derive(Clone)]
pub struct MlDsaVerifier {
    vk: Box<MLDSA65VerificationKey>,
}

impl MlDsaVerifier {
    /// Decode 1952 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr = <[u8; ML_DSA_VK_LEN]>::try_from(bytes).map_err(|_| {
            PqError::InvalidKey(format!(
                "ML-DSA-65 verifying key must be {ML_DSA_VK_LEN} bytes, got {}",
                bytes.len()
            ))
        })?;
        Ok(Self {
            vk: Box::new(MLDSA65VerificationKey::new(arr)),
        })
    }

    /// Encoded verifying key (1952 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.vk.as_slice().to_vec()
    }

    /// Borrow the encoded verifying key.
    pub fn as_bytes(&self) -> &[u8] {
        self.vk.as_slice()
    }

    /// True when `sig` is a valid pure-mode signature over `msg` with the empty context.
    /// Malformed signatures (wrong length, non-canonical hints, norm violations) are false.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verify_with_context(msg, ML_DSA_CONTEXT, sig)
    }

    /// Pure-mode verification with an explicit context (known-answer tests need it); a
    /// context over 255 bytes is false.
    pub fn verify_with_context(&self, msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; ML_DSA_SIG_LEN]>::try_from(sig) else {
            return false;
        };
        ml_dsa_65::verify(&self.vk, msg, ctx, &MLDSA65Signature::new(sig)).is_ok()
    }
}

impl std::fmt::Debug for MlDsaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MlDsaVerifier(ML-DSA-65)")
    }
}

/// The FIPS 204 encoded signing key (4032 bytes), wiped on drop (`libcrux-ml-dsa`'s key
/// type is plain bytes without a `Drop`).
struct ExpandedSigningKey(Box<MLDSA65SigningKey>);

impl Drop for ExpandedSigningKey {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

/// An ML-DSA-65 signing key built from its 32-byte seed; the expanded key zeroizes on drop.
pub struct MlDsaSigner {
    seed: SecretBytes<ML_DSA_SEED_LEN>,
    sk: ExpandedSigningKey,
    verifier: MlDsaVerifier,
}

impl MlDsaSigner {
    /// FIPS 204 ML-DSA.KeyGen_internal from the seed xi.
    pub fn from_seed(seed: SecretBytes<ML_DSA_SEED_LEN>) -> Self {
        let pair = ml_dsa_65::generate_key_pair(*seed.expose());
        let sk = ExpandedSigningKey(Box::new(pair.signing_key));
        let verifier = MlDsaVerifier {
            vk: Box::new(pair.verification_key),
        };
        Self { seed, sk, verifier }
    }

    /// The seed (secret).
    pub fn seed(&self) -> &SecretBytes<ML_DSA_SEED_LEN> {
        &self.seed
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &MlDsaVerifier {
        &self.verifier
    }

    /// Hedged signing (FIPS 204 Algorithm 2 with 32 fresh bytes from the OS as `rnd`),
    /// empty context.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let rnd = SecretBytes::<SIGNING_RANDOMNESS_SIZE>::random()?;
        self.sign_with_randomness(msg, ML_DSA_CONTEXT, *rnd.expose())
    }

    /// Deterministic signing (`rnd` = 32 zero bytes) with an explicit context (known-answer
    /// tests, and the fallback when the OS RNG fails).
    pub fn sign_deterministic_with_context(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        self.sign_with_randomness(msg, ctx, [0u8; SIGNING_RANDOMNESS_SIZE])
    }

    fn sign_with_randomness(
        &self,
        msg: &[u8],
        ctx: &[u8],
        rnd: [u8; SIGNING_RANDOMNESS_SIZE],
    ) -> Result<Vec<u8>> {
        let rnd = Zeroizing::new(rnd);
        let sig = ml_dsa_65::sign(&self.sk.0, msg, ctx, *rnd)
            .map_err(|e| PqError::SigningFailed(format!("ML-DSA-65 signing failed: {e:?}")))?;
        Ok(sig.as_slice().to_vec())
    }
}

impl std::fmt::Debug for MlDsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MlDsaSigner([REDACTED])")
    }
}

/// Strict Ed25519 verification of a 64-byte signature under a 32-byte key: rejects
/// non-canonical encodings, small-order keys and R, and S ≥ L (ed25519-dalek `verify_strict`).
pub fn ed25519_verify_strict(vk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    Ed25519Verifier::from_bytes(vk).verify_strict(msg, sig)
}

/// An Ed25519 verifying key decoded once: decoding is a point decompression (~4 µs, a tenth
/// of a verify), so verifiers that check many signatures under one key keep this.
#[derive(Clone, Debug)]
pub struct Ed25519Verifier {
    /// `None` when the bytes are not a 32-byte point: such a key verifies nothing.
    key: Option<ed25519_dalek::VerifyingKey>,
}

impl Ed25519Verifier {
    /// Decode `vk`. Never fails: a key that does not decode makes every verification false,
    /// exactly as [`ed25519_verify_strict`] with those bytes.
    pub fn from_bytes(vk: &[u8]) -> Self {
        let key = <[u8; ED25519_VK_LEN]>::try_from(vk)
            .ok()
            .and_then(|a| ed25519_dalek::VerifyingKey::from_bytes(&a).ok());
        Self { key }
    }

    /// Strict verification of a 64-byte signature (see [`ed25519_verify_strict`]).
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(key) = &self.key else {
            return false;
        };
        let Ok(sig) = <[u8; ED25519_SIG_LEN]>::try_from(sig) else {
            return false;
        };
        key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// Check that 32 bytes decode to an Ed25519 point that strict verification can ever accept.
pub fn ed25519_check_vk(vk: &[u8]) -> Result<()> {
    let arr = <[u8; ED25519_VK_LEN]>::try_from(vk).map_err(|_| {
        PqError::InvalidKey(format!(
            "Ed25519 verifying key must be {ED25519_VK_LEN} bytes, got {}",
            vk.len()
        ))
    })?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&arr)
        .map_err(|_| PqError::InvalidKey("Ed25519 verifying key is not a valid point".into()))?;
    // A y coordinate at or above the field prime decodes to the same point as its reduction:
    // two spellings of one key, which FORMATS.md's byte-exact bundles do not allow.
    if vk.to_edwards().compress().to_bytes() != arr {
        return Err(PqError::InvalidKey(
            "Ed25519 verifying key is not in canonical encoding".into(),
        ));
    }
    if vk.is_weak() {
        return Err(PqError::InvalidKey(
            "Ed25519 verifying key has small order".into(),
        ));
    }
    Ok(())
}

/// ML-KEM-768 encapsulation to `ek` (1184 bytes, FIPS 203 modulus check applied):
/// returns (ciphertext 1088 B, shared secret 32 B).
pub fn ml_kem_encapsulate(ek: &[u8]) -> Result<(Vec<u8>, SharedSecret)> {
    let m = SecretBytes::<32>::random()?;
    ml_kem_encapsulate_deterministic(ek, m.expose())
}

/// Encapsulation with caller-chosen randomness `m` (known-answer tests only).
pub fn ml_kem_encapsulate_deterministic(
    ek: &[u8],
    m: &[u8; 32],
) -> Result<(Vec<u8>, SharedSecret)> {
    let ek = ml_kem_encapsulation_key(ek)?;
    let (ct, ss) = mlkem768::encapsulate(&ek, *m);
    Ok((ct.as_slice().to_vec(), Zeroizing::new(ss)))
}

/// Decode and check an ML-KEM-768 encapsulation key (length and FIPS 203 §7.2 modulus check).
pub fn ml_kem_encapsulation_key(ek: &[u8]) -> Result<MlKem768PublicKey> {
    let key = MlKem768PublicKey::try_from(ek).map_err(|_| {
        PqError::InvalidKey(format!(
            "ML-KEM-768 encapsulation key must be {ML_KEM_EK_LEN} bytes, got {}",
            ek.len()
        ))
    })?;
    if !mlkem768::validate_public_key(&key) {
        return Err(PqError::InvalidKey(
            "ML-KEM-768 encapsulation key fails the modulus check".into(),
        ));
    }
    Ok(key)
}

/// An ML-KEM-768 decapsulation key from its 64-byte seed (d ‖ z). The expanded key
/// (2400 bytes) is kept in our own wiped buffer: `libcrux-ml-kem`'s key type has no
/// `Drop` wipe, so it is built only for the duration of a decapsulation.
pub struct MlKemDecapsulator {
    seed: SecretBytes<ML_KEM_SEED_LEN>,
    dk: Box<SecretBytes<ML_KEM_DK_LEN>>,
    ek: Box<MlKem768PublicKey>,
}

/// FIPS 203 expanded decapsulation key length (ML-KEM-768).
const ML_KEM_DK_LEN: usize = 2400;

impl MlKemDecapsulator {
    /// FIPS 203 ML-KEM.KeyGen_internal(d, z).
    pub fn from_seed(seed: SecretBytes<ML_KEM_SEED_LEN>) -> Self {
        let (sk, ek) = mlkem768::generate_key_pair(*seed.expose()).into_parts();
        let mut sk: [u8; ML_KEM_DK_LEN] = sk.into();
        let dk = Box::new(SecretBytes::new(sk));
        sk.zeroize();
        Self {
            seed,
            dk,
            ek: Box::new(ek),
        }
    }

    /// The seed (secret).
    pub fn seed(&self) -> &SecretBytes<ML_KEM_SEED_LEN> {
        &self.seed
    }

    /// Encapsulation key bytes (1184).
    pub fn encapsulation_key_bytes(&self) -> Vec<u8> {
        self.ek.as_slice().to_vec()
    }

    /// Decapsulate a 1088-byte ciphertext (implicit rejection: a bad ciphertext yields a
    /// pseudo-random secret, which the AEAD layer then rejects).
    pub fn decapsulate(&self, ct: &[u8]) -> Result<SharedSecret> {
        let ct = MlKem768Ciphertext::try_from(ct).map_err(|_| {
            PqError::DecryptionFailed(format!(
                "ML-KEM-768 ciphertext must be {ML_KEM_CT_LEN} bytes, got {}",
                ct.len()
            ))
        })?;
        let dk = MlKem768PrivateKey::from(self.dk.expose());
        let ss = Zeroizing::new(mlkem768::decapsulate(&dk, &ct));
        let mut wipe: [u8; ML_KEM_DK_LEN] = dk.into();
        wipe.zeroize();
        Ok(ss)
    }
}

/// X25519 with a refusal of all-zero (non-contributory, low-order peer) results.
pub fn x25519(secret: &SecretBytes<X25519_LEN>, their_public: &[u8]) -> Result<SharedSecret> {
    let pk = <[u8; X25519_LEN]>::try_from(their_public).map_err(|_| {
        PqError::InvalidKey(format!(
            "X25519 public key must be {X25519_LEN} bytes, got {}",
            their_public.len()
        ))
    })?;
    let sk = x25519_dalek::StaticSecret::from(*secret.expose());
    let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(pk));
    if !shared.was_contributory() {
        return Err(PqError::DecryptionFailed(
            "X25519 exchange produced an all-zero secret (low-order public key)".into(),
        ));
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// Check that 32 bytes are an X25519 public key an exchange can use: a low-order point gives
/// the all-zero secret for every private key (the cofactor is cleared by clamping), so one
/// exchange with a fixed private key tells.
pub fn x25519_check_public(pk: &[u8]) -> Result<()> {
    let pk = <[u8; X25519_LEN]>::try_from(pk).map_err(|_| {
        PqError::InvalidKey(format!(
            "X25519 public key must be {X25519_LEN} bytes, got {}",
            pk.len()
        ))
    })?;
    let probe = x25519_dalek::StaticSecret::from([0x5a; X25519_LEN]);
    if !probe
        .diffie_hellman(&x25519_dalek::PublicKey::from(pk))
        .was_contributory()
    {
        return Err(PqError::InvalidKey(
            "X25519 public key has low order (every exchange with it gives the all-zero secret)"
                .into(),
        ));
    }
    Ok(())
}

/// X25519 public key of a secret.
pub fn x25519_public(secret: &SecretBytes<X25519_LEN>) -> [u8; X25519_LEN] {
    let sk = x25519_dalek::StaticSecret::from(*secret.expose());
    x25519_dalek::PublicKey::from(&sk).to_bytes()
}

/// Fill `n` random bytes (convenience for salts and nonces).
pub fn random_vec(n: usize) -> Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    os_random(&mut v)?;
    Ok(v)
}
