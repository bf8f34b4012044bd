//! Signed checkpoints: a chain's length and head hash at a moment, signed by the chain's key.
//!
//! The shared chain format signs only each entry's payload and links entries with unkeyed
//! hashes, so whoever holds the file can delete entries (or cut the tail) and recompute every
//! later hash. A checkpoint kept elsewhere pins `length` and the hash of entry `length - 1`:
//! verification with it refuses a chain shorter than `length` or whose entry `length - 1` has
//! another hash (truncation, delete-and-relink, reorder-and-relink before the checkpoint).
//!
//! Signed bytes (this package's own format, version 1):
//!
//! ```text
//! "kavach-audit-checkpoint-v1" ‖ 0x00 ‖ length (u64 LE)
//!   ‖ lp(head_hash) ‖ lp(key_id) ‖ lp(ts)        lp(x) = u32 LE byte length ‖ UTF-8 bytes
//! ```
//!
//! `ts` is `time` rendered like a signed payload's `ts` (RFC 3339, `+00:00`). ML-DSA-65 signs
//! it, and Ed25519 too in hybrid mode.
//!
//! `algorithm` is not in the signed bytes (format version 1, kept as it is), so a hybrid
//! checkpoint relabelled `ml-dsa-65` with its Ed25519 signature removed still carries a valid
//! ML-DSA-65 signature. It is refused by mode, as chain entries are: a checkpoint is verified
//! in the chain verifier's mode, which comes from the key or the caller and never from the
//! checkpoint, so a hybrid verifier refuses a PQ-only checkpoint (`ALGORITHM_MISMATCH`).
//!
//! JSON (compact, this field order):
//! `{"length":3,"head_hash":"…","time":"…Z","key_id":"…","algorithm":"ml-dsa-65+ed25519",
//! "ml_dsa_signature":[…],"ed25519_signature":[…] | null}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{PqError, Result};
use crate::excerpt::excerpt;
use crate::keys::KavachKeyPair;
use crate::signed_payload::{mode_name, render_ts, PayloadVerifier};

const DOMAIN: &[u8] = b"kavach-audit-checkpoint-v1\0";
/// `algorithm` of a hybrid checkpoint.
pub const ALG_HYBRID: &str = "ml-dsa-65+ed25519";
/// `algorithm` of a PQ-only checkpoint.
pub const ALG_PQ_ONLY: &str = "ml-dsa-65";

/// A signed (length, head hash, time) of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub length: u64,
    pub head_hash: String,
    #[serde(with = "crate::json_bytes::rfc3339_z")]
    pub time: DateTime<Utc>,
    pub key_id: String,
    pub algorithm: String,
    #[serde(with = "crate::json_bytes::bytes")]
    pub ml_dsa_signature: Vec<u8>,
    #[serde(with = "crate::json_bytes::opt_bytes", default)]
    pub ed25519_signature: Option<Vec<u8>>,
}

fn lp(out: &mut Vec<u8>, s: &str) {
    // Lengths above u32 cannot occur for ids and hashes; saturate rather than panic.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn signed_bytes(length: u64, head_hash: &str, key_id: &str, time: &DateTime<Utc>) -> Vec<u8> {
    let mut m = Vec::with_capacity(160);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&length.to_le_bytes());
    lp(&mut m, head_hash);
    lp(&mut m, key_id);
    lp(&mut m, &render_ts(time));
    m
}

impl Checkpoint {
    /// Sign a checkpoint for a chain of `length` entries ending at `head_hash`; `KEY_EXPIRED`
    /// when the key pair is expired at `time` or now, whichever is later.
    pub fn sign(
        kp: &KavachKeyPair,
        hybrid: bool,
        length: u64,
        head_hash: &str,
        time: DateTime<Utc>,
    ) -> Result<Self> {
        kp.check_not_expired_at(time.max(Utc::now()))?;
        let msg = signed_bytes(length, head_hash, kp.id(), &time);
        Ok(Self {
            length,
            head_hash: head_hash.to_string(),
            time,
            key_id: kp.id().to_string(),
            algorithm: if hybrid { ALG_HYBRID } else { ALG_PQ_ONLY }.to_string(),
            ml_dsa_signature: kp.try_sign_ml_dsa(&msg)?,
            ed25519_signature: hybrid.then(|| kp.sign_ed25519(&msg).to_vec()),
        })
    }

    /// True for a hybrid checkpoint.
    pub fn is_hybrid(&self) -> bool {
        self.algorithm == ALG_HYBRID
    }

    /// Algorithm and mode checks first (no cryptography), then the key id and signatures.
    /// `verifier_hybrid` is the chain verifier's mode; the checkpoint must have the same.
    pub fn verify_with(&self, v: &PayloadVerifier, verifier_hybrid: bool) -> Result<()> {
        let hybrid = match self.algorithm.as_str() {
            ALG_HYBRID => true,
            ALG_PQ_ONLY => false,
            other => {
                return Err(PqError::AlgorithmMismatch(format!(
                    "checkpoint algorithm '{}' is not supported",
                    excerpt(other)
                )))
            }
        };
        if self.ed25519_signature.is_some() != hybrid {
            return Err(PqError::AlgorithmMismatch(format!(
                "checkpoint algorithm '{}' does not match its signatures (hybrid mode)",
                self.algorithm
            )));
        }
        if verifier_hybrid != hybrid {
            return Err(PqError::AlgorithmMismatch(format!(
                "{} checkpoint refused by a {} verifier (hybrid mode must match; downgrade \
                 refused before any signature check)",
                mode_name(hybrid),
                mode_name(verifier_hybrid)
            )));
        }
        if self.key_id != v.key_id() {
            return Err(PqError::SignatureInvalid(format!(
                "checkpoint key id '{}' is not the verifying key '{}'",
                excerpt(&self.key_id),
                excerpt(v.key_id())
            )));
        }
        let msg = signed_bytes(self.length, &self.head_hash, &self.key_id, &self.time);
        if !v.verify_raw(
            &msg,
            &self.ml_dsa_signature,
            self.ed25519_signature.as_deref(),
        ) {
            return Err(PqError::SignatureInvalid(
                "checkpoint signature does not verify".into(),
            ));
        }
        Ok(())
    }

    /// Compact JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| PqError::Format(format!("cannot serialise checkpoint: {e}")))
    }

    /// Parse checkpoint JSON.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        crate::json_object::from_slice(json).map_err(|e| {
            PqError::Format(format!(
                "invalid checkpoint JSON: {}",
                crate::excerpt::message(e)
            ))
        })
    }
}
