//! `PqTokenSigner` for JS, and its adapter to the gate's `PermitSigner` hook.

use std::sync::Arc;

use kavach_core::signing::PermitSigner;
use kavach_core::PermitToken;
use kavach_pq::TokenFields;
use napi::bindgen_prelude::{
    Buffer, ClassInstance, FromNapiValue, TypeName, Unknown, ValidateNapiValue,
};
use napi::{sys, JsValue, ValueType};
use napi_derive::napi;

use crate::error::Result;
use crate::keypair::{KavachKeyPair, PqResultExt};

/// The token fields a signature covers. A verdict's `permitToken` can be passed as is.
#[napi(object, object_to_js = false)]
pub struct PermitTokenInput {
    pub token_id: String,
    pub evaluation_id: String,
    /// Whole unix seconds (a fraction is an error: sub-second precision is not signed).
    pub issued_at: f64,
    /// Whole unix seconds.
    pub expires_at: f64,
    pub action_name: String,
    /// Ignored: a verdict's `permitToken` carries one, and the earlier SDK's input has
    /// `signature: null` before signing. `verify` takes the signature as its own argument.
    #[napi(ts_type = "Buffer | null")]
    pub signature: Option<Ignored>,
    /// Present on `verdict.permitToken`; must be absent or `false`, since observe-only
    /// permits are never signed and the flag is not in the signed bytes.
    pub observe_only: Option<bool>,
}

/// A field read as any value and never looked at (`PermitTokenInput.signature`).
pub struct Ignored;

impl TypeName for Ignored {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for Ignored {}

impl FromNapiValue for Ignored {
    unsafe fn from_napi_value(_env: sys::napi_env, _value: sys::napi_value) -> napi::Result<Self> {
        Ok(Self)
    }
}

/// Fractional times and `observeOnly: true` are refused by [`TokenFields::from_js`]: neither
/// is in the signed bytes, so accepting them would verify a different token.
pub(crate) fn token_fields(t: &PermitTokenInput) -> Result<TokenFields> {
    TokenFields::from_js(
        &t.token_id,
        &t.evaluation_id,
        t.issued_at,
        t.expires_at,
        t.action_name.clone(),
        t.observe_only,
    )
    .pq()
}

/// Signs permit tokens with ML-DSA-65 (and Ed25519 in hybrid mode); verifies them in the same
/// mode only (downgrade defence). Built without signing keys it is a verifier only.
#[napi]
pub struct PqTokenSigner {
    inner: Arc<kavach_pq::PqTokenSigner>,
}

impl PqTokenSigner {
    fn wrap(s: kavach_pq::PqTokenSigner) -> Self {
        Self { inner: Arc::new(s) }
    }

    /// The gate's signing hook.
    pub(crate) fn as_core(&self) -> Arc<dyn PermitSigner> {
        Arc::new(CoreSigner(self.inner.clone()))
    }
}

#[napi]
impl PqTokenSigner {
    /// A new random identity, hybrid (ML-DSA-65 + Ed25519).
    #[napi(catch_unwind, factory)]
    pub fn generate_hybrid() -> Result<Self> {
        Ok(Self::wrap(
            kavach_pq::PqTokenSigner::generate_hybrid().pq()?,
        ))
    }

    /// A new random identity, ML-DSA-65 only.
    #[napi(catch_unwind, factory)]
    pub fn generate_pq_only() -> Result<Self> {
        Ok(Self::wrap(
            kavach_pq::PqTokenSigner::generate_pq_only().pq()?,
        ))
    }

    /// Hybrid signer with the key pair's keys, id and expiry: once the key pair has expired,
    /// `sign` throws `KEY_EXPIRED` (and a gate using it refuses with `IDENTITY_FAILED`).
    #[napi(catch_unwind, factory)]
    pub fn from_keypair_hybrid(kp: &KavachKeyPair) -> Self {
        Self::wrap(kavach_pq::PqTokenSigner::from_keypair_hybrid(&kp.inner))
    }

    /// ML-DSA-65-only signer with the key pair's key, id and expiry (see `fromKeypairHybrid`).
    #[napi(catch_unwind, factory)]
    pub fn from_keypair_pq_only(kp: &KavachKeyPair) -> Self {
        Self::wrap(kavach_pq::PqTokenSigner::from_keypair_pq_only(&kp.inner))
    }

    /// Hybrid signer from raw bytes: ML-DSA-65 seed (32 B) + verifying key (1952 B), Ed25519
    /// seed (32 B) + verifying key (32 B). Empty signing keys = verifier only.
    #[napi(catch_unwind, factory)]
    pub fn hybrid(
        ml_dsa_sk: Buffer,
        ml_dsa_vk: Buffer,
        ed_sk: Buffer,
        ed_vk: Buffer,
        key_id: String,
    ) -> Result<Self> {
        Ok(Self::wrap(
            kavach_pq::PqTokenSigner::hybrid(&ml_dsa_sk, &ml_dsa_vk, &ed_sk, &ed_vk, key_id)
                .pq()?,
        ))
    }

    /// Alias of `hybrid`.
    #[napi(catch_unwind, factory)]
    pub fn hybrid_from_bytes(
        ml_dsa_sk: Buffer,
        ml_dsa_vk: Buffer,
        ed_sk: Buffer,
        ed_vk: Buffer,
        key_id: String,
    ) -> Result<Self> {
        Self::hybrid(ml_dsa_sk, ml_dsa_vk, ed_sk, ed_vk, key_id)
    }

    /// ML-DSA-65-only signer from raw bytes: seed (32 B, or empty = verifier only) +
    /// verifying key (1952 B).
    #[napi(catch_unwind, factory)]
    pub fn pq_only(ml_dsa_sk: Buffer, ml_dsa_vk: Buffer, key_id: String) -> Result<Self> {
        Ok(Self::wrap(
            kavach_pq::PqTokenSigner::pq_only(&ml_dsa_sk, &ml_dsa_vk, key_id).pq()?,
        ))
    }

    #[napi(catch_unwind, getter)]
    pub fn key_id(&self) -> String {
        self.inner.key_id().to_string()
    }

    #[napi(catch_unwind, getter)]
    pub fn is_hybrid(&self) -> bool {
        self.inner.is_hybrid()
    }

    /// False for a verifier-only signer.
    #[napi(catch_unwind, getter)]
    pub fn can_sign(&self) -> bool {
        self.inner.can_sign()
    }

    /// The signature envelope (JSON bytes) over the token's canonical bytes. `tokenId` and
    /// `evaluationId` must be canonical UUIDs (lowercase, hyphenated), as the gate issues them.
    #[napi(catch_unwind)]
    pub fn sign(&self, token: PermitTokenInput) -> Result<Buffer> {
        Ok(self.inner.sign(&token_fields(&token)?).pq()?.into())
    }

    /// Throws unless `signature` is a valid envelope of this signer's mode and key over `token`.
    #[napi(catch_unwind)]
    pub fn verify(&self, token: PermitTokenInput, signature: Buffer) -> Result<()> {
        self.inner.verify(&token_fields(&token)?, &signature).pq()
    }
}

struct CoreSigner(Arc<kavach_pq::PqTokenSigner>);

impl PermitSigner for CoreSigner {
    fn sign(&self, t: &PermitToken) -> std::result::Result<Vec<u8>, String> {
        let fields = TokenFields {
            token_id: t.token_id,
            evaluation_id: t.evaluation_id,
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            action_name: t.action_name.clone(),
        };
        crate::blocking::off_worker(|| self.0.sign(&fields)).map_err(|e| e.to_string())
    }

    fn ready(&self) -> std::result::Result<(), String> {
        self.0.check_can_sign().map_err(|e| e.to_string())
    }
}

/// A `PqTokenSigner` instance from JS as the gate's signing hook; `None` when `value` is not one.
pub(crate) fn core_signer(value: Unknown<'_>) -> Option<Arc<dyn PermitSigner>> {
    let (env, raw) = (value.value().env, value.raw());
    // SAFETY: `env`/`raw` come from a live `Unknown` on the JS thread; `from_napi_value`
    // checks the napi type tag before unwrapping, so a wrong object is an `Err`, not UB.
    let signer = unsafe { ClassInstance::<PqTokenSigner>::from_napi_value(env, raw) }.ok()?;
    Some(signer.as_core())
}
