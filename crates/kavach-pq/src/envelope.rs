//! The permit signature envelope (FORMATS.md "Permit token: the signature envelope") and the
//! single verification routine every verifier uses: algorithm first, then cryptography.

use serde::{Deserialize, Serialize};

use crate::error::{PqError, Result};
use crate::excerpt::excerpt;
use crate::json_direct;
use crate::primitives::{Ed25519Verifier, MlDsaVerifier};
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
    /// Compact JSON bytes (what `verdict.signature` carries), written directly
    /// ([`crate::json_direct`]); byte-identical to [`Self::to_bytes_serde`].
    pub fn to_bytes(&self) -> Vec<u8> {
        Self::encode(
            &self.key_id,
            &self.algorithm,
            &self.ml_dsa_signature,
            self.ed25519_signature.as_deref(),
        )
    }

    /// The envelope bytes of borrowed parts (signing writes them without building the struct).
    pub fn encode(key_id: &str, algorithm: &str, ml_dsa: &[u8], ed25519: Option<&[u8]>) -> Vec<u8> {
        let sig_len = ml_dsa.len() + ed25519.map_or(0, <[u8]>::len);
        let mut out = Vec::with_capacity(96 + key_id.len() + sig_len * 4);
        out.push(b'{');
        json_direct::write_key(&mut out, "key_id", true);
        json_direct::write_str(&mut out, key_id);
        json_direct::write_key(&mut out, "algorithm", false);
        json_direct::write_str(&mut out, algorithm);
        json_direct::write_key(&mut out, "ml_dsa_signature", false);
        json_direct::write_byte_array(&mut out, ml_dsa);
        if let Some(ed) = ed25519 {
            json_direct::write_key(&mut out, "ed25519_signature", false);
            json_direct::write_byte_array(&mut out, ed);
        }
        out.push(b'}');
        out
    }

    /// The same bytes through serde (the reference the direct writer is tested against, and
    /// the switched-off variant in the profile example).
    pub fn to_bytes_serde(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parse envelope bytes (structure only; no algorithm or crypto check). The layout every
    /// implementation writes is read in one pass; anything else goes through serde, so the
    /// accepted inputs and the errors are serde's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match Self::read_direct(bytes) {
            Some(env) => Ok(env),
            None => Self::from_bytes_serde(bytes),
        }
    }

    /// Parse through serde only (the fallback, and the switched-off variant in the profile).
    /// Bytes that are no envelope (not JSON, not an object, trailing text, a missing or
    /// unknown field) are `FORMAT_INVALID`, like every other malformed shared format.
    pub fn from_bytes_serde(bytes: &[u8]) -> Result<Self> {
        crate::json_object::from_slice(bytes).map_err(|e| {
            PqError::Format(format!(
                "malformed signature envelope: {}",
                crate::excerpt::message(e)
            ))
        })
    }

    fn read_direct(bytes: &[u8]) -> Option<Self> {
        let mut r = json_direct::Reader::new(bytes);
        r.lit(b"{")?;
        r.key("key_id")?;
        let key_id = r.string()?.to_string();
        r.next_key("algorithm")?;
        let algorithm = r.string()?.to_string();
        r.next_key("ml_dsa_signature")?;
        let ml_dsa_signature = r.byte_array()?;
        let ed25519_signature = if r.peek_is(b',') {
            r.next_key("ed25519_signature")?;
            if r.null() {
                None
            } else {
                Some(r.byte_array()?)
            }
        } else {
            None
        };
        r.end_object()?;
        Some(Self {
            key_id,
            algorithm,
            ml_dsa_signature,
            ed25519_signature,
        })
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
                excerpt(&self.key_id),
                excerpt(&self.algorithm)
            )));
        }
        match (hybrid, &self.ed25519_signature) {
            (true, None) => Err(PqError::AlgorithmMismatch(format!(
                "hybrid envelope from key '{}' carries no Ed25519 signature",
                excerpt(&self.key_id)
            ))),
            (false, Some(_)) => Err(PqError::AlgorithmMismatch(format!(
                "PQ-only envelope from key '{}' carries an Ed25519 signature (not hybrid)",
                excerpt(&self.key_id)
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
        ed25519_vk: Option<&Ed25519Verifier>,
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
                excerpt(&self.key_id)
            )));
        }
        if hybrid {
            let Some(vk) = ed25519_vk else {
                return Err(PqError::InvalidKey(format!(
                    "hybrid verification of key '{}' needs an Ed25519 verifying key",
                    excerpt(&self.key_id)
                )));
            };
            let sig = self.ed25519_signature.as_deref().unwrap_or_default();
            if sig.len() != ED25519_SIG_LEN {
                return Err(PqError::SignatureInvalid(format!(
                    "Ed25519 signature must be {ED25519_SIG_LEN} bytes, got {}",
                    sig.len()
                )));
            }
            if !vk.verify_strict(msg, sig) {
                return Err(PqError::SignatureInvalid(format!(
                    "Ed25519 signature does not verify under key '{}'",
                    excerpt(&self.key_id)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn env(ed: bool, key_id: &str) -> SignatureEnvelope {
        SignatureEnvelope {
            key_id: key_id.into(),
            algorithm: if ed { ALG_HYBRID } else { ALG_PQ_ONLY }.into(),
            ml_dsa_signature: (0..ML_DSA_SIG_LEN).map(|i| (i * 7 % 256) as u8).collect(),
            ed25519_signature: ed.then(|| (0..64).collect()),
        }
    }

    #[test]
    fn direct_bytes_are_serdes_bytes_and_read_back() {
        for e in [
            env(true, "kavach-key-1"),
            env(false, "kavach-key-1"),
            env(true, "é\"\\"),
        ] {
            let bytes = e.to_bytes();
            assert_eq!(bytes, e.to_bytes_serde());
            assert_eq!(SignatureEnvelope::from_bytes(&bytes).unwrap(), e);
        }
    }

    #[test]
    fn envelopes_off_the_fast_path_get_serdes_result_and_errors() {
        let text = String::from_utf8(env(true, "kavach-key-1").to_bytes()).unwrap();
        let variants = [
            text.clone(),
            text.replacen("{\"key_id\"", "{ \"key_id\" ", 1),
            text.replacen("\"algorithm\"", "\"algorithm\" ", 1),
            text.replacen(
                ",\"ed25519_signature\":[",
                ",\"ed25519_signature\":null,\"x\":[",
                1,
            ),
            text.replacen(
                ",\"ed25519_signature\":[0,",
                ",\"ed25519_signature\":[00,",
                1,
            ),
            text.replacen("[0,7,", "[0,7.0,", 1),
            text.replacen("kavach-key-1", "kavach\\u002dkey-1", 1),
            format!("{text}  "),
            format!("{text}x"),
        ];
        for v in &variants {
            let direct = SignatureEnvelope::from_bytes(v.as_bytes()).map_err(|e| e.to_string());
            let serde =
                SignatureEnvelope::from_bytes_serde(v.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(direct, serde, "{}", &v[..40]);
        }
        let null_ed = text.replacen(
            &text[text.find(",\"ed25519_signature\"").unwrap()..text.len() - 1],
            ",\"ed25519_signature\":null",
            1,
        );
        assert_eq!(
            SignatureEnvelope::from_bytes(null_ed.as_bytes())
                .unwrap()
                .ed25519_signature,
            None
        );
    }

    #[test]
    fn bytes_that_are_no_envelope_are_format_invalid() {
        let good = String::from_utf8(env(true, "kavach-key-1").to_bytes()).unwrap();
        for bad in [
            "not json".to_string(),
            "[1,2,3]".to_string(),
            format!("{good}x"),
            "{}".to_string(),
        ] {
            let e = SignatureEnvelope::from_bytes(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code(), "FORMAT_INVALID", "{bad:.20}: {e}");
            assert!(
                e.to_string()
                    .starts_with("malformed data: malformed signature envelope: "),
                "{e}"
            );
        }
    }
}
