//! `gate.native.recordUnevaluated(v)`: a verdict an integration reached without evaluating (no
//! caller, `identify` failed, its session store failed or revoked the session), recorded by
//! the core as the gate's own (`kavach_core::gate::unevaluated`) and returned in the
//! `evaluateRaw` layout. Used by src/integrations/unevaluated.ts.

use kavach_core::verdict::{InvalidationScope, Refusal, RefuseCode, ScopeKind};
use kavach_core::{ActionContext, PrincipalKind, UNIDENTIFIED_PRINCIPAL};
use napi::bindgen_prelude::Array;
use napi::Env;
use napi_derive::napi;

use super::Gate;
use crate::error::{codes, invalid_argument, to_js, Result};
use crate::verdict::to_raw;

/// What an integration knew of a call it answered without evaluating, and its answer.
#[napi(object, object_to_js = false)]
pub struct UnevaluatedVerdict {
    /// A refusal's code; absent for an invalidation (whose code is `SESSION_INVALID`).
    pub code: Option<String>,
    pub evaluator: String,
    pub reason: String,
    /// An invalidation: the session the integration's store revoked.
    pub revoked_session_id: Option<String>,
    /// Absent when nobody identified the caller (the audit trail then names
    /// `(unidentified)`).
    pub principal_id: Option<String>,
    pub action_name: String,
    pub resource: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
}

#[napi]
impl Gate {
    /// Records `v` as a verdict of this gate (audited when the gate has an audit sink) and
    /// returns it in the `evaluateRaw` layout. For the integrations of this package.
    #[napi(catch_unwind, ts_return_type = "ReturnType<Gate['evaluateRaw']>")]
    pub fn record_unevaluated<'env>(
        &self,
        env: &'env Env,
        v: UnevaluatedVerdict,
    ) -> Result<Array<'env>> {
        if v.action_name.is_empty() || v.evaluator.is_empty() {
            return Err(invalid_argument(
                "recordUnevaluated: actionName and evaluator must be non-empty",
            ));
        }
        let principal = v
            .principal_id
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| UNIDENTIFIED_PRINCIPAL.to_string());
        // The audit trail does not record the kind; a caller the integration could not
        // identify is outside the application, whatever it claimed.
        let mut about = ActionContext::new(principal, PrincipalKind::External, v.action_name);
        about.resource = v.resource;
        about.session_id = v.session_id;
        about.ip = v.ip;
        let verdict = match (v.code, v.revoked_session_id) {
            (Some(code), None) => {
                let code = RefuseCode::ALL
                    .into_iter()
                    .find(|c| c.as_str() == code)
                    .ok_or_else(|| {
                        invalid_argument(format!("recordUnevaluated: unknown refuse code '{code}'"))
                    })?;
                let refusal = Refusal {
                    code,
                    evaluator: v.evaluator,
                    reason: v.reason,
                };
                self.inner.refuse_unevaluated(&about, refusal)
            }
            (None, Some(target_id)) if !target_id.is_empty() => {
                let scope = InvalidationScope {
                    target_kind: ScopeKind::Session,
                    target_id,
                    reason: v.reason,
                    evaluator: v.evaluator,
                };
                self.inner.invalidate_unevaluated(&about, scope)
            }
            _ => {
                return Err(invalid_argument(
                    "recordUnevaluated: give either a refuse code or a revoked session id",
                ))
            }
        };
        to_raw(env, verdict).map_err(|e| to_js(codes::INTERNAL, e.reason))
    }
}
