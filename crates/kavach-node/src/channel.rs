//! `SecureChannel` for JS: ML-KEM-768 + X25519 → HKDF → ChaCha20-Poly1305 to one remote
//! identity, with signed messages in channel format v2 (see kavach-pq `channel::secure`).

use kavach_pq::channel as pq;
use kavach_pq::chrono::{DateTime, Duration, Utc};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error::{invalid_argument, Result};
use crate::keypair::{KavachKeyPair, PqResultExt, PublicKeyBundle};

/// Options of `new SecureChannel(localKp, remoteBundle, options?)`.
#[napi(object, object_to_js = false)]
pub struct SecureChannelOptions {
    /// Sign hybrid and require hybrid signatures and the X25519 leg on receipt. @default true
    pub hybrid: Option<bool>,
    /// Oldest accepted signing time, seconds before now. @default 300
    pub replay_window_seconds: Option<f64>,
    /// Newest accepted signing time, seconds after now (clock skew). @default 30
    pub max_future_skew_seconds: Option<f64>,
    /// Hard cap on remembered nonces (an integer, 1 … 16777216); when full, new messages are
    /// refused. @default 1048576
    pub max_tracked_nonces: Option<f64>,
    /// Also accept v1 signed messages (signature not bound to the context). @default false
    pub accept_v1: Option<bool>,
    /// Largest sealed message sent or received, in bytes (an integer, 1 … 2^30); checked
    /// before any decoding, decryption or signature work. @default 4194304
    pub max_message_bytes: Option<f64>,
}

/// Upper bound of `maxMessageBytes` (1 GiB).
const MAX_MESSAGE_BYTES_CAP: f64 = 1_073_741_824.0;

fn message_bytes(v: f64) -> Result<usize> {
    if !(v.fract() == 0.0 && (1.0..=MAX_MESSAGE_BYTES_CAP).contains(&v)) {
        return Err(invalid_argument(format!(
            "maxMessageBytes must be an integer from 1 to {MAX_MESSAGE_BYTES_CAP}, got {v}"
        )));
    }
    // A whole number in 1..=2^30 (checked above): exact as a usize.
    Ok(v as usize)
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if !(v.is_finite() && (0.0..=1.0e9).contains(&v)) {
        return Err(invalid_argument(format!(
            "{name} must be a finite number of seconds >= 0, got {v}"
        )));
    }
    // At most 1e12 (bounded above): exact as an i64.
    let ms = (v * 1000.0).round() as i64;
    Ok(Duration::milliseconds(ms))
}

/// An encrypted, signed, replay-protected channel from a local key pair to a remote bundle.
/// Every send and receive checks that neither key has expired (`KEY_EXPIRED`), so a channel
/// built while a key was valid stops using it when it expires.
#[napi]
pub struct SecureChannel {
    inner: pq::SecureChannel,
}

#[napi]
impl SecureChannel {
    #[napi(catch_unwind, constructor)]
    pub fn new(
        local_kp: &KavachKeyPair,
        remote_bundle: &PublicKeyBundle,
        options: Option<SecureChannelOptions>,
    ) -> Result<Self> {
        let mut o = pq::ChannelOptions::default();
        if let Some(opts) = options {
            if let Some(h) = opts.hybrid {
                o.hybrid = h;
            }
            if let Some(w) = opts.replay_window_seconds {
                o.replay_window = seconds("replayWindowSeconds", w)?;
            }
            if let Some(s) = opts.max_future_skew_seconds {
                o.max_future_skew = seconds("maxFutureSkewSeconds", s)?;
            }
            if let Some(n) = opts.max_tracked_nonces {
                o.max_tracked_nonces =
                    crate::options::whole_in("maxTrackedNonces", n, 1, 1 << 24)? as usize;
            }
            if let Some(v1) = opts.accept_v1 {
                o.accept_v1 = v1;
            }
            if let Some(m) = opts.max_message_bytes {
                o.max_message_bytes = message_bytes(m)?;
            }
        }
        Ok(Self {
            inner: pq::SecureChannel::new(local_kp.as_pq(), remote_bundle.as_pq().clone(), o)
                .pq()?,
        })
    }

    #[napi(catch_unwind, getter)]
    pub fn local_key_id(&self) -> String {
        self.inner.local_key_id().to_string()
    }

    #[napi(catch_unwind, getter)]
    pub fn remote_key_id(&self) -> String {
        self.inner.remote_key_id().to_string()
    }

    /// Nonces currently remembered by the replay guard (bounded by the window).
    #[napi(catch_unwind, getter)]
    pub fn tracked_nonces(&self) -> u32 {
        u32::try_from(self.inner.tracked_nonces()).unwrap_or(u32::MAX)
    }

    /// Sign `data` bound to `contextId` and `correlationId`, and encrypt it to the remote.
    #[napi(catch_unwind)]
    pub fn send_signed(
        &self,
        data: Buffer,
        context_id: String,
        correlation_id: String,
    ) -> Result<Buffer> {
        Ok(self
            .inner
            .send_signed(&data, &context_id, &correlation_id)
            .pq()?
            .into())
    }

    /// Decrypt, verify the sender's signature and context, refuse replays and messages outside
    /// the time window; returns the data.
    #[napi(catch_unwind)]
    pub fn receive_signed(&self, sealed: Buffer, expected_context_id: String) -> Result<Buffer> {
        Ok(self
            .inner
            .receive_signed(&sealed, &expected_context_id)
            .pq()?
            .into())
    }

    /// Encrypt raw bytes (no signature, no replay protection).
    #[napi(catch_unwind)]
    pub fn send_data(&self, data: Buffer) -> Result<Buffer> {
        Ok(self.inner.send_data(&data).pq()?.into())
    }

    /// Decrypt raw bytes addressed to us.
    #[napi(catch_unwind)]
    pub fn receive_data(&self, sealed: Buffer) -> Result<Buffer> {
        Ok(self.inner.receive_data(&sealed).pq()?.into())
    }

    /// TESTING ONLY: pin the channel's clock (signing time, window and key expiry checks) to
    /// `unixMs`, or `null` to return to the system clock. Not part of the stable API.
    #[napi(catch_unwind)]
    pub fn set_clock_for_testing(&self, unix_ms: Option<f64>) -> Result<()> {
        let now = match unix_ms {
            None => None,
            Some(ms) if ms.is_finite() => {
                // Finite; `as` saturates, and an out-of-range time is rejected below.
                let ms = ms.round() as i64;
                Some(
                    DateTime::<Utc>::from_timestamp_millis(ms)
                        .ok_or_else(|| invalid_argument(format!("unixMs {ms} is out of range")))?,
                )
            }
            Some(ms) => return Err(invalid_argument(format!("unixMs must be finite, got {ms}"))),
        };
        self.inner.set_clock_for_testing(now);
        Ok(())
    }
}
