//! Bounded list of revocations a gate has issued or heard (session, principal, role scopes).
//! STUB: the drift/invalidation work implements it; the gate pipeline calls these methods.

use crate::context::ActionContext;
use crate::verdict::{InvalidationScope, ScopeKind};

#[derive(Debug, Default)]
pub struct RevocationList {}

impl RevocationList {
    /// `ttl_seconds` applies to principal and role scopes; session scopes last as long as
    /// `session_ttl_seconds` (sessions expire anyway).
    pub fn new(_ttl_seconds: i64) -> Self {
        Self {}
    }
    /// Remember a scope (issued here or heard from a broadcaster) at `now_ms`.
    pub fn revoke(&self, _scope: &InvalidationScope, _now_ms: i64) {}
    /// `Some(reason)` when the context's session, principal or one of its roles is revoked.
    pub fn check(&self, _ctx: &ActionContext, _now_ms: i64) -> Option<String> {
        None
    }
    /// Undo a revocation (`gate.lift`).
    pub fn lift(&self, _kind: ScopeKind, _target_id: &str) {}
}
