//! The verdict record handed to JS: built once from `kavach_core::Verdict`, plain data.

use kavach_core::{Decision, PermitToken};
use napi::bindgen_prelude::{Array, Buffer};
use napi::Env;
use napi_derive::napi;

use crate::layout::layout_consts;

/// A permit's token. Times are unix seconds.
#[napi(object, object_from_js = false)]
pub struct PermitTokenView {
    pub token_id: String,
    pub evaluation_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub action_name: String,
    /// The signed envelope bytes, when the gate has a token signer.
    pub signature: Option<Buffer>,
    /// True on observe-only gates: the permit was forced, not earned (never signed).
    pub observe_only: bool,
}

/// What an Invalidate revoked.
#[napi(object, object_from_js = false)]
pub struct ScopeView {
    #[napi(ts_type = "'session' | 'principal' | 'role'")]
    pub target_kind: String,
    pub target_id: String,
    pub reason: String,
    pub evaluator: String,
}

/// The would-be verdict of an observe-only gate (a verdict without `observed`).
#[napi(object, object_from_js = false)]
pub struct ObservedVerdict {
    #[napi(ts_type = "'permit' | 'refuse' | 'invalidate'")]
    pub kind: String,
    pub is_permit: bool,
    pub is_refuse: bool,
    pub is_invalidate: bool,
    #[napi(
        ts_type = "'NO_POLICY_MATCH' | 'POLICY_DENIED' | 'RATE_LIMIT_EXCEEDED' | 'INVARIANT_VIOLATION' | 'DRIFT_DETECTED' | 'SESSION_INVALID' | 'IDENTITY_FAILED' | 'STORE_UNAVAILABLE' | 'AUDIT_FAILED' | 'INVALID_CONTEXT'"
    )]
    pub code: Option<String>,
    pub evaluator: Option<String>,
    pub reason: Option<String>,
    pub token_id: Option<String>,
    pub permit_token: Option<PermitTokenView>,
    pub signature: Option<Buffer>,
    pub scope: Option<ScopeView>,
}

/// The gate's answer as the TS `Verdict` type (src/verdict.ts builds it from the raw and
/// fast-path encodings; `explain` returns it as a record). A Refuse is data, not an
/// exception (`check()` throws).
#[napi(object, object_from_js = false)]
pub struct Verdict {
    #[napi(ts_type = "'permit' | 'refuse' | 'invalidate'")]
    pub kind: String,
    pub is_permit: bool,
    pub is_refuse: bool,
    pub is_invalidate: bool,
    /// Refuse: the stable refuse code (`NO_POLICY_MATCH`, `POLICY_DENIED`, ...); invalidate:
    /// `SESSION_INVALID`.
    #[napi(
        ts_type = "'NO_POLICY_MATCH' | 'POLICY_DENIED' | 'RATE_LIMIT_EXCEEDED' | 'INVARIANT_VIOLATION' | 'DRIFT_DETECTED' | 'SESSION_INVALID' | 'IDENTITY_FAILED' | 'STORE_UNAVAILABLE' | 'AUDIT_FAILED' | 'INVALID_CONTEXT'"
    )]
    pub code: Option<String>,
    /// Refuse / invalidate: the evaluator that decided (`policy`, `drift`, `invariants`, ...).
    pub evaluator: Option<String>,
    /// Refuse / invalidate: human-readable, names the policy / invariant / detector.
    pub reason: Option<String>,
    /// Permit: the token id.
    pub token_id: Option<String>,
    pub permit_token: Option<PermitTokenView>,
    /// Permit with a signer: the signed envelope bytes.
    pub signature: Option<Buffer>,
    /// Invalidate: what was revoked.
    pub scope: Option<ScopeView>,
    pub evaluation_id: String,
    /// Observe-only gates: what the gate would have answered.
    pub observed: Option<ObservedVerdict>,
}

/// The decision as a record (the whole verdict but its evaluation id and `observed`).
impl From<Decision> for ObservedVerdict {
    fn from(decision: Decision) -> Self {
        let d = DecisionParts::from(decision);
        let signature = d
            .permit_token
            .as_ref()
            .and_then(|t| t.signature.as_ref())
            .map(|b| Buffer::from(b.to_vec()));
        ObservedVerdict {
            kind: d.kind.into(),
            is_permit: d.kind == "permit",
            is_refuse: d.kind == "refuse",
            is_invalidate: d.kind == "invalidate",
            code: d.code,
            evaluator: d.evaluator,
            reason: d.reason,
            token_id: d.permit_token.as_ref().map(|t| t.token_id.clone()),
            signature,
            permit_token: d.permit_token,
            scope: d.scope,
        }
    }
}

impl From<kavach_core::Verdict> for Verdict {
    fn from(v: kavach_core::Verdict) -> Self {
        let d = ObservedVerdict::from(v.decision);
        Verdict {
            kind: d.kind,
            is_permit: d.is_permit,
            is_refuse: d.is_refuse,
            is_invalidate: d.is_invalidate,
            code: d.code,
            evaluator: d.evaluator,
            reason: d.reason,
            token_id: d.token_id,
            permit_token: d.permit_token,
            signature: d.signature,
            scope: d.scope,
            evaluation_id: v.evaluation_id.to_string(),
            observed: v.observed.map(|o| ObservedVerdict::from(*o)),
        }
    }
}

/// The fields shared by a verdict and its observed twin.
struct DecisionParts {
    kind: &'static str,
    code: Option<String>,
    evaluator: Option<String>,
    reason: Option<String>,
    permit_token: Option<PermitTokenView>,
    scope: Option<ScopeView>,
}

impl From<Decision> for DecisionParts {
    fn from(d: Decision) -> Self {
        let kind = d.kind();
        match d {
            Decision::Permit(t) => DecisionParts {
                kind,
                code: None,
                evaluator: None,
                reason: None,
                permit_token: Some(token_view(t)),
                scope: None,
            },
            Decision::Refuse(r) => DecisionParts {
                kind,
                code: Some(r.code.as_str().into()),
                evaluator: Some(r.evaluator),
                reason: Some(r.reason),
                permit_token: None,
                scope: None,
            },
            Decision::Invalidate(s) => DecisionParts {
                kind,
                code: Some(kavach_core::RefuseCode::SessionInvalid.as_str().into()),
                evaluator: Some(s.evaluator.clone()),
                reason: Some(s.reason.clone()),
                permit_token: None,
                scope: Some(ScopeView {
                    target_kind: s.target_kind.as_str().into(),
                    target_id: s.target_id,
                    reason: s.reason,
                    evaluator: s.evaluator,
                }),
            },
        }
    }
}

fn token_view(t: PermitToken) -> PermitTokenView {
    PermitTokenView {
        token_id: t.token_id.to_string(),
        evaluation_id: t.evaluation_id.to_string(),
        issued_at: t.issued_at,
        expires_at: t.expires_at,
        action_name: t.action_name,
        signature: t.signature.map(Buffer::from),
        observe_only: t.observe_only,
    }
}

layout_consts! {
    /// The verdict kinds, in the `KIND` slot of every encoding.
    pub mod kind: u32 {
        PERMIT = 0;
        REFUSE = 1;
        INVALIDATE = 2;
    }
}

layout_consts! {
    /// Positions in the flat array `Gate.evaluateRaw` returns (rendered by `layout.rs`).
    /// An array of scalars is several times cheaper to build over N-API than a nested object
    /// (no property-name strings, no hidden-class transitions); the TS layer turns it into a
    /// `Verdict` object literal, which the JIT builds almost for free.
    pub mod raw: u32 {
        /// A [`super::kind`].
        KIND = 0;
        EVALUATION_ID = 1;
        CODE = 2;
        EVALUATOR = 3;
        REASON = 4;
        TOKEN_ID = 5;
        /// Only when it differs from the verdict's evaluation id.
        TOKEN_EVALUATION_ID = 6;
        ISSUED_AT = 7;
        EXPIRES_AT = 8;
        ACTION_NAME = 9;
        SIGNATURE = 10;
        OBSERVE_ONLY = 11;
        SCOPE_KIND = 12;
        SCOPE_TARGET = 13;
        OBSERVED = 14;
        LEN = 15;
    }
}

/// The verdict as the flat array described in [`raw`].
pub fn to_raw(env: &Env, v: kavach_core::Verdict) -> napi::Result<Array<'_>> {
    let evaluation_id = v.evaluation_id.to_string();
    let mut a = decision_raw(env, v.decision, &evaluation_id)?;
    a.set(raw::EVALUATION_ID, evaluation_id.as_str())?;
    if let Some(o) = v.observed {
        let observed = decision_raw(env, *o, &evaluation_id)?;
        a.set(raw::OBSERVED, observed)?;
    }
    Ok(a)
}

fn decision_raw<'env>(
    env: &'env Env,
    d: Decision,
    evaluation_id: &str,
) -> napi::Result<Array<'env>> {
    let mut a = env.create_array(raw::LEN)?;
    match d {
        Decision::Permit(t) => {
            a.set(raw::KIND, kind::PERMIT)?;
            a.set(raw::TOKEN_ID, t.token_id.to_string())?;
            let token_eval = t.evaluation_id.to_string();
            if token_eval != evaluation_id {
                a.set(raw::TOKEN_EVALUATION_ID, token_eval)?;
            }
            a.set(raw::ISSUED_AT, t.issued_at)?;
            a.set(raw::EXPIRES_AT, t.expires_at)?;
            a.set(raw::ACTION_NAME, t.action_name)?;
            if let Some(sig) = t.signature {
                a.set(raw::SIGNATURE, Buffer::from(sig))?;
            }
            a.set(raw::OBSERVE_ONLY, t.observe_only)?;
        }
        Decision::Refuse(r) => {
            a.set(raw::KIND, kind::REFUSE)?;
            a.set(raw::CODE, r.code.as_str())?;
            a.set(raw::EVALUATOR, r.evaluator)?;
            a.set(raw::REASON, r.reason)?;
        }
        Decision::Invalidate(s) => {
            a.set(raw::KIND, kind::INVALIDATE)?;
            a.set(raw::CODE, kavach_core::RefuseCode::SessionInvalid.as_str())?;
            a.set(raw::EVALUATOR, s.evaluator)?;
            a.set(raw::REASON, s.reason)?;
            a.set(raw::SCOPE_KIND, s.target_kind.as_str())?;
            a.set(raw::SCOPE_TARGET, s.target_id)?;
        }
    }
    Ok(a)
}

layout_consts! {
    /// Positions of the fast path's numeric outputs in the scratch array (rendered by
    /// `layout.rs`). The strings come back as one string: the evaluation id (36 characters),
    /// then per kind the pieces below, split by the lengths (UTF-16 code units) given here.
    pub mod fast_out: usize {
        /// A [`super::kind`].
        KIND = 0;
        /// Permit: then the token id (36 characters).
        ISSUED_AT = 1;
        EXPIRES_AT = 2;
        OBSERVE_ONLY = 3;
        /// Refuse: the code's position in `RefuseCode::ALL`; then evaluator, reason.
        CODE = 1;
        /// Refuse / invalidate.
        EVALUATOR_LEN = 2;
        /// Invalidate: the scope kind's position in `ScopeKind::ALL`; then evaluator, reason,
        /// scope target.
        REASON_LEN = 3;
        SCOPE_KIND = 4;
        /// Slots in use.
        LEN = 5;
    }
}

/// A refuse code's number: its position in `RefuseCode::ALL`, which is its discriminant.
fn code_index(c: kavach_core::RefuseCode) -> f64 {
    f64::from(c as u8)
}

fn utf16_len(s: &str) -> f64 {
    let n = if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    };
    // Strings this long do not exist in JS (max length 2^29-24 or so); exact in f64.
    n as f64
}

/// Whether [`write_fast`] can carry this verdict (no observed twin, no signature, a token
/// for this very evaluation and action): else the caller uses [`to_raw`]. The TS layer names
/// a fast permit's action with the string it sent, which is the token's (the context's, in
/// NFC) only when normalization changed nothing: certain for ASCII, so other names take the
/// raw form, which carries the token's own.
pub fn fits_fast(v: &kavach_core::Verdict, action_name: &str) -> bool {
    fits_batch(v)
        && match &v.decision {
            Decision::Permit(t) => t.action_name == action_name && action_name.is_ascii(),
            Decision::Refuse(_) | Decision::Invalidate(_) => true,
        }
}

/// Whether [`write_fast_with`] can carry this verdict in a batch (`dispatch.rs`), where the
/// permit's action name travels in the text: no observed twin, no signature, a token for this
/// very evaluation.
pub fn fits_batch(v: &kavach_core::Verdict) -> bool {
    v.observed.is_none()
        && match &v.decision {
            Decision::Permit(t) => t.signature.is_none() && t.evaluation_id == v.evaluation_id,
            Decision::Refuse(_) | Decision::Invalidate(_) => true,
        }
}

/// The verdict as numbers in `scratch` plus one string, written into `out` (layout in
/// [`fast_out`]). Only for verdicts [`fits_fast`] accepts; it drops the fields that check
/// found redundant.
pub fn write_fast(
    v: kavach_core::Verdict,
    scratch: &crate::context::ScratchView<'_>,
    out: &mut String,
) {
    write_fast_with(v, |i, x| scratch.set(i, x), false, out);
}

/// [`write_fast`] with the numbers going to `set(position, value)`; with `permit_action`, a
/// permit's text ends with its action name (for batches, where JS does not know it). `out` is
/// cleared first; the caller may reuse one buffer for every verdict.
pub fn write_fast_with(
    v: kavach_core::Verdict,
    mut set: impl FnMut(usize, f64),
    permit_action: bool,
    out: &mut String,
) {
    out.clear();
    let mut uuid = uuid_buf();
    out.push_str(v.evaluation_id.hyphenated().encode_lower(&mut uuid));
    match v.decision {
        Decision::Permit(t) => {
            set(fast_out::KIND, f64::from(kind::PERMIT));
            {
                set(fast_out::ISSUED_AT, t.issued_at as f64);
                set(fast_out::EXPIRES_AT, t.expires_at as f64);
            }
            set(fast_out::OBSERVE_ONLY, f64::from(u8::from(t.observe_only)));
            out.push_str(t.token_id.hyphenated().encode_lower(&mut uuid));
            if permit_action {
                out.push_str(&t.action_name);
            }
        }
        Decision::Refuse(r) => {
            set(fast_out::KIND, f64::from(kind::REFUSE));
            set(fast_out::CODE, code_index(r.code));
            set(fast_out::EVALUATOR_LEN, utf16_len(&r.evaluator));
            out.push_str(&r.evaluator);
            out.push_str(&r.reason);
        }
        Decision::Invalidate(s) => {
            set(fast_out::KIND, f64::from(kind::INVALIDATE));
            set(fast_out::EVALUATOR_LEN, utf16_len(&s.evaluator));
            set(fast_out::REASON_LEN, utf16_len(&s.reason));
            set(fast_out::SCOPE_KIND, f64::from(s.target_kind as u8));
            out.push_str(&s.evaluator);
            out.push_str(&s.reason);
            out.push_str(&s.target_id);
        }
    }
}

fn uuid_buf() -> [u8; 45] {
    [0; 45]
}
