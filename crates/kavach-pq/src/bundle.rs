//! The public half of a key pair, as distributed in key directories (FORMATS.md "Key ids and
//! public-key bundles").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{PqError, Result};
use crate::primitives::{self, MlDsaVerifier, SharedSecret};
use crate::sizes::*;

/// Public keys of one Kavach identity. Field order is the JSON field order of FORMATS.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyBundle {
    /// `kavach-key-<uuid>`.
    pub id: String,
    /// ML-DSA-65 verifying key (1952 bytes).
    #[serde(with = "crate::json_bytes::bytes")]
    pub ml_dsa_verifying_key: Vec<u8>,
    /// ML-KEM-768 encapsulation key (1184 bytes).
    #[serde(with = "crate::json_bytes::bytes")]
    pub ml_kem_encapsulation_key: Vec<u8>,
    /// Ed25519 verifying key (32 bytes).
    #[serde(with = "crate::json_bytes::bytes")]
    pub ed25519_verifying_key: Vec<u8>,
    /// X25519 public key (32 bytes).
    #[serde(with = "crate::json_bytes::bytes")]
    pub x25519_public_key: Vec<u8>,
    /// When the key pair was created.
    #[serde(with = "crate::json_bytes::rfc3339_z")]
    pub created_at: DateTime<Utc>,
    /// When the key pair stops being valid (`None`: never).
    #[serde(with = "crate::json_bytes::opt_rfc3339_z")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl PublicKeyBundle {
    /// Compact JSON exactly as FORMATS.md (no spaces, fields in order).
    pub fn to_json(&self) -> String {
        // Serializing plain strings, byte arrays and timestamps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse bundle JSON and check every key length.
    pub fn from_json(json: &str) -> Result<Self> {
        let b: Self = crate::json_object::from_str(json).map_err(|e| {
            PqError::Format(format!(
                "invalid public key bundle JSON: {}",
                crate::excerpt::message(e)
            ))
        })?;
        b.validate()?;
        Ok(b)
    }

    /// Check the id, every key's length, and that each key is usable: the Ed25519 key is a
    /// canonical point of large order, the ML-KEM key passes the FIPS 203 modulus check, the
    /// X25519 key is not of low order. A bundle with a key that can never verify or encrypt
    /// is refused when it is loaded (`INVALID_KEY` naming the bundle and the field), rather
    /// than failing later under another code (a "signature" or "decryption" failure). Both
    /// times must be ones its JSON can carry ([`Self::check_times`]).
    pub fn validate(&self) -> Result<()> {
        if self.id.is_empty() {
            return Err(PqError::InvalidKey("bundle id is empty".into()));
        }
        self.check_times()?;
        check_len(
            &self.id,
            "ml_dsa_verifying_key",
            &self.ml_dsa_verifying_key,
            ML_DSA_VK_LEN,
        )?;
        check_len(
            &self.id,
            "ml_kem_encapsulation_key",
            &self.ml_kem_encapsulation_key,
            ML_KEM_EK_LEN,
        )?;
        check_len(
            &self.id,
            "ed25519_verifying_key",
            &self.ed25519_verifying_key,
            ED25519_VK_LEN,
        )?;
        check_len(
            &self.id,
            "x25519_public_key",
            &self.x25519_public_key,
            X25519_LEN,
        )?;
        let unusable = |field: &str, e: PqError| {
            let why = match e {
                PqError::InvalidKey(m) => m,
                other => other.to_string(),
            };
            PqError::InvalidKey(format!(
                "bundle '{}': {field}: {why}",
                crate::excerpt::excerpt(&self.id)
            ))
        };
        primitives::ed25519_check_vk(&self.ed25519_verifying_key)
            .map_err(|e| unusable("ed25519_verifying_key", e))?;
        primitives::ml_kem_encapsulation_key(&self.ml_kem_encapsulation_key)
            .map_err(|e| unusable("ml_kem_encapsulation_key", e))?;
        primitives::x25519_check_public(&self.x25519_public_key)
            .map_err(|e| unusable("x25519_public_key", e))?;
        Ok(())
    }

    /// `INVALID_ARGUMENT` naming the bundle, the field and the range when `created_at` or
    /// `expires_at` is outside the years 0000 to 9999: the bundle JSON writes both in RFC
    /// 3339, and a time it cannot carry would make JSON that no reader loads.
    pub fn check_times(&self) -> Result<()> {
        let times = [
            ("created_at", Some(&self.created_at)),
            ("expires_at", self.expires_at.as_ref()),
        ];
        for (what, t) in times {
            if let Some(t) = t {
                crate::json_bytes::check_rfc3339_range(what, t).map_err(|why| {
                    PqError::InvalidArgument(format!(
                        "bundle '{}': {why}",
                        crate::excerpt::excerpt(&self.id)
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// True when `now` is past `expires_at` (a bundle without expiry never expires).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| now > e)
    }

    /// True when the bundle is expired now.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(Utc::now())
    }

    /// Error `KEY_EXPIRED` (message names the key id and `expired`) when expired at `now`.
    pub fn check_not_expired_at(&self, now: DateTime<Utc>) -> Result<()> {
        crate::keys::check_not_expired(&self.id, self.expires_at, now)
    }

    /// Decoded ML-DSA verifier for repeated verification under this bundle.
    pub fn ml_dsa_verifier(&self) -> Result<MlDsaVerifier> {
        MlDsaVerifier::from_bytes(&self.ml_dsa_verifying_key)
    }

    /// Verify a pure ML-DSA-65 signature (empty context) over `msg`.
    pub fn verify_ml_dsa(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        if self.ml_dsa_verifier()?.verify(msg, sig) {
            Ok(())
        } else {
            Err(PqError::SignatureInvalid(format!(
                "ML-DSA-65 signature does not verify under key '{}'",
                self.id
            )))
        }
    }

    /// Verify an Ed25519 signature strictly over `msg`.
    pub fn verify_ed25519(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        if primitives::ed25519_verify_strict(&self.ed25519_verifying_key, msg, sig) {
            Ok(())
        } else {
            Err(PqError::SignatureInvalid(format!(
                "Ed25519 signature does not verify under key '{}'",
                self.id
            )))
        }
    }

    /// Encapsulate a fresh secret to this bundle's ML-KEM-768 key: (ciphertext, secret).
    pub fn ml_kem_encapsulate(&self) -> Result<(Vec<u8>, SharedSecret)> {
        primitives::ml_kem_encapsulate(&self.ml_kem_encapsulation_key)
    }
}

fn check_len(id: &str, field: &str, v: &[u8], want: usize) -> Result<()> {
    if v.len() != want {
        return Err(PqError::InvalidKey(format!(
            "bundle '{}': {field} must be {want} bytes, got {}",
            crate::excerpt::excerpt(id),
            v.len()
        )));
    }
    Ok(())
}
