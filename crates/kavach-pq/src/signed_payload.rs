//! `SignedPayload` (FORMATS.md "Signed payloads"): the signed envelope shared by audit entries
//! and channel messages.
//!
//! ```text
//! JSON:    {"data":[…],"ml_dsa_signature":[…],"ed25519_signature":[…] | null,
//!           "key_id":"…","signed_at":"…Z","nonce":"<uuid v4>"}
//! message = data ‖ nonce (UTF-8) ‖ ts
//! ```
//!
//! `ts` is `signed_at` re-rendered as RFC 3339 with `+00:00` and the shortest exact 0/3/6/9
//! fractional digits ([`render_ts`]); the JSON field carries the same instant with `Z`. Both
//! signatures of a hybrid payload cover the same message. Callers that need domain separation
//! (channel format v2) append a suffix to the message with the `*_with_suffix` variants.
//!
//! The message has no separator between `data` and `nonce`: only the nonce's fixed form (a
//! lowercase hyphenated UUID v4, 36 bytes) says where `data` ends. A nonce of any other form
//! would let whoever can edit a payload move bytes between the two under the same signatures,
//! so signing and verifying both refuse one ([`nonce_problem`]).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};
use crate::json_direct;
use crate::keys::KavachKeyPair;
use crate::primitives::{Ed25519Verifier, MlDsaVerifier};

/// One signed byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPayload {
    /// The signed bytes themselves.
    #[serde(with = "crate::json_bytes::bytes")]
    pub data: Vec<u8>,
    /// ML-DSA-65 signature (3309 bytes).
    #[serde(with = "crate::json_bytes::bytes")]
    pub ml_dsa_signature: Vec<u8>,
    /// Ed25519 signature (64 bytes) in hybrid mode, `null` in PQ-only mode.
    #[serde(with = "crate::json_bytes::opt_bytes", default)]
    pub ed25519_signature: Option<Vec<u8>>,
    /// Id of the signing key pair.
    pub key_id: String,
    /// When it was signed (UTC, written with `Z`).
    #[serde(with = "crate::json_bytes::rfc3339_z")]
    pub signed_at: DateTime<Utc>,
    /// A fresh UUID v4 per payload.
    pub nonce: String,
}

/// `ts` of the signed message: RFC 3339 with `+00:00` (not `Z`) and the shortest of 0, 3, 6 or
/// 9 fractional digits that is exact, e.g. `2026-11-25T10:15:30.120+00:00`.
pub fn render_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// `data ‖ nonce ‖ ts ‖ suffix` (the suffix is empty for the shared format).
pub fn signed_message(
    data: &[u8],
    nonce: &str,
    signed_at: &DateTime<Utc>,
    suffix: &[u8],
) -> Vec<u8> {
    let ts = render_ts(signed_at);
    let mut m = Vec::with_capacity(data.len() + nonce.len() + ts.len() + suffix.len());
    m.extend_from_slice(data);
    m.extend_from_slice(nonce.as_bytes());
    m.extend_from_slice(ts.as_bytes());
    m.extend_from_slice(suffix);
    m
}

/// What is wrong with a nonce that is not a UUID v4 in its canonical form (lowercase,
/// hyphenated), the form FORMATS.md gives it and every Kavach SDK writes; `None` when it is
/// one. See the module docs for why any other form is a forgery risk, not a style question.
/// Verifying refuses such a payload as `SIGNATURE_INVALID`, signing as `INVALID_ARGUMENT`.
pub fn nonce_problem(nonce: &str) -> Option<String> {
    let canonical = uuid::Uuid::try_parse(nonce).is_ok_and(|u| {
        u.get_version_num() == 4
            && u.get_variant() == uuid::Variant::RFC4122
            && u.hyphenated().to_string() == nonce
    });
    (!canonical).then(|| {
        format!(
            "nonce '{}' is not a lowercase hyphenated UUID v4, so the signed bytes \
             (data ‖ nonce ‖ ts) do not say where data ends",
            crate::excerpt::excerpt(nonce)
        )
    })
}

/// `hybrid` / `pq-only`, for messages.
pub(crate) fn mode_name(hybrid: bool) -> &'static str {
    if hybrid {
        "hybrid"
    } else {
        "pq-only"
    }
}

impl SignedPayload {
    /// Sign `data` now with a fresh UUID v4 nonce (the shared format).
    pub fn sign(kp: &KavachKeyPair, data: Vec<u8>, hybrid: bool) -> Result<Self> {
        Self::sign_at(
            kp,
            data,
            hybrid,
            Utc::now(),
            uuid::Uuid::new_v4().to_string(),
        )
    }

    /// Sign with a caller-chosen time and nonce (golden tests, replays of fixtures).
    pub fn sign_at(
        kp: &KavachKeyPair,
        data: Vec<u8>,
        hybrid: bool,
        signed_at: DateTime<Utc>,
        nonce: String,
    ) -> Result<Self> {
        Self::sign_with_suffix(kp, data, hybrid, signed_at, nonce, &[])
    }

    /// Sign `data ‖ nonce ‖ ts ‖ suffix`. The suffix is not carried in the payload: the
    /// verifier must rebuild it from context it already has (channel format v2).
    ///
    /// An expired key pair signs nothing: `KEY_EXPIRED` when it is expired at `signed_at` or
    /// at the system clock, whichever is later (a caller-chosen time cannot backdate it).
    pub fn sign_with_suffix(
        kp: &KavachKeyPair,
        data: Vec<u8>,
        hybrid: bool,
        signed_at: DateTime<Utc>,
        nonce: String,
        suffix: &[u8],
    ) -> Result<Self> {
        kp.check_not_expired_at(signed_at.max(Utc::now()))?;
        if let Some(problem) = nonce_problem(&nonce) {
            return Err(PqError::InvalidArgument(problem));
        }
        let msg = signed_message(&data, &nonce, &signed_at, suffix);
        let ml_dsa_signature = kp.try_sign_ml_dsa(&msg)?;
        let ed25519_signature = if hybrid {
            Some(kp.sign_ed25519(&msg).to_vec())
        } else {
            None
        };
        Ok(Self {
            data,
            ml_dsa_signature,
            ed25519_signature,
            key_id: kp.id().to_string(),
            signed_at,
            nonce,
        })
    }

    /// Append the compact JSON of this payload (serde_json's bytes, written directly).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        json_direct::write_key(out, "data", true);
        json_direct::write_byte_array(out, &self.data);
        json_direct::write_key(out, "ml_dsa_signature", false);
        json_direct::write_byte_array(out, &self.ml_dsa_signature);
        json_direct::write_key(out, "ed25519_signature", false);
        match &self.ed25519_signature {
            Some(ed) => json_direct::write_byte_array(out, ed),
            None => out.extend_from_slice(b"null"),
        }
        json_direct::write_key(out, "key_id", false);
        json_direct::write_str(out, &self.key_id);
        json_direct::write_key(out, "signed_at", false);
        json_direct::write_str(out, &crate::json_bytes::format_rfc3339_z(&self.signed_at));
        json_direct::write_key(out, "nonce", false);
        json_direct::write_str(out, &self.nonce);
        out.push(b'}');
    }

    /// Read a payload object in the FORMATS.md layout ([`json_direct`] fast path; `None`
    /// sends the caller back to serde).
    pub(crate) fn read_json(r: &mut json_direct::Reader<'_>) -> Option<Self> {
        r.lit(b"{")?;
        r.key("data")?;
        let data = r.byte_array()?;
        r.next_key("ml_dsa_signature")?;
        let ml_dsa_signature = r.byte_array()?;
        r.next_key("ed25519_signature")?;
        let ed25519_signature = if r.null() {
            None
        } else {
            Some(r.byte_array()?)
        };
        r.next_key("key_id")?;
        let key_id = r.string()?.to_string();
        r.next_key("signed_at")?;
        let signed_at = r.timestamp()?;
        r.next_key("nonce")?;
        let nonce = r.string()?.to_string();
        r.lit(b"}")?;
        Some(Self {
            data,
            ml_dsa_signature,
            ed25519_signature,
            key_id,
            signed_at,
            nonce,
        })
    }

    /// Deterministic ML-DSA-65 signing (FIPS 204 deterministic variant; Ed25519 is always
    /// deterministic). Only for golden tests and fixtures that must reproduce bytes exactly:
    /// production signing is hedged ([`Self::sign`]).
    pub fn sign_deterministic_at(
        kp: &KavachKeyPair,
        data: Vec<u8>,
        hybrid: bool,
        signed_at: DateTime<Utc>,
        nonce: String,
    ) -> Result<Self> {
        kp.check_not_expired_at(signed_at.max(Utc::now()))?;
        if let Some(problem) = nonce_problem(&nonce) {
            return Err(PqError::InvalidArgument(problem));
        }
        let msg = signed_message(&data, &nonce, &signed_at, &[]);
        let ml_dsa_signature = kp
            .ml_dsa_signer()
            .sign_deterministic_with_context(&msg, b"")?;
        let ed25519_signature = hybrid.then(|| kp.sign_ed25519(&msg).to_vec());
        Ok(Self {
            data,
            ml_dsa_signature,
            ed25519_signature,
            key_id: kp.id().to_string(),
            signed_at,
            nonce,
        })
    }

    /// True when the payload carries an Ed25519 signature.
    pub fn is_hybrid(&self) -> bool {
        self.ed25519_signature.is_some()
    }

    /// The message the signatures cover (shared format).
    pub fn message(&self) -> Vec<u8> {
        signed_message(&self.data, &self.nonce, &self.signed_at, &[])
    }

    /// Refuse a payload whose mode differs from the verifier's, before any cryptography
    /// (downgrade defence both ways).
    pub fn check_mode(&self, hybrid: bool) -> Result<()> {
        if self.is_hybrid() != hybrid {
            return Err(PqError::AlgorithmMismatch(format!(
                "{} verifier refuses a {} payload (hybrid mode must match)",
                mode_name(hybrid),
                mode_name(self.is_hybrid())
            )));
        }
        Ok(())
    }

    /// Verify the shared-format signatures under `bundle` in the given mode.
    pub fn verify(&self, bundle: &PublicKeyBundle, hybrid: bool) -> Result<()> {
        self.verify_with_suffix(bundle, hybrid, &[])
    }

    /// Verify signatures over `data ‖ nonce ‖ ts ‖ suffix` (see [`PayloadVerifier`]).
    pub fn verify_with_suffix(
        &self,
        bundle: &PublicKeyBundle,
        hybrid: bool,
        suffix: &[u8],
    ) -> Result<()> {
        PayloadVerifier::new(bundle)?.verify_with_suffix(self, hybrid, suffix)
    }
}

/// A bundle's verifying keys decoded once, for verifying many payloads (audit chains).
#[derive(Debug, Clone)]
pub struct PayloadVerifier {
    /// The key has an Ed25519 half, so its signatures are hybrid unless a caller explicitly
    /// asks for PQ-only (see [`Self::mode`]).
    hybrid_key: bool,
    key_id: String,
    ml_dsa: MlDsaVerifier,
    ed25519: Ed25519Verifier,
}

impl PayloadVerifier {
    /// Decode the verifying keys of `bundle` once (the Ed25519 point decompression is what
    /// decoding costs; libcrux verifies ML-DSA-65 from the encoded key).
    pub fn new(bundle: &PublicKeyBundle) -> Result<Self> {
        Ok(Self {
            hybrid_key: !bundle.ed25519_verifying_key.is_empty(),
            key_id: bundle.id.clone(),
            ml_dsa: bundle.ml_dsa_verifier()?,
            ed25519: Ed25519Verifier::from_bytes(&bundle.ed25519_verifying_key),
        })
    }

    /// Id of the verifying key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The mode to verify in: `requested` when the caller names one, otherwise the key's
    /// own (hybrid for any key with an Ed25519 half, which every Kavach bundle has). Never
    /// taken from the data being verified: a mode read from the data lets whoever can write
    /// the data strip the Ed25519 signatures and choose PQ-only.
    pub fn mode(&self, requested: Option<bool>) -> bool {
        requested.unwrap_or(self.hybrid_key)
    }

    /// Raw check of ML-DSA-65 (and Ed25519 when given) over `msg`.
    pub fn verify_raw(&self, msg: &[u8], ml_dsa_sig: &[u8], ed25519_sig: Option<&[u8]>) -> bool {
        self.ml_dsa.verify(msg, ml_dsa_sig)
            && ed25519_sig.is_none_or(|ed| self.ed25519.verify_strict(msg, ed))
    }

    /// Verify `payload` in the shared format.
    pub fn verify(&self, payload: &SignedPayload, hybrid: bool) -> Result<()> {
        self.verify_with_suffix(payload, hybrid, &[])
    }

    /// Mode first (before any cryptography), then the key id and the nonce's form, then
    /// ML-DSA-65, then (hybrid) Ed25519 over `data ‖ nonce ‖ ts ‖ suffix`. Both signatures
    /// must hold.
    pub fn verify_with_suffix(
        &self,
        payload: &SignedPayload,
        hybrid: bool,
        suffix: &[u8],
    ) -> Result<()> {
        payload.check_mode(hybrid)?;
        if payload.key_id != self.key_id {
            return Err(PqError::SignatureInvalid(format!(
                "payload key id '{}' is not the verifying key '{}'",
                crate::excerpt::excerpt(&payload.key_id),
                crate::excerpt::excerpt(&self.key_id)
            )));
        }
        if let Some(problem) = nonce_problem(&payload.nonce) {
            return Err(PqError::SignatureInvalid(problem));
        }
        let msg = signed_message(&payload.data, &payload.nonce, &payload.signed_at, suffix);
        if !self.ml_dsa.verify(&msg, &payload.ml_dsa_signature) {
            return Err(PqError::SignatureInvalid(format!(
                "ML-DSA-65 signature does not verify under key '{}'",
                crate::excerpt::excerpt(&self.key_id)
            )));
        }
        if let Some(ed) = &payload.ed25519_signature {
            if !self.ed25519.verify_strict(&msg, ed) {
                return Err(PqError::SignatureInvalid(format!(
                    "Ed25519 signature does not verify under key '{}'",
                    crate::excerpt::excerpt(&self.key_id)
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
    use crate::keys::KavachKeyPair;
    use chrono::TimeZone;

    fn at(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 15, 30).unwrap()
            + chrono::Duration::nanoseconds(i64::from(nanos))
    }

    #[test]
    fn ts_uses_plus_zero_offset_and_shortest_exact_fraction() {
        assert_eq!(render_ts(&at(0)), "2026-11-25T10:15:30+00:00");
        assert_eq!(render_ts(&at(120_000_000)), "2026-11-25T10:15:30.120+00:00");
        assert_eq!(render_ts(&at(123_000_000)), "2026-11-25T10:15:30.123+00:00");
        assert_eq!(
            render_ts(&at(123_400_000)),
            "2026-11-25T10:15:30.123400+00:00"
        );
        assert_eq!(
            render_ts(&at(123_456_000)),
            "2026-11-25T10:15:30.123456+00:00"
        );
        assert_eq!(
            render_ts(&at(123_456_700)),
            "2026-11-25T10:15:30.123456700+00:00"
        );
        assert_eq!(
            render_ts(&at(123_456_789)),
            "2026-11-25T10:15:30.123456789+00:00"
        );
        assert_eq!(render_ts(&at(1)), "2026-11-25T10:15:30.000000001+00:00");
        assert_eq!(render_ts(&at(1_000)), "2026-11-25T10:15:30.000001+00:00");
    }

    #[test]
    fn json_time_is_the_same_instant_with_z() {
        assert_eq!(
            crate::json_bytes::format_rfc3339_z(&at(120_000_000)),
            "2026-11-25T10:15:30.120Z"
        );
    }

    #[test]
    fn message_is_data_nonce_ts() {
        let m = signed_message(b"ab", "n-1", &at(120_000_000), b"");
        assert_eq!(m, b"abn-12026-11-25T10:15:30.120+00:00".to_vec());
    }

    fn key_pair() -> KavachKeyPair {
        KavachKeyPair::from_seeds("k-1", [1; 32], [2; 32], [3; 64], [4; 32], at(0), None).unwrap()
    }

    const NONCE: &str = "66666666-6666-4666-8666-666666666660";

    #[test]
    fn only_a_lowercase_hyphenated_uuid_v4_is_a_nonce() {
        assert_eq!(nonce_problem(NONCE), None);
        assert_eq!(nonce_problem(&uuid::Uuid::new_v4().to_string()), None);
        for bad in [
            "",
            "n-1",
            "66666666-6666-4666-8666-66666666666", // 35 characters
            "66666666-6666-4666-8666-6666666666600", // 37
            "66666666-6666-4666-8666-66666666666A", // uppercase
            "666666666666466686666666666666660",   // no hyphens
            "{66666666-6666-4666-8666-666666666660}",
            "urn:uuid:66666666-6666-4666-8666-666666666660",
            "66666666-6666-1666-8666-666666666660", // version 1
            "66666666-6666-4666-c666-666666666660", // not the RFC 4122 variant
        ] {
            let problem = nonce_problem(bad).unwrap();
            assert!(
                problem.contains("not a lowercase hyphenated UUID v4"),
                "{bad}: {problem}"
            );
        }
    }

    /// The message has no separator between data and nonce: bytes moved from one to the other
    /// leave the signed bytes unchanged, so only the nonce's form refuses the edit.
    #[test]
    fn bytes_moved_between_data_and_nonce_do_not_verify() {
        let kp = key_pair();
        let bundle = kp.public_bundle();
        let p = SignedPayload::sign_deterministic_at(
            &kp,
            b"{\"a\":1}".to_vec(),
            true,
            at(0),
            NONCE.into(),
        )
        .unwrap();
        assert!(p.verify(&bundle, true).is_ok());
        let mut moved = p.clone();
        moved.data.extend_from_slice(moved.nonce.as_bytes());
        moved.nonce.clear();
        assert_eq!(moved.message(), p.message());
        let e = moved.verify(&bundle, true).unwrap_err();
        assert_eq!(e.code(), "SIGNATURE_INVALID");
        assert!(e.to_string().contains("nonce '' is not a lowercase"), "{e}");
        let mut back = p.clone();
        let last = back.data.pop().unwrap();
        back.nonce.insert(0, char::from(last));
        assert_eq!(back.message(), p.message());
        assert_eq!(
            back.verify(&bundle, true).unwrap_err().code(),
            "SIGNATURE_INVALID"
        );
    }

    #[test]
    fn signing_refuses_a_nonce_that_is_not_a_uuid_v4() {
        let e = SignedPayload::sign_at(&key_pair(), b"x".to_vec(), true, Utc::now(), "n-1".into())
            .unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(
            e.to_string().contains("nonce 'n-1' is not a lowercase"),
            "{e}"
        );
    }
}
