//! `SecureChannel`: authenticated encryption to one remote identity (FORMATS.md "Secure
//! channel"), with this package's **channel format v2**.
//!
//! Per message: ML-KEM-768 encapsulation to the recipient plus an ephemeral X25519 exchange;
//! `key = HKDF-SHA256(salt "kavach-pq-salt-v1", ikm = kem_secret ‖ x25519_secret,
//! info "kavach-pq-channel-key-v1", 32 bytes)`; ChaCha20-Poly1305 with a random 12-byte nonce
//! and the recipient key id as associated data.
//!
//! What v2 changes against the shared (v1) format, on purpose:
//!
//! 1. The signature of a signed message also covers its context id, correlation id, the
//!    recipient key id and the sealed payload id:
//!    ```text
//!    signed = data ‖ nonce ‖ ts ‖ "\0kavach-channel-v2\0"
//!             ‖ lp(context_id) ‖ lp(correlation_id) ‖ lp(recipient_key_id) ‖ lp(payload_id)
//!    lp(x)  = u32 little-endian byte length of x ‖ x (UTF-8)
//!    ```
//!    (v1 signs only `data ‖ nonce ‖ ts`.) So a recipient cannot re-wrap someone else's
//!    signed message for another context or another recipient, and a changed payload id is
//!    detected. The plaintext JSON carries `"channel_version":2`.
//! 2. A hybrid receiver requires the X25519 leg (`ephemeral_x25519_pk`, 32 bytes, contributory).
//! 3. Replay protection remembers every nonce inside a bounded time window (default 300 s back,
//!    30 s ahead) and refuses messages outside it ([`super::replay`]).
//!
//! Key expiry: a channel uses its two keys only while both are valid. Construction, and then
//! every send and every receive (signed or not), checks that neither the local key pair nor
//! the remote bundle is past its `expires_at` at the channel's clock, and otherwise fails with
//! `KEY_EXPIRED` naming the key. A long-lived channel therefore stops accepting messages
//! signed by a remote key the moment that key expires, and stops encrypting to it.
//!
//! Interoperating: v2 receivers refuse v1 signed messages unless `accept_v1` is set (then
//! they are verified over the v1 bytes, with the same window and replay checks). v1 receivers
//! refuse v2 signed messages (`signature verification failed`), so upgrade receivers first.
//! `send_data`/`receive_data` are unchanged from v1.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

use crate::bundle::PublicKeyBundle;
use crate::channel::primitives::{aead_open, aead_seal, hkdf_sha256, AEAD_NONCE_LEN, AEAD_TAG_LEN};
use crate::channel::replay::ReplayGuard;
use crate::channel::sealed::{ChannelMessage, SealedPayload};
use crate::error::{os_random, PqError, Result};
use crate::excerpt::excerpt;
use crate::keys::KavachKeyPair;
use crate::signed_payload::{PayloadVerifier, SignedPayload};

/// HKDF salt (shared format).
pub const HKDF_SALT: &[u8] = b"kavach-pq-salt-v1";
/// HKDF info (shared format).
pub const HKDF_INFO: &[u8] = b"kavach-pq-channel-key-v1";
/// Domain tag of the v2 signature suffix.
pub const V2_DOMAIN: &[u8] = b"\0kavach-channel-v2\0";
/// Value of `channel_version` written by this package.
pub const CHANNEL_VERSION: u32 = 2;

/// Channel tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Sign with ML-DSA-65 and Ed25519, and require both (and the X25519 leg) on receipt.
    pub hybrid: bool,
    /// How far back a message may be signed and still be accepted.
    pub replay_window: Duration,
    /// How far ahead (clock skew) a message may be signed.
    pub max_future_skew: Duration,
    /// Hard cap on remembered nonces.
    pub max_tracked_nonces: usize,
    /// Also accept v1 signed messages (signature without context binding).
    pub accept_v1: bool,
    /// Largest sealed message, in bytes, that is sent or received. Checked on receipt before
    /// any parsing, decapsulation, decryption or signature work, so an outsider cannot make
    /// the receiver spend memory and CPU in proportion to what it sends.
    pub max_message_bytes: usize,
}

/// Default [`ChannelOptions::max_message_bytes`]: 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            hybrid: true,
            replay_window: Duration::seconds(300),
            max_future_skew: Duration::seconds(30),
            max_tracked_nonces: 1 << 20,
            accept_v1: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

fn lp(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The v2 suffix appended to `data ‖ nonce ‖ ts` before signing.
pub fn v2_suffix(
    context_id: &str,
    correlation_id: &str,
    recipient_key_id: &str,
    payload_id: &str,
) -> Vec<u8> {
    let mut s = Vec::with_capacity(
        V2_DOMAIN.len()
            + 16
            + context_id.len()
            + correlation_id.len()
            + recipient_key_id.len()
            + 36,
    );
    s.extend_from_slice(V2_DOMAIN);
    lp(&mut s, context_id);
    lp(&mut s, correlation_id);
    lp(&mut s, recipient_key_id);
    lp(&mut s, payload_id);
    s
}

/// A v1 signature covers only `data ‖ nonce ‖ ts`, the bytes a permit token's and an audit
/// entry's signatures cover too, so a key that also signs permits or an audit chain vouches
/// for those as v1 messages: a permit for an action ending in a nonce and a time is a signed
/// message whose data is the token's ids, times and the start of the action; an audit line's
/// payload is one as it stands. Data of either shape is refused here. A permit's bytes start
/// with two random (version 4) UUIDs and two unix times in seconds (little-endian, issue no
/// later than expiry); random bytes meet all of that about once in 2^60, text never.
fn refuse_foreign_v1_data(data: &[u8]) -> Result<()> {
    let v4 = |b: &[u8]| b[6] >> 4 == 4 && b[8] & 0xC0 == 0x80;
    let time = |b: &[u8]| <[u8; 8]>::try_from(b).map_or(-1, i64::from_le_bytes);
    // Unix seconds below 2^40 (the year 36812).
    let plausible = |t: i64| (0..1 << 40).contains(&t);
    // 48 bytes and more: a permit for an action that is exactly `nonce ‖ ts` leaves 48.
    if data.len() >= 48
        && v4(&data[..16])
        && v4(&data[16..32])
        && plausible(time(&data[32..40]))
        && plausible(time(&data[40..48]))
        && time(&data[32..40]) <= time(&data[40..48])
    {
        return Err(PqError::SignatureInvalid(
            "v1 signed message refused: its data has the shape of a permit token's signed \
             bytes (a permit signature is not a channel message)"
                .into(),
        ));
    }
    if crate::audit::AuditEntry::from_json_bytes(data).is_ok() {
        return Err(PqError::SignatureInvalid(
            "v1 signed message refused: its data is an audit entry (an audit signature is not \
             a channel message)"
                .into(),
        ));
    }
    Ok(())
}

/// One local identity talking to one remote identity.
pub struct SecureChannel {
    local: Arc<KavachKeyPair>,
    remote: PublicKeyBundle,
    remote_verifier: PayloadVerifier,
    opts: ChannelOptions,
    replay: Mutex<ReplayGuard>,
    /// Testing hook: a fixed "now" instead of the system clock.
    clock: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureChannel")
            .field("local", &self.local.id())
            .field("remote", &self.remote.id)
            .finish_non_exhaustive()
    }
}

impl SecureChannel {
    /// A channel from `local` to the owner of `remote` (validated, and refused if either key
    /// is expired).
    pub fn new(
        local: Arc<KavachKeyPair>,
        remote: PublicKeyBundle,
        opts: ChannelOptions,
    ) -> Result<Self> {
        remote.validate()?;
        let now = Utc::now();
        local.check_not_expired_at(now)?;
        remote.check_not_expired_at(now)?;
        if opts.replay_window <= Duration::zero() || opts.max_future_skew < Duration::zero() {
            return Err(PqError::InvalidArgument(
                "replay window must be positive and future skew not negative".into(),
            ));
        }
        if opts.max_tracked_nonces == 0 {
            return Err(PqError::InvalidArgument(
                "max tracked nonces must be at least 1".into(),
            ));
        }
        let remote_verifier = PayloadVerifier::new(&remote)?;
        let replay = ReplayGuard::new(
            opts.replay_window,
            opts.max_future_skew,
            opts.max_tracked_nonces,
        );
        Ok(Self {
            local,
            remote,
            remote_verifier,
            opts,
            replay: Mutex::new(replay),
            clock: Mutex::new(None),
        })
    }

    /// Our key id.
    pub fn local_key_id(&self) -> &str {
        self.local.id()
    }

    /// The remote key id.
    pub fn remote_key_id(&self) -> &str {
        &self.remote.id
    }

    /// Nonces currently remembered by the replay guard.
    pub fn tracked_nonces(&self) -> usize {
        self.replay.lock().tracked()
    }

    /// TESTING ONLY: pin the channel's clock (signing time and window checks) to `now`, or
    /// `None` for the system clock.
    pub fn set_clock_for_testing(&self, now: Option<DateTime<Utc>>) {
        *self.clock.lock() = now;
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.lock().unwrap_or_else(Utc::now)
    }

    /// `KEY_EXPIRED` unless both keys are valid at `now` (every send and receive).
    fn check_keys(&self, now: DateTime<Utc>) -> Result<()> {
        self.local.check_not_expired_at(now)?;
        self.remote.check_not_expired_at(now)
    }

    /// Refuse a message of `len` bytes over the size limit (`what` says which bytes).
    fn check_size(&self, what: &str, len: usize) -> Result<()> {
        let max = self.opts.max_message_bytes;
        if len > max {
            return Err(PqError::InvalidArgument(format!(
                "{what} is {len} bytes, over the channel limit maxMessageBytes = {max}"
            )));
        }
        Ok(())
    }

    /// Encrypt to the remote; `now` is the send time (key expiry).
    fn seal(&self, plaintext: &[u8], payload_id: String, now: DateTime<Utc>) -> Result<Vec<u8>> {
        self.check_keys(now)?;
        // The sealed form is larger than the plaintext, so this refuses early what the
        // receiver would refuse anyway; the sealed length is checked again below.
        self.check_size("message to send", plaintext.len())?;
        let (kem_ciphertext, kem_ss) = self.remote.ml_kem_encapsulate()?;
        let mut eph = zeroize::Zeroizing::new([0u8; 32]);
        os_random(eph.as_mut_slice())?;
        let eph_secret = x25519_dalek::StaticSecret::from(*eph);
        let eph_pk = x25519_dalek::PublicKey::from(&eph_secret).to_bytes();
        let remote_x: [u8; 32] = self
            .remote
            .x25519_public_key
            .as_slice()
            .try_into()
            .map_err(|_| PqError::InvalidKey("remote X25519 key must be 32 bytes".into()))?;
        let x_ss = crate::channel::primitives::x25519_checked(&eph, &remote_x)?;
        let key = derive_key(&kem_ss[..], &x_ss[..])?;
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        os_random(&mut nonce)?;
        let encrypted_data = aead_seal(&key, &nonce, self.remote.id.as_bytes(), plaintext)?;
        let sealed = SealedPayload {
            kem_ciphertext,
            encrypted_data,
            nonce: nonce.to_vec(),
            auth_tag: Vec::new(),
            ephemeral_x25519_pk: Some(eph_pk.to_vec()),
            recipient_key_id: self.remote.id.clone(),
            payload_id,
        };
        let out = serde_json::to_vec(&sealed)
            .map_err(|e| PqError::Format(format!("cannot serialise sealed payload: {e}")))?;
        self.check_size("sealed message to send", out.len())?;
        Ok(out)
    }

    /// Decrypt a message addressed to us; `now` is the receive time (key expiry).
    fn open(&self, sealed: &[u8], now: DateTime<Utc>) -> Result<(SealedPayload, Vec<u8>)> {
        self.check_size("received message", sealed.len())?;
        self.check_keys(now)?;
        let mut s: SealedPayload = crate::json_object::from_slice(sealed).map_err(|e| {
            PqError::Format(format!(
                "invalid sealed payload JSON: {}",
                crate::excerpt::message(e)
            ))
        })?;
        if s.recipient_key_id != self.local.id() {
            return Err(PqError::DecryptionFailed(format!(
                "wrong recipient: message is addressed to '{}', not to '{}'",
                excerpt(&s.recipient_key_id),
                self.local.id()
            )));
        }
        let kem_ss = self.local.ml_kem_decapsulate(&s.kem_ciphertext)?;
        let ikm_x = match s.ephemeral_x25519_pk.as_deref() {
            Some(pk) if !pk.is_empty() => {
                let pk: [u8; 32] = pk.try_into().map_err(|_| {
                    PqError::DecryptionFailed(format!(
                        "ephemeral X25519 key must be 32 bytes, got {}",
                        pk.len()
                    ))
                })?;
                Some(self.local.x25519_diffie_hellman(&pk)?)
            }
            _ if self.opts.hybrid => {
                return Err(PqError::DecryptionFailed(
                    "hybrid receiver requires the X25519 leg (ephemeral_x25519_pk missing)".into(),
                ))
            }
            _ => None,
        };
        let key = derive_key(&kem_ss[..], ikm_x.as_ref().map_or(&[][..], |x| &x[..]))?;
        match s.auth_tag.len() {
            0 => {}
            AEAD_TAG_LEN => {
                let tag = std::mem::take(&mut s.auth_tag);
                s.encrypted_data.extend_from_slice(&tag);
            }
            n => {
                return Err(PqError::DecryptionFailed(format!(
                    "auth_tag must be empty or {AEAD_TAG_LEN} bytes, got {n}"
                )))
            }
        }
        let plain = aead_open(
            &key,
            &s.nonce,
            self.local.id().as_bytes(),
            &s.encrypted_data,
        )?;
        Ok((s, plain))
    }

    /// Encrypt raw bytes to the remote (no signature, no replay protection).
    pub fn send_data(&self, data: &[u8]) -> Result<Vec<u8>> {
        self.seal(data, uuid::Uuid::new_v4().to_string(), self.now())
    }

    /// Decrypt a message addressed to us.
    pub fn receive_data(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        Ok(self.open(sealed, self.now())?.1)
    }

    /// Sign `data` (v2: bound to context, correlation, recipient and payload id) and encrypt.
    pub fn send_signed(
        &self,
        data: &[u8],
        context_id: &str,
        correlation_id: &str,
    ) -> Result<Vec<u8>> {
        let now = self.now();
        // Before signing: an expired key pair signs nothing, and nothing is sent to an
        // expired recipient.
        self.check_keys(now)?;
        // The signed message is larger than `data` (and its JSON several times larger), so
        // data over the limit is refused before any of that is built (refused only after
        // signing and encoding, a 512 MB buffer costs 3 GB and seconds).
        self.check_size("message to send", data.len())?;
        let payload_id = uuid::Uuid::new_v4().to_string();
        let suffix = v2_suffix(context_id, correlation_id, &self.remote.id, &payload_id);
        let signed_payload = SignedPayload::sign_with_suffix(
            &self.local,
            data.to_vec(),
            self.opts.hybrid,
            now,
            uuid::Uuid::new_v4().to_string(),
            &suffix,
        )?;
        let msg = ChannelMessage {
            signed_payload,
            context_id: context_id.to_string(),
            correlation_id: correlation_id.to_string(),
            channel_version: Some(CHANNEL_VERSION),
        };
        let plain = serde_json::to_vec(&msg)
            .map_err(|e| PqError::Format(format!("cannot serialise channel message: {e}")))?;
        self.seal(&plain, payload_id, now)
    }

    /// Check both keys' expiry, decrypt, verify the sender's signature, check the context,
    /// the time window and the nonce; return the data. A refused message does not consume
    /// its nonce.
    pub fn receive_signed(&self, sealed: &[u8], expected_context_id: &str) -> Result<Vec<u8>> {
        let now = self.now();
        let (s, plain) = self.open(sealed, now)?;
        let msg: ChannelMessage = crate::json_object::from_slice(&plain).map_err(|_| {
            PqError::Format(
                "message is not a signed channel message (sent with sendData? use receiveData)"
                    .into(),
            )
        })?;
        let p = &msg.signed_payload;
        let suffix = match msg.channel_version {
            Some(CHANNEL_VERSION) => v2_suffix(
                &msg.context_id,
                &msg.correlation_id,
                &s.recipient_key_id,
                &s.payload_id,
            ),
            None if self.opts.accept_v1 => Vec::new(),
            None => {
                return Err(PqError::SignatureInvalid(
                    "v1 signed message refused: its signature does not cover the context \
                     (enable accept_v1 to interoperate with v1 senders)"
                        .into(),
                ))
            }
            Some(v) => return Err(PqError::Format(format!("unsupported channel version {v}"))),
        };
        self.remote_verifier
            .verify_with_suffix(p, self.opts.hybrid, &suffix)?;
        if suffix.is_empty() {
            refuse_foreign_v1_data(&p.data)?;
        }
        if msg.context_id != expected_context_id {
            return Err(PqError::ContextMismatch(format!(
                "message is bound to context '{}', expected '{}'",
                excerpt(&msg.context_id),
                excerpt(expected_context_id)
            )));
        }
        let mut guard = self.replay.lock();
        guard.check(&p.nonce, p.signed_at, now)?;
        guard.record(&p.nonce, p.signed_at);
        Ok(msg.signed_payload.data)
    }
}

fn derive_key(kem_ss: &[u8], x_ss: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut ikm = zeroize::Zeroizing::new(Vec::with_capacity(kem_ss.len() + x_ss.len()));
    ikm.extend_from_slice(kem_ss);
    ikm.extend_from_slice(x_ss);
    hkdf_sha256(HKDF_SALT, &ikm, HKDF_INFO, 32)
}
