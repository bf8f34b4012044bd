//! `KavachKeyPair`: one identity = ML-DSA-65 + Ed25519 signing keys and ML-KEM-768 + X25519
//! key-agreement keys, all from 32/64-byte seeds so they can be exported and restored.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};
use crate::primitives::{self, MlDsaSigner, MlKemDecapsulator, SharedSecret};
use crate::secret::SecretBytes;
use crate::sizes::*;

/// Prefix of every key id.
pub const KEY_ID_PREFIX: &str = "kavach-key-";

/// `KEY_EXPIRED` (naming the key and when it expired) when `now` is past `expires_at`. The
/// one expiry rule of the crate: a key with an expiry is valid up to and including that
/// instant.
pub(crate) fn check_not_expired(
    key_id: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    match expires_at {
        Some(e) if now > e => Err(PqError::KeyExpired {
            key_id: crate::excerpt::excerpt(key_id),
            expired_at: crate::json_bytes::format_rfc3339_z(&e),
        }),
        _ => Ok(()),
    }
}

/// A full Kavach identity. Secrets are zeroized on drop and never printed; the type is not
/// `Clone` on purpose (share it behind an `Arc`).
pub struct KavachKeyPair {
    id: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    ml_dsa: MlDsaSigner,
    ed25519: ed25519_dalek::SigningKey,
    ml_kem: MlKemDecapsulator,
    x25519: SecretBytes<X25519_LEN>,
    bundle: PublicKeyBundle,
}

impl KavachKeyPair {
    /// Fresh keys from the OS RNG, id `kavach-key-<uuid v4>`, no expiry.
    pub fn generate() -> Result<Self> {
        Self::generate_inner(None)
    }

    /// Fresh keys that expire `secs` seconds from now.
    pub fn generate_with_expiry(secs: u64) -> Result<Self> {
        let secs = i64::try_from(secs)
            .ok()
            .and_then(Duration::try_seconds)
            .ok_or_else(|| PqError::InvalidArgument(format!("expiry of {secs} s is too large")))?;
        Self::generate_inner(Some(secs))
    }

    fn generate_inner(ttl: Option<Duration>) -> Result<Self> {
        let mut uuid_bytes = [0u8; 16];
        crate::error::os_random(&mut uuid_bytes)?;
        let id = format!(
            "{KEY_ID_PREFIX}{}",
            uuid::Builder::from_random_bytes(uuid_bytes).into_uuid()
        );
        // Microsecond precision: what the Python SDK writes, and what a JS number of unix
        // seconds (the binding's record shape) carries exactly.
        let created_at = Utc::now().trunc_subsecs(6);
        let expires_at = match ttl {
            Some(d) => Some(created_at.checked_add_signed(d).ok_or_else(|| {
                PqError::InvalidArgument("expiry is out of the representable range".into())
            })?),
            None => None,
        };
        Ok(Self::build(
            id,
            SecretBytes::random()?,
            SecretBytes::random()?,
            SecretBytes::random()?,
            SecretBytes::random()?,
            created_at,
            expires_at,
        ))
    }

    /// Rebuild a key pair from its seeds (import, interop fixtures, tests).
    #[allow(clippy::too_many_arguments)]
    pub fn from_seeds(
        id: impl Into<String>,
        ml_dsa_seed: [u8; ML_DSA_SEED_LEN],
        ed25519_seed: [u8; ED25519_SEED_LEN],
        ml_kem_seed: [u8; ML_KEM_SEED_LEN],
        x25519_secret: [u8; X25519_LEN],
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(PqError::InvalidArgument("key id is empty".into()));
        }
        Ok(Self::build(
            id,
            SecretBytes::new(ml_dsa_seed),
            SecretBytes::new(ed25519_seed),
            SecretBytes::new(ml_kem_seed),
            SecretBytes::new(x25519_secret),
            created_at,
            expires_at,
        ))
    }

    pub(crate) fn build(
        id: String,
        ml_dsa_seed: SecretBytes<ML_DSA_SEED_LEN>,
        ed25519_seed: SecretBytes<ED25519_SEED_LEN>,
        ml_kem_seed: SecretBytes<ML_KEM_SEED_LEN>,
        x25519: SecretBytes<X25519_LEN>,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        let ml_dsa = MlDsaSigner::from_seed(ml_dsa_seed);
        let ed25519 = ed25519_dalek::SigningKey::from_bytes(ed25519_seed.expose());
        let ml_kem = MlKemDecapsulator::from_seed(ml_kem_seed);
        let bundle = PublicKeyBundle {
            id: id.clone(),
            ml_dsa_verifying_key: ml_dsa.verifier().to_bytes(),
            ml_kem_encapsulation_key: ml_kem.encapsulation_key_bytes(),
            ed25519_verifying_key: ed25519.verifying_key().to_bytes().to_vec(),
            x25519_public_key: primitives::x25519_public(&x25519).to_vec(),
            created_at,
            expires_at,
        };
        Self {
            id,
            created_at,
            expires_at,
            ml_dsa,
            ed25519,
            ml_kem,
            x25519,
            bundle,
        }
    }

    /// `kavach-key-<uuid>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creation time.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Expiry time, if any.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// True when now > `expires_at`.
    pub fn is_expired(&self) -> bool {
        self.bundle.is_expired_at(Utc::now())
    }

    /// `KEY_EXPIRED` when the key pair is expired at `now`. Everything this crate signs with
    /// a key pair (audit entries, checkpoints, channel messages, manifests) checks this first:
    /// an expired key pair signs nothing.
    pub fn check_not_expired_at(&self, now: DateTime<Utc>) -> Result<()> {
        check_not_expired(&self.id, self.expires_at, now)
    }

    /// The public keys (FORMATS.md bundle).
    pub fn public_bundle(&self) -> PublicKeyBundle {
        self.bundle.clone()
    }

    /// Borrow the public keys without cloning.
    pub fn bundle_ref(&self) -> &PublicKeyBundle {
        &self.bundle
    }

    /// ML-DSA-65 signature (3309 bytes), hedged, empty context. If the OS RNG fails, the
    /// FIPS 204 deterministic variant is used instead (equally valid; hedging is
    /// defence in depth only). Prefer [`Self::try_sign_ml_dsa`] where an error can be returned.
    pub fn sign_ml_dsa(&self, msg: &[u8]) -> Vec<u8> {
        match self.ml_dsa.sign(msg) {
            Ok(sig) => sig,
            // An empty signature never verifies, so even this impossible path fails closed.
            Err(_) => self
                .ml_dsa
                .sign_deterministic_with_context(msg, b"")
                .unwrap_or_default(),
        }
    }

    /// ML-DSA-65 hedged signature, reporting RNG or signing failures.
    pub fn try_sign_ml_dsa(&self, msg: &[u8]) -> Result<Vec<u8>> {
        self.ml_dsa.sign(msg)
    }

    /// Ed25519 signature (RFC 8032, deterministic).
    pub fn sign_ed25519(&self, msg: &[u8]) -> [u8; ED25519_SIG_LEN] {
        use ed25519_dalek::Signer;
        self.ed25519.sign(msg).to_bytes()
    }

    /// Decapsulate an ML-KEM-768 ciphertext addressed to this identity.
    pub fn ml_kem_decapsulate(&self, ct: &[u8]) -> Result<SharedSecret> {
        self.ml_kem.decapsulate(ct)
    }

    /// X25519 with our static secret; an all-zero result (low-order peer key) is an error.
    pub fn x25519_diffie_hellman(&self, their: &[u8; X25519_LEN]) -> Result<SharedSecret> {
        primitives::x25519(&self.x25519, their)
    }

    pub(crate) fn ml_dsa_signer(&self) -> &MlDsaSigner {
        &self.ml_dsa
    }

    pub(crate) fn ed25519_signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.ed25519
    }

    pub(crate) fn ml_kem_seed(&self) -> &SecretBytes<ML_KEM_SEED_LEN> {
        self.ml_kem.seed()
    }

    pub(crate) fn x25519_secret(&self) -> &SecretBytes<X25519_LEN> {
        &self.x25519
    }
}

impl std::fmt::Debug for KavachKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KavachKeyPair")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
