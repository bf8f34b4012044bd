//! The permit signature envelope (FORMATS.md "Permit token: the signature envelope") and the
//! single verification routine every verifier uses: algorithm first, then cryptography.

use serde::{Deserialize, Serialize};

use crate::error::{PqError, Result};
use crate::primitives::{self, MlDsaVerifier};
use crate::sizes::*;

/// `algorithm` of a PQ-only envelope.
pub const ALG_PQ_ONLY: &str = "ml-dsa-65";
/// `algorithm` of a hybrid envelope.
pub const ALG_HYBRID: &str = "ml-dsa-65+ed25519";

/// The two signing modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ML-DSA-65 only.
    MlDsa65,
    /// ML-DSA-65 and Ed25519, both required.
    MlDsa65Ed25519,
}

impl Algorithm {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::MlDsa65 => ALG_PQ_ONLY,
            Algorithm::MlDsa65Ed25519 => ALG_HYBRID,
        }
    }

    /// The mode of a hybrid (`true`) or PQ-only verifier.
    pub fn for_mode(hybrid: bool) -> Self {
        if hybrid {
            Algorithm::MlDsa65Ed25519
        } else {
            Algorithm::MlDsa65
        }
    }
}

/// Envelope JSON, fields in FORMATS.md order; `ed25519_signature` omitted for `ml-dsa-65`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEnvelope {
    /// Signer key id.
    pub key_id: String,
    /// `ml-dsa-65` or `ml-dsa-65+ed25519`.
    pub algorithm: String,
    /// ML-DSA-65 signature over the canonical token bytes (3309 bytes).
    #[serde(with = "crate::json_bytes::bytes")]
    pub ml_dsa_signature: Vec<u8>,
    /// Ed25519 signature over the same bytes (64 bytes), hybrid only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::json_bytes::opt_bytes"
    )]
    pub ed25519_signature: Option<Vec<u8>>,
}

impl SignatureEnvelope {
    /// Compact JSON bytes (what `verdict.signature` carries).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parse envelope bytes (structure only; no algorithm or crypto check).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| PqError::SignatureInvalid(format!("malformed signature envelope: {e}")))
    }

    /// Downgrade defence, before any cryptography: a hybrid verifier accepts only
    /// `ml-dsa-65+ed25519` with an Ed25519 signature, a PQ-only verifier only `ml-dsa-65`
    /// without one.
    pub fn check_algorithm(&self, hybrid: bool) -> Result<()> {
        let want = Algorithm::for_mode(hybrid).as_str();
        if self.algorithm != want {
            let mode = if hybrid {
                "hybrid"
            } else {
                "PQ-only (non-hybrid)"
            };
            return Err(PqError::AlgorithmMismatch(format!(
                "{mode} verifier requires algorithm '{want}', envelope from key '{}' says '{}'",
                self.key_id, self.algorithm
            )));
        }
        match (hybrid, &self.ed25519_signature) {
            (true, None) => Err(PqError::AlgorithmMismatch(format!(
                "hybrid envelope from key '{}' carries no Ed25519 signature",
                self.key_id
            ))),
            (false, Some(_)) => Err(PqError::AlgorithmMismatch(format!(
                "PQ-only envelope from key '{}' carries an Ed25519 signature (not hybrid)",
                self.key_id
            ))),
            _ => Ok(()),
        }
    }

    /// Full verification of this envelope over `msg`: algorithm, then ML-DSA, then Ed25519.
    /// `ed25519_vk` is required (and used) only when `hybrid`.
    pub fn verify(
        &self,
        msg: &[u8],
        hybrid: bool,
        ml_dsa: &MlDsaVerifier,
        ed25519_vk: Option<&[u8]>,
    ) -> Result<()> {
        self.check_algorithm(hybrid)?;
        if self.ml_dsa_signature.len() != ML_DSA_SIG_LEN {
            return Err(PqError::SignatureInvalid(format!(
                "ML-DSA-65 signature must be {ML_DSA_SIG_LEN} bytes, got {}",
                self.ml_dsa_signature.len()
            )));
        }
        if !ml_dsa.verify(msg, &self.ml_dsa_signature) {
            return Err(PqError::SignatureInvalid(format!(
                "ML-DSA-65 signature does not verify under key '{}'",
                self.key_id
            )));
        }
        if hybrid {
            let Some(vk) = ed25519_vk else {
                return Err(PqError::InvalidKey(format!(
                    "hybrid verification of key '{}' needs an Ed25519 verifying key",
                    self.key_id
                )));
            };
            let sig = self.ed25519_signature.as_deref().unwrap_or_default();
            if sig.len() != ED25519_SIG_LEN {
                return Err(PqError::SignatureInvalid(format!(
                    "Ed25519 signature must be {ED25519_SIG_LEN} bytes, got {}",
                    sig.len()
                )));
            }
            if !primitives::ed25519_verify_strict(vk, msg, sig) {
                return Err(PqError::SignatureInvalid(format!(
                    "Ed25519 signature does not verify under key '{}'",
                    self.key_id
                )));
            }
        }
        Ok(())
    }
}
