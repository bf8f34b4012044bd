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

/// `created_at + secs`, or `INVALID_ARGUMENT` naming the bound when that is past
/// 9999-12-31T23:59:59Z, the latest time a bundle's RFC 3339 `expires_at` can carry.
fn expiry_after(created_at: DateTime<Utc>, secs: u64) -> Result<DateTime<Utc>> {
    let expires_at = i64::try_from(secs)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| created_at.checked_add_signed(d))
        .filter(|t| crate::json_bytes::check_rfc3339_range("expires_at", t).is_ok());
    expires_at.ok_or_else(|| {
        PqError::InvalidArgument(format!(
            "an expiry {secs} s from now is past 9999-12-31T23:59:59Z (unix seconds {}), the \
             latest time RFC 3339 can write",
            crate::json_bytes::RFC3339_MAX_UNIX
        ))
    })
}

/// An expiry as read back from an existing key (a secret export) or bundle record: one past
/// 9999-12-31T23:59:59Z, the latest the bundle JSON can carry, is read as that instant. Earlier
/// releases gave keys such expiries (e.g. `generateWithExpiry(1e12)` as "never"); the expiry is
/// in no signature and not in the key id, so reading it as year 9999 verifies and signs
/// exactly as before and keeps the key usable. New keys never get one ([`expiry_after`]).
pub fn expiry_as_read(expires_at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Datelike;
    match DateTime::from_timestamp(crate::json_bytes::RFC3339_MAX_UNIX, 0) {
        Some(latest) if expires_at.year() > 9999 => latest,
        _ => expires_at,
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

    /// Fresh keys that expire `secs` seconds from now. An expiry past 9999-12-31T23:59:59Z
    /// (the latest time the bundle JSON can carry) is `INVALID_ARGUMENT`.
    pub fn generate_with_expiry(secs: u64) -> Result<Self> {
        Self::generate_inner(Some(secs))
    }

    fn generate_inner(ttl_secs: Option<u64>) -> Result<Self> {
        let mut uuid_bytes = [0u8; 16];
        crate::error::os_random(&mut uuid_bytes)?;
        let id = format!(
            "{KEY_ID_PREFIX}{}",
            uuid::Builder::from_random_bytes(uuid_bytes).into_uuid()
        );
        // Microsecond precision: what the Python SDK writes, and what a JS number of unix
        // seconds (the binding's record shape) carries exactly.
        let created_at = Utc::now().trunc_subsecs(6);
        let expires_at = ttl_secs
            .map(|secs| expiry_after(created_at, secs))
            .transpose()?;
        Self::build(
            id,
            SecretBytes::random()?,
            SecretBytes::random()?,
            SecretBytes::random()?,
            SecretBytes::random()?,
            created_at,
            expires_at,
        )
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
        Self::build(
            id,
            SecretBytes::new(ml_dsa_seed),
            SecretBytes::new(ed25519_seed),
            SecretBytes::new(ml_kem_seed),
            SecretBytes::new(x25519_secret),
            created_at,
            expires_at,
        )
    }

    /// The key pair of these seeds and times; every constructor ends here, so no key pair
    /// holds a time its bundle JSON cannot carry (`INVALID_ARGUMENT`, see
    /// [`PublicKeyBundle::check_times`]).
    pub(crate) fn build(
        id: String,
        ml_dsa_seed: SecretBytes<ML_DSA_SEED_LEN>,
        ed25519_seed: SecretBytes<ED25519_SEED_LEN>,
        ml_kem_seed: SecretBytes<ML_KEM_SEED_LEN>,
        x25519: SecretBytes<X25519_LEN>,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self> {
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
        bundle.check_times()?;
        Ok(Self {
            id,
            created_at,
            expires_at,
            ml_dsa,
            ed25519,
            ml_kem,
            x25519,
            bundle,
        })
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::json_bytes::{RFC3339_MAX_UNIX, RFC3339_MIN_UNIX};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn seeded(
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<KavachKeyPair> {
        KavachKeyPair::from_seeds(
            "kavach-key-t",
            [1; 32],
            [2; 32],
            [3; 64],
            [4; 32],
            created_at,
            expires_at,
        )
    }

    #[test]
    fn an_expiry_past_year_9999_is_refused_naming_the_bound() {
        let past_9999 = |secs: u64| {
            let e = KavachKeyPair::generate_with_expiry(secs).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT");
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid argument: an expiry {secs} s from now is past 9999-12-31T23:59:59Z \
                     (unix seconds 253402300799), the latest time RFC 3339 can write"
                )
            );
        };
        // `keygen --expires-in 3000000d`, 2^53 - 1 (a JS safe integer) and u64::MAX.
        for secs in [3_000_000 * 86_400, (1 << 53) - 1, u64::MAX] {
            past_9999(secs);
        }
        // An expiry just inside the range is kept, and its bundle JSON reads back.
        let room = RFC3339_MAX_UNIX - Utc::now().timestamp() - 3600;
        let kp = KavachKeyPair::generate_with_expiry(u64::try_from(room).unwrap()).unwrap();
        let json = kp.public_bundle().to_json();
        assert!(json.contains("\"expires_at\":\"9999-12-31T"), "{json}");
        assert_eq!(
            PublicKeyBundle::from_json(&json).unwrap(),
            kp.public_bundle()
        );
    }

    #[test]
    fn a_key_pair_holds_no_time_its_bundle_json_cannot_carry() {
        let e = seeded(at(-100_000_000_000), None).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert_eq!(
            e.to_string(),
            "invalid argument: bundle 'kavach-key-t': created_at -1199-02-15T14:13:20Z is outside \
             the years 0000 to 9999 (unix seconds -62167219200 to 253402300799), the times RFC \
             3339 can write"
        );
        let e = seeded(at(0), Some(at(RFC3339_MAX_UNIX + 1))).unwrap_err();
        assert!(
            e.to_string()
                .contains("expires_at +10000-01-01T00:00:00Z is outside the years 0000 to 9999"),
            "{e}"
        );
        // Both ends of the range are kept and read back.
        let kp = seeded(at(RFC3339_MIN_UNIX), Some(at(RFC3339_MAX_UNIX))).unwrap();
        let json = kp.public_bundle().to_json();
        assert!(json.ends_with(
            "\"created_at\":\"0000-01-01T00:00:00Z\",\"expires_at\":\"9999-12-31T23:59:59Z\"}"
        ));
        assert_eq!(
            PublicKeyBundle::from_json(&json).unwrap(),
            kp.public_bundle()
        );
    }

    #[test]
    fn a_bundle_outside_the_range_is_refused_however_it_is_made() {
        let good = seeded(at(1_700_000_000), None).unwrap().public_bundle();
        let mut old = good.clone();
        old.created_at = at(-100_000_000_000);
        let e = old.validate().unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(
            e.to_string()
                .contains("bundle 'kavach-key-t': created_at -1199-"),
            "{e}"
        );
        assert!(crate::PublicKeyDirectory::in_memory(vec![old]).is_err());
        // An offset that moves year 9999 into year 10000 in UTC.
        let json = good.to_json().replace(
            "\"expires_at\":null",
            "\"expires_at\":\"9999-12-31T23:59:59-01:00\"",
        );
        let e = PublicKeyBundle::from_json(&json).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(
            e.to_string().contains("expires_at +10000-01-01T00:59:59Z"),
            "{e}"
        );
    }

    /// A plaintext export of `kp` with its `expires_at` seconds set to `secs`, as an earlier
    /// release wrote for `generate_with_expiry(1e12)` (the SHA-256 trailer recomputed).
    fn export_expiring_at(kp: &KavachKeyPair, secs: i64) -> Vec<u8> {
        let blob = kp.export_secret(None).unwrap();
        // header (6) ‖ id_len (2) ‖ id ‖ created_at (8 + 4) ‖ has_expiry (1) ‖ expires_at …
        let at_expiry = 6 + 2 + kp.id().len() + 12 + 1;
        let mut body = blob[..blob.len() - 32].to_vec();
        body[at_expiry..at_expiry + 8].copy_from_slice(&secs.to_le_bytes());
        let mut out = body.clone();
        out.extend_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(&body));
        out
    }

    #[test]
    fn an_export_expiring_past_year_9999_imports_as_9999_and_its_key_signs_and_verifies() {
        let kp = seeded(at(1_700_000_000), Some(at(1_800_000_000))).unwrap();
        let old = export_expiring_at(&kp, 1_700_000_000 + 1_000_000_000_000);
        let back = KavachKeyPair::import_secret(&old, None).unwrap();
        assert_eq!(
            (back.id(), back.created_at(), back.expires_at()),
            (kp.id(), at(1_700_000_000), Some(at(RFC3339_MAX_UNIX)))
        );
        assert!(!back.is_expired());
        let msg = b"signed by a restored key";
        kp.bundle_ref()
            .verify_ml_dsa(msg, &back.try_sign_ml_dsa(msg).unwrap())
            .unwrap();
        kp.bundle_ref()
            .verify_ed25519(msg, &back.sign_ed25519(msg))
            .unwrap();
        // Its bundle JSON is the original's keys with the year-9999 expiry, and reads back.
        let json = back.public_bundle().to_json();
        assert!(
            json.ends_with("\"expires_at\":\"9999-12-31T23:59:59Z\"}"),
            "{json}"
        );
        assert_eq!(
            PublicKeyBundle::from_json(&json).unwrap(),
            back.public_bundle()
        );
        // An expiry chrono cannot hold at all is still a malformed export.
        let e = KavachKeyPair::import_secret(&export_expiring_at(&kp, i64::MAX), None).unwrap_err();
        assert_eq!(e.code(), "FORMAT_INVALID");
    }

    #[test]
    fn an_export_with_a_time_outside_the_range_is_malformed() {
        let kp = seeded(at(1_700_000_000), None).unwrap();
        let blob = kp.export_secret(None).unwrap();
        // header (6) ‖ id_len (2) ‖ id ‖ created_at seconds (8) …, then SHA-256 of the rest.
        let at_created = 6 + 2 + kp.id().len();
        let mut body = blob[..blob.len() - 32].to_vec();
        body[at_created..at_created + 8].copy_from_slice(&(RFC3339_MAX_UNIX + 1).to_le_bytes());
        let mut forged = body.clone();
        forged.extend_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(&body));
        let e = KavachKeyPair::import_secret(&forged, None).unwrap_err();
        assert_eq!(e.code(), "FORMAT_INVALID");
        assert!(
            e.to_string()
                .contains("created_at +10000-01-01T00:00:00Z is outside the years 0000 to 9999"),
            "{e}"
        );
    }
}
