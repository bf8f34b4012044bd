//! After the evaluators: permit tokens, signing, the audit record, and the side effects of an
//! Invalidate (revoke locally, publish to the broadcaster).

use uuid::Uuid;

use crate::audit::{AuditRecord, AuditSink};
use crate::context::ActionContext;
use crate::verdict::{Decision, InvalidationScope, PermitToken, RefuseCode};

use crate::invalidation::revocations::MAX_REASON_BYTES;

use super::refusals::refuse;

pub fn permit_token(
    ctx: &ActionContext,
    evaluation_id: Uuid,
    now_secs: i64,
    ttl: i64,
) -> PermitToken {
    PermitToken {
        token_id: crate::ids::new_v4(),
        evaluation_id,
        issued_at: now_secs,
        expires_at: now_secs.saturating_add(ttl),
        action_name: ctx.action_name.clone(),
        signature: None,
        observe_only: false,
    }
}

/// `[CODE] reason` for refusals, the token id for permits, the scope for invalidations.
fn detail(decision: &Decision) -> String {
    match decision {
        Decision::Permit(t) => t.token_id.to_string(),
        Decision::Refuse(r) => format!("[{}] {}", r.code.as_str(), r.reason),
        Decision::Invalidate(s) => scope_text(s),
    }
}

/// The target id and the reason can carry a caller's text: the id is quoted as an excerpt and
/// the reason's control characters are escaped.
pub fn scope_text(s: &InvalidationScope) -> String {
    format!(
        "{} '{}': {}",
        s.target_kind.as_str(),
        kavach_text::excerpt(&s.target_id),
        kavach_text::clip(&s.reason, MAX_REASON_BYTES)
    )
}

/// The refusal of a permit whose signing fails: an unsigned permit is never handed out.
pub fn signing_failed(e: &str) -> Decision {
    refuse(
        RefuseCode::IdentityFailed,
        "identity",
        format!("permit signing failed: {e}"),
    )
}

/// The refusal of a permit the audit trail cannot record.
pub fn audit_failed(e: &str) -> Decision {
    refuse(
        RefuseCode::AuditFailed,
        "audit",
        format!("the audit trail could not record this permit, so it is withheld: {e}"),
    )
}

/// Records the decision. A permit whose record fails becomes a Refuse (`AUDIT_FAILED`): an
/// unaudited permit is never handed out. Other failures are reported and keep the verdict.
pub fn audit(
    sink: &dyn AuditSink,
    ctx: &ActionContext,
    evaluation_id: Uuid,
    decision: Decision,
    permitted_by: Option<&str>,
    observed: bool,
) -> Decision {
    let decided_by = match &decision {
        Decision::Permit(_) => permitted_by,
        Decision::Refuse(r) => Some(r.evaluator.as_str()),
        Decision::Invalidate(s) => Some(s.evaluator.as_str()),
    };
    let record = AuditRecord {
        evaluation_id: evaluation_id.to_string(),
        principal_id: &ctx.principal_id,
        action_name: &ctx.action_name,
        resource: ctx.resource.as_deref(),
        verdict: decision.kind(),
        detail: detail(&decision),
        decided_by,
        session_id: ctx.session_id.as_deref(),
        ip: ctx.ip.as_deref(),
        observed,
    };
    match sink.record(&record) {
        Ok(()) => decision,
        Err(e) if decision.is_permit() => audit_failed(&e),
        Err(e) => {
            eprintln!(
                "kavach: audit record for {} verdict {evaluation_id} failed: {e}",
                decision.kind()
            );
            decision
        }
    }
}
