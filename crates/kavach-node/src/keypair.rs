//! `KavachKeyPair` and `PublicKeyBundle` for JS. Secrets never leave Rust except through
//! `exportSecret`; the JS object has no enumerable fields, so logging it reveals nothing.

use std::sync::Arc;

use kavach_pq::chrono::{DateTime, Utc};
use kavach_pq::secret_export::ScryptLimits;
use kavach_pq::{PqError, SecretVec};
use napi::bindgen_prelude::{AsyncTask, Buffer, ClassInstance, Either};
use napi::{Env, Task};
use napi_derive::napi;

use crate::dense_array::DenseArray;
use crate::error::{to_js, JsErr, Result};

/// Options of `KavachKeyPair.importSecret(bytes, passphrase?, options?)`: caps on the scrypt
/// work an export header may ask for (it is read before anything is authenticated).
#[napi(object, object_to_js = false)]
pub struct ImportSecretOptions {
    /// Largest accepted scrypt log2(N), 10 … 22. @default 18
    pub max_scrypt_log_n: Option<f64>,
    /// Largest accepted scrypt r, 1 … 32. @default 8
    pub max_scrypt_r: Option<f64>,
    /// Largest accepted scrypt p, 1 … 16. @default 2
    pub max_scrypt_p: Option<f64>,
}

/// An integer option in `lo..=hi` (the export format's own range), or an error naming it.
fn cap(name: &str, v: Option<f64>, lo: u8, hi: u8, default: u32) -> Result<u32> {
    match v {
        None => Ok(default),
        // A whole number in lo..=hi: exact as a u32.
        Some(v) if v.fract() == 0.0 && (f64::from(lo)..=f64::from(hi)).contains(&v) => Ok(v as u32),
        Some(v) => Err(to_js(
            "INVALID_ARGUMENT",
            format!("{name} must be an integer from {lo} to {hi}, got {v}"),
        )),
    }
}

fn scrypt_limits(o: Option<ImportSecretOptions>) -> Result<ScryptLimits> {
    let d = ScryptLimits::default();
    let Some(o) = o else { return Ok(d) };
    let log_n = cap(
        "maxScryptLogN",
        o.max_scrypt_log_n,
        10,
        22,
        d.max_log_n.into(),
    )?;
    Ok(ScryptLimits {
        max_log_n: u8::try_from(log_n).unwrap_or(d.max_log_n),
        max_r: cap("maxScryptR", o.max_scrypt_r, 1, 32, d.max_r)?,
        max_p: cap("maxScryptP", o.max_scrypt_p, 1, 16, d.max_p)?,
    })
}

/// A kavach-pq error as a JS error with its stable code.
pub(crate) fn from_pq(e: PqError) -> JsErr {
    to_js(e.code(), e)
}

/// `result.pq()?` for kavach-pq results.
pub(crate) trait PqResultExt<T> {
    fn pq(self) -> Result<T>;
}

impl<T> PqResultExt<T> for std::result::Result<T, PqError> {
    fn pq(self) -> Result<T> {
        self.map_err(from_pq)
    }
}

/// Unix seconds (with fraction) of a UTC instant.
pub(crate) fn unix_seconds(t: DateTime<Utc>) -> f64 {
    // Seconds since 1970 stay far below 2^53: exact as an f64.
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9
}

/// A Kavach identity: ML-DSA-65 + Ed25519 signing keys, ML-KEM-768 + X25519 agreement keys.
#[napi]
pub struct KavachKeyPair {
    pub(crate) inner: Arc<kavach_pq::KavachKeyPair>,
}

#[napi]
impl KavachKeyPair {
    /// Fresh keys from the OS RNG; id `kavach-key-<uuid>`; no expiry.
    #[napi(catch_unwind, factory)]
    pub fn generate() -> Result<Self> {
        Ok(Self {
            inner: Arc::new(kavach_pq::KavachKeyPair::generate().pq()?),
        })
    }

    /// Fresh keys that expire `seconds` from now; an expiry past 9999-12-31T23:59:59Z (the
    /// latest time the bundle JSON can carry) throws `INVALID_ARGUMENT`.
    #[napi(catch_unwind, factory)]
    pub fn generate_with_expiry(seconds: f64) -> Result<Self> {
        if !(seconds.is_finite() && seconds >= 0.0 && seconds.fract() == 0.0) {
            return Err(to_js(
                "INVALID_ARGUMENT",
                format!("seconds must be a non-negative integer, got {seconds}"),
            ));
        }
        // A whole non-negative number: exact as a u64 below 2^64, saturated above, which is
        // past year 9999 either way and refused as such.
        let secs = seconds as u64;
        Ok(Self {
            inner: Arc::new(kavach_pq::KavachKeyPair::generate_with_expiry(secs).pq()?),
        })
    }

    /// Restore a key pair from `exportSecret` bytes (same id, keys, creation and expiry).
    /// Encrypted exports need the passphrase; a wrong one is `PASSPHRASE_INVALID`. The
    /// export's scrypt cost is capped (log_n ≤ 18, r ≤ 8, p ≤ 2 unless `options` raise it)
    /// and refused with `INVALID_ARGUMENT` naming the parameter before any key derivation.
    #[napi(catch_unwind, factory)]
    pub fn import_secret(
        bytes: Buffer,
        passphrase: Option<String>,
        options: Option<ImportSecretOptions>,
    ) -> Result<Self> {
        let limits = scrypt_limits(options)?;
        Ok(Self {
            inner: Arc::new(
                kavach_pq::secret_export::import_secret_with_limits(
                    &bytes,
                    passphrase.as_deref(),
                    limits,
                )
                .pq()?,
            ),
        })
    }

    /// `importSecret` with the key derivation (scrypt) on the thread pool, so the event loop
    /// keeps running during an expensive import: a promise of the key pair, rejected with the
    /// same errors. Options are checked at the call (a sync throw the TS layer turns into a
    /// rejection), the cost caps before any key derivation.
    #[napi(catch_unwind, ts_return_type = "Promise<KavachKeyPair>")]
    pub fn import_secret_async(
        bytes: Buffer,
        passphrase: Option<String>,
        options: Option<ImportSecretOptions>,
    ) -> Result<AsyncTask<ImportSecretTask>> {
        Ok(AsyncTask::new(ImportSecretTask {
            bytes: SecretVec::new(bytes.to_vec()),
            passphrase: passphrase.map(|p| SecretVec::new(p.into_bytes())),
            limits: scrypt_limits(options)?,
        }))
    }

    /// Every secret seed plus id and times, encrypted with scrypt + ChaCha20-Poly1305 when a
    /// passphrase is given (see the README for the format). Without one, the bytes are the raw
    /// secret: store them like a private key.
    #[napi(catch_unwind)]
    pub fn export_secret(&self, passphrase: Option<String>) -> Result<Buffer> {
        Ok(self.inner.export_secret(passphrase.as_deref()).pq()?.into())
    }

    /// `kavach-key-<uuid>`.
    #[napi(catch_unwind, getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// Creation time, unix seconds.
    #[napi(catch_unwind, getter)]
    pub fn created_at(&self) -> f64 {
        unix_seconds(self.inner.created_at())
    }

    /// Expiry time, unix seconds, or null.
    #[napi(catch_unwind, getter)]
    pub fn expires_at(&self) -> Option<f64> {
        self.inner.expires_at().map(unix_seconds)
    }

    /// True when now is past `expiresAt`.
    #[napi(catch_unwind, getter)]
    pub fn is_expired(&self) -> bool {
        self.inner.is_expired()
    }

    /// The public keys, for distribution in a directory.
    #[napi(catch_unwind)]
    pub fn public_keys(&self) -> PublicKeyBundle {
        PublicKeyBundle {
            inner: self.inner.public_bundle(),
        }
    }

    /// A root-signed directory manifest of `bundles`, signed by this key pair (ML-DSA-65);
    /// `KEY_EXPIRED` once the key pair has expired. Bundles the loader would refuse (a
    /// duplicate key id) throw its `MANIFEST_INVALID`, and nothing is signed.
    #[napi(catch_unwind)]
    pub fn build_signed_manifest(
        &self,
        #[napi(ts_arg_type = "Array<PublicKeyBundle>")] bundles: DenseArray<
            ClassInstance<'_, PublicKeyBundle>,
        >,
    ) -> Result<Buffer> {
        let list: Vec<_> = bundles.0.iter().map(|b| b.inner.clone()).collect();
        Ok(
            kavach_pq::PublicKeyDirectory::build_signed_manifest(&self.inner, &list)
                .pq()?
                .into(),
        )
    }

    /// `KavachKeyPair { id: '…' }` (never any secret).
    #[napi(catch_unwind, js_name = "toString")]
    pub fn describe(&self) -> String {
        format!("KavachKeyPair {{ id: '{}' }}", self.inner.id())
    }
}

/// A record's time as a JS error naming the field (see [`unix_time_in_range`]).
fn record_time(what: &str, s: f64) -> Result<DateTime<Utc>> {
    unix_time_in_range(what, s).map_err(|why| to_js("INVALID_ARGUMENT", why))
}

/// A record's `expiresAt` (see [`expiry_in_range`]) as a JS error naming the field.
fn record_expiry(s: f64) -> Result<DateTime<Utc>> {
    expiry_in_range(s).map_err(|why| to_js("INVALID_ARGUMENT", why))
}

/// `expiresAt` of a record: as [`unix_time_in_range`], except that an expiry past
/// 9999-12-31T23:59:59Z reads as that instant ([`kavach_pq::keys::expiry_as_read`]): earlier
/// releases made records of keys meant never to expire with such expiries.
fn expiry_in_range(s: f64) -> std::result::Result<DateTime<Utc>, String> {
    use kavach_pq::json_bytes::RFC3339_MAX_UNIX;
    // Far below 2^53: exact as f64. At or past it, the year is 10000 or later.
    let past_9999 = s.is_finite() && s >= (RFC3339_MAX_UNIX + 1) as f64;
    let s = if past_9999 {
        RFC3339_MAX_UNIX as f64
    } else {
        s
    };
    // A fraction just below the bound can round up into year 10000: read back as 9999 too.
    unix_time_in_range("expiresAt", s).map(kavach_pq::keys::expiry_as_read)
}

/// Unix seconds as a time: finite and within the years 0000 to 9999 (what RFC 3339, and so
/// the bundle JSON, can write), rounded to whole microseconds; else what is wrong.
fn unix_time_in_range(what: &str, s: f64) -> std::result::Result<DateTime<Utc>, String> {
    use kavach_pq::json_bytes::{RFC3339_MAX_UNIX, RFC3339_MIN_UNIX};
    let not_a_time = || format!("{what} {s} is not a unix time");
    if !s.is_finite() {
        return Err(not_a_time());
    }
    // Both bounds are far below 2^53: exact as f64.
    if !(RFC3339_MIN_UNIX as f64..(RFC3339_MAX_UNIX + 1) as f64).contains(&s) {
        return Err(format!(
            "{what} {s} is outside unix seconds {RFC3339_MIN_UNIX} to {RFC3339_MAX_UNIX} (the \
             years 0000 to 9999, the times RFC 3339 can write)"
        ));
    }
    // A JS number of unix seconds resolves ~0.2 µs today: round to whole microseconds, so
    // microsecond timestamps (ours and the Python SDK's) round-trip exactly. In range (checked
    // above), the microseconds are below 2.6e17: exact in an i64. A second rounded up past
    // the last one is refused by the bundle's own check.
    let micros = (s * 1e6).round() as i64;
    DateTime::from_timestamp_micros(micros).ok_or_else(not_a_time)
}

/// The public keys of an identity, as plain data.
#[napi(object)]
pub struct PublicKeyBundleRecord {
    pub id: String,
    /// 1952 bytes.
    pub ml_dsa_verifying_key: Buffer,
    /// 1184 bytes.
    pub ml_kem_encapsulation_key: Buffer,
    /// 32 bytes.
    pub ed25519_verifying_key: Buffer,
    /// 32 bytes.
    pub x25519_public_key: Buffer,
    /// Unix seconds: exact to the microsecond within ±2^33 s (the years 1697 to 2242); beyond,
    /// a JS number's 53 bits resolve the time to half a step of a few microseconds (at most
    /// 16 µs off by year 9999, 2^37.9 s).
    pub created_at: f64,
    /// Unix seconds, exact as `createdAt` is; absent (`undefined`) for no expiry.
    pub expires_at: Option<f64>,
}

/// Public keys of one identity (FORMATS.md bundle). `toJSON()` gives the bundle JSON.
#[napi]
pub struct PublicKeyBundle {
    pub(crate) inner: kavach_pq::PublicKeyBundle,
}

#[napi]
impl PublicKeyBundle {
    /// Parse bundle JSON (string or UTF-8 bytes); key lengths are checked.
    #[napi(catch_unwind, factory, js_name = "fromJSON")]
    pub fn from_json(json: Either<String, Buffer>) -> Result<Self> {
        let text = match &json {
            Either::A(s) => s.as_str(),
            Either::B(b) => std::str::from_utf8(b)
                .map_err(|_| to_js("FORMAT_INVALID", "bundle JSON is not UTF-8"))?,
        };
        Ok(Self {
            inner: kavach_pq::PublicKeyBundle::from_json(text).pq()?,
        })
    }

    /// From the record shape (`toRecord()`); key lengths are checked, and `createdAt` must be
    /// within the years 0000 to 9999 (what the bundle JSON can carry). An `expiresAt` past
    /// 9999-12-31T23:59:59Z, which records of earlier releases hold for keys meant never to
    /// expire, reads as that instant (still never, in practice).
    #[napi(catch_unwind, factory)]
    pub fn from_record(record: PublicKeyBundleRecord) -> Result<Self> {
        let inner = kavach_pq::PublicKeyBundle {
            id: record.id,
            ml_dsa_verifying_key: record.ml_dsa_verifying_key.to_vec(),
            ml_kem_encapsulation_key: record.ml_kem_encapsulation_key.to_vec(),
            ed25519_verifying_key: record.ed25519_verifying_key.to_vec(),
            x25519_public_key: record.x25519_public_key.to_vec(),
            created_at: record_time("createdAt", record.created_at)?,
            expires_at: record.expires_at.map(record_expiry).transpose()?,
        };
        inner.validate().pq()?;
        Ok(Self { inner })
    }

    /// The bundle JSON of FORMATS.md (compact, byte-exact with other implementations).
    #[napi(catch_unwind, js_name = "toJSON")]
    pub fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The record shape with Buffers.
    #[napi(catch_unwind)]
    pub fn to_record(&self) -> PublicKeyBundleRecord {
        let b = &self.inner;
        PublicKeyBundleRecord {
            id: b.id.clone(),
            ml_dsa_verifying_key: b.ml_dsa_verifying_key.clone().into(),
            ml_kem_encapsulation_key: b.ml_kem_encapsulation_key.clone().into(),
            ed25519_verifying_key: b.ed25519_verifying_key.clone().into(),
            x25519_public_key: b.x25519_public_key.clone().into(),
            created_at: unix_seconds(b.created_at),
            expires_at: b.expires_at.map(unix_seconds),
        }
    }

    #[napi(catch_unwind, getter)]
    pub fn id(&self) -> String {
        self.inner.id.clone()
    }

    /// 1952 bytes.
    #[napi(catch_unwind, getter)]
    pub fn ml_dsa_verifying_key(&self) -> Buffer {
        self.inner.ml_dsa_verifying_key.clone().into()
    }

    /// 1184 bytes.
    #[napi(catch_unwind, getter)]
    pub fn ml_kem_encapsulation_key(&self) -> Buffer {
        self.inner.ml_kem_encapsulation_key.clone().into()
    }

    /// 32 bytes.
    #[napi(catch_unwind, getter)]
    pub fn ed25519_verifying_key(&self) -> Buffer {
        self.inner.ed25519_verifying_key.clone().into()
    }

    /// 32 bytes.
    #[napi(catch_unwind, getter)]
    pub fn x25519_public_key(&self) -> Buffer {
        self.inner.x25519_public_key.clone().into()
    }

    /// Unix seconds.
    #[napi(catch_unwind, getter)]
    pub fn created_at(&self) -> f64 {
        unix_seconds(self.inner.created_at)
    }

    /// Unix seconds, or null.
    #[napi(catch_unwind, getter)]
    pub fn expires_at(&self) -> Option<f64> {
        self.inner.expires_at.map(unix_seconds)
    }

    /// True when now is past `expiresAt`.
    #[napi(catch_unwind, getter)]
    pub fn is_expired(&self) -> bool {
        self.inner.is_expired()
    }
}

impl PublicKeyBundle {
    /// The Rust bundle (for the audit and channel bindings).
    #[allow(dead_code, reason = "used by the audit and channel binding files")]
    pub(crate) fn as_pq(&self) -> &kavach_pq::PublicKeyBundle {
        &self.inner
    }
}

impl KavachKeyPair {
    /// The shared Rust key pair (for the audit and channel bindings).
    #[allow(dead_code, reason = "used by the audit and channel binding files")]
    pub(crate) fn as_pq(&self) -> Arc<kavach_pq::KavachKeyPair> {
        self.inner.clone()
    }
}

/// `importSecretAsync`'s work: the export and passphrase (wiped on drop) and the cost caps.
pub struct ImportSecretTask {
    bytes: SecretVec,
    passphrase: Option<SecretVec>,
    limits: ScryptLimits,
}

/// Why an import on the thread pool failed.
pub enum ImportFailure {
    Pq(PqError),
    /// A panic in the import, caught on the worker thread.
    Panic,
}

impl Task for ImportSecretTask {
    type Output = std::result::Result<kavach_pq::KavachKeyPair, ImportFailure>;
    type JsValue = KavachKeyPair;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let passphrase = match &self.passphrase {
                None => None,
                // Came from a JS string, so it is UTF-8.
                Some(p) => Some(std::str::from_utf8(p.expose()).map_err(|_| {
                    PqError::InvalidArgument("passphrase is not valid UTF-8".into())
                })?),
            };
            kavach_pq::secret_export::import_secret_with_limits(
                self.bytes.expose(),
                passphrase,
                self.limits,
            )
        }));
        Ok(match run {
            Ok(r) => r.map_err(ImportFailure::Pq),
            Err(_) => Err(ImportFailure::Panic),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        match output {
            Ok(kp) => Ok(KavachKeyPair {
                inner: Arc::new(kp),
            }),
            Err(ImportFailure::Pq(e)) => Err(crate::error::settle_error(&env, from_pq(e))),
            Err(ImportFailure::Panic) => Err(crate::error::settle_error(
                &env,
                to_js(
                    crate::error::codes::INTERNAL,
                    "KavachKeyPair.importSecretAsync: internal error in the native addon (a caught panic)",
                ),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn record_times_are_held_to_the_years_rfc3339_can_write() {
        let range = "is outside unix seconds -62167219200 to 253402300799 (the years 0000 to \
                     9999, the times RFC 3339 can write)";
        let refusal = |what, s| unix_time_in_range(what, s).unwrap_err();
        assert_eq!(
            refusal("createdAt", -1e11),
            format!("createdAt -100000000000 {range}")
        );
        assert_eq!(
            refusal("expiresAt", 253_402_300_800.0),
            format!("expiresAt 253402300800 {range}")
        );
        assert_eq!(
            expiry_in_range(-1e12).unwrap_err(),
            format!("expiresAt -1000000000000 {range}")
        );
        assert_eq!(
            expiry_in_range(f64::INFINITY).unwrap_err(),
            "expiresAt inf is not a unix time"
        );
        assert_eq!(
            refusal("createdAt", f64::NAN),
            "createdAt NaN is not a unix time"
        );
        let first = unix_time_in_range("createdAt", -62_167_219_200.0).map(unix_seconds);
        let last = unix_time_in_range("expiresAt", 253_402_300_799.0).map(unix_seconds);
        assert_eq!(
            (first, last),
            (Ok(-62_167_219_200.0), Ok(253_402_300_799.0))
        );
    }

    #[test]
    fn a_record_expiry_past_year_9999_reads_as_its_last_second() {
        // What earlier releases put in records of keys made with generateWithExpiry(1e12).
        for s in [
            253_402_300_800.0,
            1.7e9 + 1e12,
            253_402_300_799.999_999_9,
            1e300,
        ] {
            assert_eq!(
                expiry_in_range(s).map(unix_seconds),
                Ok(253_402_300_799.0),
                "{s}"
            );
        }
        assert_eq!(
            expiry_in_range(253_402_300_799.5).map(unix_seconds),
            Ok(253_402_300_799.5)
        );
    }
}
