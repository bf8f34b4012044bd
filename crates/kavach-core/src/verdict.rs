//! Verdicts are data: Permit (with a short-lived token), Refuse (code, evaluator, reason) or
//! Invalidate (blocked, and a scope revoked).

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefuseCode {
    NoPolicyMatch,
    PolicyDenied,
    RateLimitExceeded,
    InvariantViolation,
    DriftDetected,
    SessionInvalid,
    IdentityFailed,
    StoreUnavailable,
    AuditFailed,
    InvalidContext,
}

impl RefuseCode {
    /// Every code, in declaration order: a code's position is its discriminant (checked below),
    /// the number the binding's fast path sends for it.
    pub const ALL: [RefuseCode; 10] = [
        RefuseCode::NoPolicyMatch,
        RefuseCode::PolicyDenied,
        RefuseCode::RateLimitExceeded,
        RefuseCode::InvariantViolation,
        RefuseCode::DriftDetected,
        RefuseCode::SessionInvalid,
        RefuseCode::IdentityFailed,
        RefuseCode::StoreUnavailable,
        RefuseCode::AuditFailed,
        RefuseCode::InvalidContext,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RefuseCode::NoPolicyMatch => "NO_POLICY_MATCH",
            RefuseCode::PolicyDenied => "POLICY_DENIED",
            RefuseCode::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            RefuseCode::InvariantViolation => "INVARIANT_VIOLATION",
            RefuseCode::DriftDetected => "DRIFT_DETECTED",
            RefuseCode::SessionInvalid => "SESSION_INVALID",
            RefuseCode::IdentityFailed => "IDENTITY_FAILED",
            RefuseCode::StoreUnavailable => "STORE_UNAVAILABLE",
            RefuseCode::AuditFailed => "AUDIT_FAILED",
            RefuseCode::InvalidContext => "INVALID_CONTEXT",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: RefuseCode,
    /// Which evaluator decided: `policy`, `drift`, `invariants`, `gate`, `session_store`, ...
    pub evaluator: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Session,
    Principal,
    Role,
}

impl ScopeKind {
    /// Every kind, in declaration order (a kind's position is its discriminant, checked below).
    pub const ALL: [ScopeKind; 3] = [ScopeKind::Session, ScopeKind::Principal, ScopeKind::Role];

    pub const fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Session => "session",
            ScopeKind::Principal => "principal",
            ScopeKind::Role => "role",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

// `ALL` lists each enum in declaration order, so a value's position is its discriminant.
const _: () = {
    let mut i = 0;
    while i < RefuseCode::ALL.len() {
        assert!(RefuseCode::ALL[i] as usize == i);
        i += 1;
    }
    let mut k = 0;
    while k < ScopeKind::ALL.len() {
        assert!(ScopeKind::ALL[k] as usize == k);
        k += 1;
    }
};

/// What an Invalidate revokes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationScope {
    pub target_kind: ScopeKind,
    pub target_id: String,
    pub reason: String,
    pub evaluator: String,
}

/// The token a Permit carries. Times are unix seconds (the signed precision, see FORMATS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct PermitToken {
    pub token_id: Uuid,
    pub evaluation_id: Uuid,
    pub issued_at: i64,
    pub expires_at: i64,
    pub action_name: String,
    /// The signature envelope bytes when the gate has a token signer.
    pub signature: Option<Vec<u8>>,
    /// True on observe-only gates: the permit was forced, not earned; such tokens are unsigned.
    pub observe_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Permit(PermitToken),
    Refuse(Refusal),
    Invalidate(InvalidationScope),
}

impl Decision {
    pub const fn kind(&self) -> &'static str {
        match self {
            Decision::Permit(_) => "permit",
            Decision::Refuse(_) => "refuse",
            Decision::Invalidate(_) => "invalidate",
        }
    }
    pub fn is_permit(&self) -> bool {
        matches!(self, Decision::Permit(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub evaluation_id: Uuid,
    pub decision: Decision,
    /// Observe-only gates: what the gate would have answered.
    pub observed: Option<Box<Decision>>,
}
