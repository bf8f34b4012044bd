//! Export and import of a whole key pair, so an identity survives restarts.
//!
//! # Format (version 1), all integers little-endian
//!
//! ```text
//! header   = magic "KVSK" (4) ‖ version 0x01 (1) ‖ mode (1)
//! body     = id_len u16 ‖ id (UTF-8)
//!          ‖ created_at unix seconds i64 ‖ created_at nanoseconds u32
//!          ‖ has_expiry u8 (0|1) ‖ expires_at seconds i64 ‖ expires_at nanoseconds u32
//!                                   (both zero when has_expiry = 0)
//!          ‖ ml_dsa_seed (32) ‖ ed25519_seed (32) ‖ ml_kem_seed d‖z (64) ‖ x25519_secret (32)
//!
//! mode 0x00 (plaintext):  header ‖ body ‖ SHA-256(header ‖ body) (32)
//! mode 0x01 (passphrase): header ‖ log_n u8 ‖ r u32 ‖ p u32 ‖ salt (16) ‖ nonce (12)
//!                         ‖ ChaCha20-Poly1305(key, nonce, aad = everything before it, body)
//!                           (ciphertext ‖ 16-byte tag)
//!          key = scrypt(passphrase UTF-8, salt, N = 2^log_n, r, p, 32 bytes)
//! ```
//!
//! Defaults: scrypt N = 2^17, r = 8, p = 1 (128 MiB, the OWASP recommendation); salt and
//! nonce are fresh from the OS RNG on every export. The format allows log_n 10..=22, r 1..=32,
//! p 1..=16, and at most 1 GiB of scrypt memory (128·r·2^log_n bytes). The parameters are read before anything is authenticated, so import caps them
//! ([`ScryptLimits`], by default log_n ≤ 18, r ≤ 8, p ≤ 2: at most 256 MiB) and refuses a
//! blob above the cap before any KDF work; a larger cap is an explicit caller choice. The AEAD covers the scrypt
//! parameters, so no header byte can be changed unnoticed. A wrong passphrase or any modified
//! byte is `PASSPHRASE_INVALID` (encrypted) or `FORMAT_INVALID` (plaintext checksum).
//! A plaintext export holds the raw seeds: treat it as a secret.
//!
//! Times on import: `created_at` must be within the years 0000 to 9999 (`FORMAT_INVALID`
//! otherwise); an `expires_at` past 9999-12-31T23:59:59Z, which earlier releases wrote, is read
//! as that instant ([`crate::keys::expiry_as_read`]).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{os_random, PqError, Result};
use crate::keys::KavachKeyPair;
use crate::secret::SecretBytes;
use crate::sizes::*;

const MAGIC: &[u8; 4] = b"KVSK";
const VERSION: u8 = 1;
const MODE_PLAIN: u8 = 0;
const MODE_SCRYPT_CHACHA: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;

/// scrypt cost parameters of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptCost {
    /// log2(N).
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for ScryptCost {
    fn default() -> Self {
        Self {
            log_n: 17,
            r: 8,
            p: 1,
        }
    }
}

/// The most memory a key derivation may take (scrypt needs 128·r·N bytes). The ranges of the
/// single parameters together allow 16 GiB, whose failed allocation would abort the process
/// rather than fail the import.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 1 << 30;

impl ScryptCost {
    /// Bytes scrypt allocates for this cost.
    pub fn memory_bytes(self) -> u64 {
        (128 * u64::from(self.r)) << self.log_n
    }

    /// The parameters of an export: each in its range, and within the memory bound.
    fn check(self) -> Result<scrypt::Params> {
        let params = self.check_ranges()?;
        self.check_memory()?;
        Ok(params)
    }

    fn check_memory(self) -> Result<()> {
        if self.memory_bytes() > MAX_SCRYPT_MEMORY_BYTES {
            return Err(PqError::InvalidArgument(format!(
                "scrypt parameters log_n {}, r {} need {} MiB of memory, over the limit of {} MiB",
                self.log_n,
                self.r,
                self.memory_bytes() >> 20,
                MAX_SCRYPT_MEMORY_BYTES >> 20
            )));
        }
        Ok(())
    }

    fn check_ranges(self) -> Result<scrypt::Params> {
        if !(10..=22).contains(&self.log_n)
            || !(1..=32).contains(&self.r)
            || !(1..=16).contains(&self.p)
        {
            return Err(PqError::InvalidArgument(format!(
                "scrypt parameters out of range: log_n {} (10..=22), r {} (1..=32), p {} (1..=16)",
                self.log_n, self.r, self.p
            )));
        }
        scrypt::Params::new(self.log_n, self.r, self.p)
            .map_err(|e| PqError::InvalidArgument(format!("invalid scrypt parameters: {e}")))
    }
}

/// The most scrypt work an import will do for an (unauthenticated) export header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptLimits {
    /// Largest accepted log2(N).
    pub max_log_n: u8,
    /// Largest accepted block size r.
    pub max_r: u32,
    /// Largest accepted parallelism p.
    pub max_p: u32,
}

impl Default for ScryptLimits {
    /// log_n ≤ 18, r ≤ 8, p ≤ 2: twice the default export cost in memory and time, at most.
    fn default() -> Self {
        Self {
            max_log_n: 18,
            max_r: 8,
            max_p: 2,
        }
    }
}

impl ScryptLimits {
    /// Refuse `cost` when any parameter is above its cap, naming it.
    fn admit(self, cost: ScryptCost) -> Result<()> {
        let over = [
            ("log_n", u32::from(cost.log_n), u32::from(self.max_log_n)),
            ("r", cost.r, self.max_r),
            ("p", cost.p, self.max_p),
        ]
        .into_iter()
        .find(|(_, v, max)| v > max);
        match over {
            Some((name, v, max)) => Err(PqError::InvalidArgument(format!(
                "secret export asks for scrypt {name} = {v}, above the import limit {name} <= \
                 {max}; no key derivation was attempted (raise the scrypt limits explicitly \
                 to import it)"
            ))),
            None => Ok(()),
        }
    }
}

/// Export `kp`; encrypted when `passphrase` is given (it must not be empty).
pub fn export_secret(kp: &KavachKeyPair, passphrase: Option<&str>) -> Result<Vec<u8>> {
    export_secret_with_cost(kp, passphrase, ScryptCost::default())
}

/// Export with explicit scrypt cost (tests use a cheaper one).
pub fn export_secret_with_cost(
    kp: &KavachKeyPair,
    passphrase: Option<&str>,
    cost: ScryptCost,
) -> Result<Vec<u8>> {
    let body = encode_body(kp)?;
    match passphrase {
        None => {
            let mut out = header(MODE_PLAIN);
            out.extend_from_slice(&body);
            let sum = Sha256::digest(&out);
            out.extend_from_slice(&sum);
            Ok(out)
        }
        Some(pass) => {
            if pass.is_empty() {
                return Err(PqError::InvalidArgument(
                    "passphrase is empty; omit it for an unencrypted export".into(),
                ));
            }
            let params = cost.check()?;
            let mut salt = [0u8; SALT_LEN];
            let mut nonce = [0u8; NONCE_LEN];
            os_random(&mut salt)?;
            os_random(&mut nonce)?;
            let mut out = header(MODE_SCRYPT_CHACHA);
            out.push(cost.log_n);
            out.extend_from_slice(&cost.r.to_le_bytes());
            out.extend_from_slice(&cost.p.to_le_bytes());
            out.extend_from_slice(&salt);
            out.extend_from_slice(&nonce);
            let key = derive_key(pass, &salt, &params)?;
            let cipher = ChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key));
            let ct = cipher
                .encrypt(
                    &chacha20poly1305::Nonce::from(nonce),
                    Payload {
                        msg: &body,
                        aad: &out,
                    },
                )
                .map_err(|_| PqError::InvalidArgument("secret too large to encrypt".into()))?;
            out.extend_from_slice(&ct);
            Ok(out)
        }
    }
}

/// Restore a key pair (same id, keys, creation and expiry times), with the default
/// [`ScryptLimits`].
pub fn import_secret(bytes: &[u8], passphrase: Option<&str>) -> Result<KavachKeyPair> {
    import_secret_with_limits(bytes, passphrase, ScryptLimits::default())
}

/// [`import_secret`] with explicit caps on the scrypt work the export header may ask for.
pub fn import_secret_with_limits(
    bytes: &[u8],
    passphrase: Option<&str>,
    limits: ScryptLimits,
) -> Result<KavachKeyPair> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(PqError::Format(
            "not a Kavach secret export (bad magic)".into(),
        ));
    }
    if bytes[4] != VERSION {
        return Err(PqError::Format(format!(
            "unsupported secret export version {}",
            bytes[4]
        )));
    }
    match (bytes[5], passphrase) {
        (MODE_PLAIN, Some(_)) => Err(PqError::PassphraseInvalid(
            "this export is not encrypted; import it without a passphrase".into(),
        )),
        (MODE_PLAIN, None) => {
            if bytes.len() < 6 + CHECKSUM_LEN {
                return Err(PqError::Format("secret export is truncated".into()));
            }
            let (data, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
            let want = Sha256::digest(data);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(&want[..], sum)) {
                return Err(PqError::Format(
                    "secret export checksum mismatch: the blob was modified or truncated".into(),
                ));
            }
            decode_body(&data[6..])
        }
        (MODE_SCRYPT_CHACHA, None) => Err(PqError::PassphraseInvalid(
            "this export is encrypted; a passphrase is required".into(),
        )),
        (MODE_SCRYPT_CHACHA, Some(pass)) => {
            let head_len = 6 + 1 + 4 + 4 + SALT_LEN + NONCE_LEN;
            if bytes.len() < head_len + TAG_LEN {
                return Err(PqError::Format("secret export is truncated".into()));
            }
            let cost = ScryptCost {
                log_n: bytes[6],
                r: u32::from_le_bytes([bytes[7], bytes[8], bytes[9], bytes[10]]),
                p: u32::from_le_bytes([bytes[11], bytes[12], bytes[13], bytes[14]]),
            };
            // A cost no export can have means the header was modified: out of range at once;
            // over the memory bound only within the caller's caps (above them, the caps name it).
            let modified = |e: PqError| {
                PqError::PassphraseInvalid(format!("modified secret export header: {e}"))
            };
            let params = cost.check_ranges().map_err(modified)?;
            limits.admit(cost)?;
            cost.check_memory().map_err(modified)?;
            let salt = &bytes[15..15 + SALT_LEN];
            let mut nonce = [0u8; NONCE_LEN];
            nonce.copy_from_slice(&bytes[15 + SALT_LEN..head_len]);
            let key = derive_key(pass, salt, &params)?;
            let cipher = ChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key));
            let body = Zeroizing::new(
                cipher
                    .decrypt(
                        &chacha20poly1305::Nonce::from(nonce),
                        Payload {
                            msg: &bytes[head_len..],
                            aad: &bytes[..head_len],
                        },
                    )
                    .map_err(|_| {
                        PqError::PassphraseInvalid(
                            "wrong passphrase, or the encrypted secret was modified".into(),
                        )
                    })?,
            );
            decode_body(&body)
        }
        (mode, _) => Err(PqError::Format(format!(
            "unknown secret export mode {mode}"
        ))),
    }
}

fn header(mode: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(256);
    v.extend_from_slice(MAGIC);
    v.push(VERSION);
    v.push(mode);
    v
}

fn derive_key(pass: &str, salt: &[u8], params: &scrypt::Params) -> Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(pass.as_bytes(), salt, params, &mut key[..])
        .map_err(|e| PqError::InvalidArgument(format!("scrypt failed: {e}")))?;
    Ok(key)
}

fn encode_body(kp: &KavachKeyPair) -> Result<Zeroizing<Vec<u8>>> {
    let id = kp.id().as_bytes();
    let id_len = u16::try_from(id.len())
        .map_err(|_| PqError::InvalidArgument("key id longer than 65535 bytes".into()))?;
    let mut b = Zeroizing::new(Vec::with_capacity(256 + id.len()));
    b.extend_from_slice(&id_len.to_le_bytes());
    b.extend_from_slice(id);
    push_time(&mut b, Some(kp.created_at()));
    b.push(u8::from(kp.expires_at().is_some()));
    push_time(&mut b, kp.expires_at());
    b.extend_from_slice(kp.ml_dsa_signer().seed().expose());
    b.extend_from_slice(&kp.ed25519_signing_key().to_bytes());
    b.extend_from_slice(kp.ml_kem_seed().expose());
    b.extend_from_slice(kp.x25519_secret().expose());
    Ok(b)
}

fn push_time(b: &mut Vec<u8>, t: Option<DateTime<Utc>>) {
    let (s, n) = t.map_or((0, 0), |t| (t.timestamp(), t.timestamp_subsec_nanos()));
    b.extend_from_slice(&s.to_le_bytes());
    b.extend_from_slice(&n.to_le_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(PqError::Format("secret export body is truncated".into()));
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }

    fn time(&mut self) -> Result<(i64, u32)> {
        let s = self.take(8)?;
        let n = self.take(4)?;
        let mut sa = [0u8; 8];
        sa.copy_from_slice(s);
        let mut na = [0u8; 4];
        na.copy_from_slice(n);
        Ok((i64::from_le_bytes(sa), u32::from_le_bytes(na)))
    }

    fn secret<const N: usize>(&mut self) -> Result<SecretBytes<N>> {
        let s = self.take(N)?;
        SecretBytes::from_slice(s).ok_or_else(|| PqError::Format("bad secret length".into()))
    }
}

/// A time of the export as chrono holds it; anything else is a malformed export,
/// `FORMAT_INVALID`.
fn to_time(what: &str, (s, n): (i64, u32)) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(s, n)
        .ok_or_else(|| PqError::Format(format!("{what} {s}.{n} out of range")))
}

/// `created_at` of the export, within what the key pair's bundle JSON can carry (years 0000 to
/// 9999), else `FORMAT_INVALID`: it is the clock at generation, never outside that range for
/// a real key, and moving it would misstate the key's age.
fn created_time(t: (i64, u32)) -> Result<DateTime<Utc>> {
    let t = to_time("created_at", t)?;
    crate::json_bytes::check_rfc3339_range("created_at", &t).map_err(PqError::Format)?;
    Ok(t)
}

/// `expires_at` of the export: one past year 9999, which earlier releases wrote for keys meant
/// never to expire, is read as 9999-12-31T23:59:59Z ([`crate::keys::expiry_as_read`]), so the
/// key is restored rather than lost.
fn expiry_time(t: (i64, u32)) -> Result<DateTime<Utc>> {
    to_time("expires_at", t).map(crate::keys::expiry_as_read)
}

fn decode_body(body: &[u8]) -> Result<KavachKeyPair> {
    let mut r = Reader(body);
    let len = r.take(2)?;
    let id_len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let id = std::str::from_utf8(r.take(id_len)?)
        .map_err(|_| PqError::Format("key id is not UTF-8".into()))?
        .to_string();
    if id.trim().is_empty() {
        return Err(PqError::Format("key id is empty".into()));
    }
    let created_at = created_time(r.time()?)?;
    let has_expiry = r.take(1)?[0];
    let exp = r.time()?;
    let expires_at = match has_expiry {
        0 => None,
        1 => Some(expiry_time(exp)?),
        v => return Err(PqError::Format(format!("bad expiry flag {v}"))),
    };
    let ml_dsa = r.secret::<ML_DSA_SEED_LEN>()?;
    let ed = r.secret::<ED25519_SEED_LEN>()?;
    let kem = r.secret::<ML_KEM_SEED_LEN>()?;
    let x = r.secret::<X25519_LEN>()?;
    if !r.0.is_empty() {
        return Err(PqError::Format("secret export has trailing bytes".into()));
    }
    KavachKeyPair::build(id, ml_dsa, ed, kem, x, created_at, expires_at)
}

impl KavachKeyPair {
    /// See [`export_secret`].
    pub fn export_secret(&self, passphrase: Option<&str>) -> Result<Vec<u8>> {
        export_secret(self, passphrase)
    }

    /// See [`import_secret`].
    pub fn import_secret(bytes: &[u8], passphrase: Option<&str>) -> Result<Self> {
        import_secret(bytes, passphrase)
    }
}
