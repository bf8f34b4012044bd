//! `PqTokenSigner`: signs permit tokens into envelopes and verifies them, in exactly one mode
//! (hybrid ML-DSA-65 + Ed25519, or PQ-only ML-DSA-65). A signer built without signing keys
//! is a verifier only.
//!
//! A signer built from a key pair keeps the key pair's `expires_at`: once the clock is past
//! it, signing fails with `KEY_EXPIRED` (a gate then refuses with `IDENTITY_FAILED`, since a
//! permit it cannot sign is never issued). Verifying is not limited by the signer's expiry:
//! whether an old signature still counts is the verifier's choice
//! ([`crate::DirectoryTokenVerifier::verify`]'s `enforce_expiry`). Signers built from raw
//! key bytes carry no expiry.

use chrono::{DateTime, Utc};

use crate::envelope::{Algorithm, SignatureEnvelope};
use crate::error::{PqError, Result};
use crate::keys::KavachKeyPair;
use crate::primitives::{self, Ed25519Verifier, MlDsaSigner, MlDsaVerifier};
use crate::secret::SecretBytes;
use crate::sizes::*;
use crate::token::TokenFields;

/// Ed25519 half of a hybrid signer.
struct EdKeys {
    sk: Option<ed25519_dalek::SigningKey>,
    vk: [u8; ED25519_VK_LEN],
    /// `vk` decoded once for verification.
    verifier: Ed25519Verifier,
}

/// Signs and verifies permit tokens under one key id.
pub struct PqTokenSigner {
    key_id: String,
    ml_dsa_sk: Option<MlDsaSigner>,
    ml_dsa_vk: MlDsaVerifier,
    ed: Option<EdKeys>,
    /// The key pair's expiry (signers built from a key pair); signing after it fails.
    expires_at: Option<DateTime<Utc>>,
}

impl PqTokenSigner {
    /// New random identity, hybrid mode.
    pub fn generate_hybrid() -> Result<Self> {
        Ok(Self::from_keypair_hybrid(&KavachKeyPair::generate()?))
    }

    /// New random identity, PQ-only mode.
    pub fn generate_pq_only() -> Result<Self> {
        Ok(Self::from_keypair_pq_only(&KavachKeyPair::generate()?))
    }

    /// Sign with a key pair's ML-DSA-65 and Ed25519 keys under its id.
    pub fn from_keypair_hybrid(kp: &KavachKeyPair) -> Self {
        let ed_sk = kp.ed25519_signing_key().clone();
        let vk = ed_sk.verifying_key().to_bytes();
        Self {
            key_id: kp.id().to_string(),
            ml_dsa_sk: Some(clone_ml_dsa(kp.ml_dsa_signer())),
            ml_dsa_vk: kp.ml_dsa_signer().verifier().clone(),
            ed: Some(EdKeys {
                sk: Some(ed_sk),
                vk,
                verifier: Ed25519Verifier::from_bytes(&vk),
            }),
            expires_at: kp.expires_at(),
        }
    }

    /// Sign with a key pair's ML-DSA-65 key only, under its id.
    pub fn from_keypair_pq_only(kp: &KavachKeyPair) -> Self {
        Self {
            key_id: kp.id().to_string(),
            ml_dsa_sk: Some(clone_ml_dsa(kp.ml_dsa_signer())),
            ml_dsa_vk: kp.ml_dsa_signer().verifier().clone(),
            ed: None,
            expires_at: kp.expires_at(),
        }
    }

    /// Hybrid signer from raw bytes: ML-DSA-65 seed (32 B) and verifying key (1952 B),
    /// Ed25519 seed (32 B) and verifying key (32 B). Both signing keys empty = verifier only.
    /// A signing key that does not match its verifying key is rejected.
    pub fn hybrid(
        ml_dsa_sk: &[u8],
        ml_dsa_vk: &[u8],
        ed25519_sk: &[u8],
        ed25519_vk: &[u8],
        key_id: impl Into<String>,
    ) -> Result<Self> {
        let key_id = check_key_id(key_id.into())?;
        if ml_dsa_sk.is_empty() != ed25519_sk.is_empty() {
            return Err(PqError::InvalidKey(
                "hybrid signer needs both signing keys or neither (verifier only)".into(),
            ));
        }
        let (ml_dsa_sk, ml_dsa_vk) = ml_dsa_pair(ml_dsa_sk, ml_dsa_vk)?;
        primitives::ed25519_check_vk(ed25519_vk)?;
        let mut vk = [0u8; ED25519_VK_LEN];
        vk.copy_from_slice(ed25519_vk);
        let sk = if ed25519_sk.is_empty() {
            None
        } else {
            let seed =
                SecretBytes::<ED25519_SEED_LEN>::from_slice(ed25519_sk).ok_or_else(|| {
                    PqError::InvalidKey(format!(
                        "Ed25519 signing key must be a {ED25519_SEED_LEN}-byte seed, got {} bytes",
                        ed25519_sk.len()
                    ))
                })?;
            let sk = ed25519_dalek::SigningKey::from_bytes(seed.expose());
            if sk.verifying_key().to_bytes() != vk {
                return Err(PqError::InvalidKey(
                    "Ed25519 signing key does not match the verifying key".into(),
                ));
            }
            Some(sk)
        };
        Ok(Self {
            key_id,
            ml_dsa_sk,
            ml_dsa_vk,
            ed: Some(EdKeys {
                sk,
                vk,
                verifier: Ed25519Verifier::from_bytes(&vk),
            }),
            expires_at: None,
        })
    }

    /// PQ-only signer from raw bytes: ML-DSA-65 seed (32 B, or empty = verifier only) and
    /// verifying key (1952 B).
    pub fn pq_only(ml_dsa_sk: &[u8], ml_dsa_vk: &[u8], key_id: impl Into<String>) -> Result<Self> {
        let key_id = check_key_id(key_id.into())?;
        let (ml_dsa_sk, ml_dsa_vk) = ml_dsa_pair(ml_dsa_sk, ml_dsa_vk)?;
        Ok(Self {
            key_id,
            ml_dsa_sk,
            ml_dsa_vk,
            ed: None,
            expires_at: None,
        })
    }

    /// The key id written into every envelope.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// True in hybrid mode.
    pub fn is_hybrid(&self) -> bool {
        self.ed.is_some()
    }

    /// True when this signer holds signing keys (not verifier only).
    pub fn can_sign(&self) -> bool {
        self.ml_dsa_sk.is_some()
    }

    /// When signing stops working (`None`: never).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// The algorithm this signer writes and accepts.
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::for_mode(self.is_hybrid())
    }

    /// ML-DSA-65 verifying key bytes.
    pub fn ml_dsa_verifying_key(&self) -> Vec<u8> {
        self.ml_dsa_vk.to_bytes()
    }

    /// Ed25519 verifying key bytes (hybrid only).
    pub fn ed25519_verifying_key(&self) -> Option<Vec<u8>> {
        self.ed.as_ref().map(|e| e.vk.to_vec())
    }

    /// Sign the canonical bytes of `token`; returns the envelope JSON bytes (written straight
    /// from the signatures, no intermediate envelope).
    pub fn sign(&self, token: &TokenFields) -> Result<Vec<u8>> {
        let (ml_dsa, ed25519) = self.sign_parts(token)?;
        Ok(SignatureEnvelope::encode(
            &self.key_id,
            self.algorithm().as_str(),
            &ml_dsa,
            ed25519.as_ref().map(|s| &s[..]),
        ))
    }

    /// Sign and return the envelope structure.
    pub fn sign_envelope(&self, token: &TokenFields) -> Result<SignatureEnvelope> {
        let (ml_dsa_signature, ed25519) = self.sign_parts(token)?;
        Ok(SignatureEnvelope {
            key_id: self.key_id.clone(),
            algorithm: self.algorithm().as_str().to_string(),
            ml_dsa_signature,
            ed25519_signature: ed25519.map(|s| s.to_vec()),
        })
    }

    /// ML-DSA-65 (and, hybrid, Ed25519) signatures over the canonical token bytes; refused
    /// with `KEY_EXPIRED` once the key pair has expired.
    fn sign_parts(&self, token: &TokenFields) -> Result<(Vec<u8>, Option<[u8; ED25519_SIG_LEN]>)> {
        self.check_can_sign()?;
        let Some(ml_dsa) = &self.ml_dsa_sk else {
            return Err(self.verifier_only());
        };
        let msg = token.canonical_bytes();
        let ml_dsa_signature = ml_dsa.sign(&msg)?;
        let ed25519_signature = match &self.ed {
            None => None,
            Some(EdKeys { sk: Some(sk), .. }) => {
                use ed25519_dalek::Signer;
                Some(sk.sign(&msg).to_bytes())
            }
            Some(EdKeys { sk: None, .. }) => return Err(self.no_ed25519_key()),
        };
        Ok((ml_dsa_signature, ed25519_signature))
    }

    /// What signing would refuse before any cryptography (no signing key, an expired key
    /// pair, a hybrid signer without its Ed25519 key), so `explain` can say what `evaluate`
    /// would: signing has no effect to hold back, only these refusals.
    pub fn check_can_sign(&self) -> Result<()> {
        if self.ml_dsa_sk.is_none() {
            return Err(self.verifier_only());
        }
        crate::keys::check_not_expired(&self.key_id, self.expires_at, Utc::now())?;
        if matches!(&self.ed, Some(EdKeys { sk: None, .. })) {
            return Err(self.no_ed25519_key());
        }
        Ok(())
    }

    fn verifier_only(&self) -> PqError {
        PqError::SigningFailed(format!(
            "signer '{}' is verifier only (no signing key)",
            self.key_id
        ))
    }

    fn no_ed25519_key(&self) -> PqError {
        PqError::SigningFailed(format!(
            "signer '{}' has no Ed25519 signing key",
            self.key_id
        ))
    }

    /// Verify envelope bytes against `token`: the mode must match (downgrade defence, before
    /// any cryptography), the key id must be ours, and every signature must verify.
    pub fn verify(&self, token: &TokenFields, envelope: &[u8]) -> Result<()> {
        let env = SignatureEnvelope::from_bytes(envelope)?;
        env.check_algorithm(self.is_hybrid())?;
        if env.key_id != self.key_id {
            return Err(PqError::SignatureInvalid(format!(
                "envelope was signed by key '{}', this signer is '{}'",
                crate::excerpt::excerpt(&env.key_id),
                self.key_id
            )));
        }
        let ed_vk = self.ed.as_ref().map(|e| &e.verifier);
        env.verify(
            &token.canonical_bytes(),
            self.is_hybrid(),
            &self.ml_dsa_vk,
            ed_vk,
        )
    }
}

impl std::fmt::Debug for PqTokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PqTokenSigner")
            .field("key_id", &self.key_id)
            .field("hybrid", &self.is_hybrid())
            .field("can_sign", &self.can_sign())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn clone_ml_dsa(s: &MlDsaSigner) -> MlDsaSigner {
    MlDsaSigner::from_seed(s.seed().clone())
}

fn check_key_id(id: String) -> Result<String> {
    if id.trim().is_empty() {
        return Err(PqError::InvalidArgument("key id is empty".into()));
    }
    Ok(id)
}

fn ml_dsa_pair(sk: &[u8], vk: &[u8]) -> Result<(Option<MlDsaSigner>, MlDsaVerifier)> {
    let verifier = MlDsaVerifier::from_bytes(vk)?;
    if sk.is_empty() {
        return Ok((None, verifier));
    }
    let seed = SecretBytes::<ML_DSA_SEED_LEN>::from_slice(sk).ok_or_else(|| {
        PqError::InvalidKey(format!(
            "ML-DSA-65 signing key must be a {ML_DSA_SEED_LEN}-byte seed, got {} bytes",
            sk.len()
        ))
    })?;
    let signer = MlDsaSigner::from_seed(seed);
    // Constant-time compare is unnecessary: both values are public.
    if signer.verifier().to_bytes() != vk {
        return Err(PqError::InvalidKey(
            "ML-DSA-65 signing key does not match the verifying key".into(),
        ));
    }
    Ok((Some(signer), verifier))
}
