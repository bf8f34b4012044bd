//! Invalidation: the broadcaster trait (callback-based so it needs no async runtime), the
//! in-process broadcaster, and the bounded revocation list a gate keeps for scopes it hears.

pub mod memory;
pub mod overflow;
pub mod revocations;

use std::sync::Arc;

pub use memory::InMemoryInvalidationBroadcaster;
pub use revocations::RevocationList;

use crate::error::{KavachError, Result};
use crate::store::StoreFuture;
use crate::verdict::{InvalidationScope, ScopeKind};

/// Called for every scope published on a broadcaster (by anyone, this process included).
pub type ScopeListener = Arc<dyn Fn(&InvalidationScope) + Send + Sync>;

pub trait InvalidationBroadcaster: Send + Sync {
    /// Publish a scope to every subscriber (and, for network broadcasters, every replica).
    fn publish<'a>(&'a self, scope: &'a InvalidationScope) -> StoreFuture<'a, ()>;
    /// Register a listener; returns an id for `unsubscribe`. Late subscribers miss earlier
    /// messages.
    fn subscribe(&self, listener: ScopeListener) -> u64;
    fn unsubscribe(&self, id: u64);
    fn subscriber_count(&self) -> usize;
    fn is_in_process(&self) -> bool;
}

/// `session`, `principal` or `role`; anything else is an `INVALID_ARGUMENT` error.
pub fn parse_scope_kind(kind: &str) -> Result<ScopeKind> {
    ScopeKind::parse(kind).ok_or_else(|| {
        KavachError::InvalidArgument(format!(
            "targetKind must be one of {} (got '{kind}')",
            ScopeKind::ALL.map(ScopeKind::as_str).join(", ")
        ))
    })
}

/// A validated scope from user input (the binding's `publish` and `gate.lift`).
pub fn parse_scope(
    kind: &str,
    target_id: &str,
    reason: &str,
    evaluator: &str,
) -> Result<InvalidationScope> {
    let target_kind = parse_scope_kind(kind)?;
    if target_id.is_empty() {
        return Err(KavachError::InvalidArgument(format!(
            "{kind} scope needs a non-empty target id"
        )));
    }
    // A target no context can carry could never match: refused rather than kept (and
    // published) as a revocation that protects nothing. Principal ids and roles follow the
    // name rules (a trailing space, a control character...); session ids are opaque, bounded
    // only in length.
    if target_kind == ScopeKind::Session {
        let max = crate::context::limits::MAX_ID_BYTES;
        if target_id.len() > max {
            return Err(KavachError::InvalidArgument(format!(
                "{kind} scope target id is {} bytes, over the limit of {max} (no context id is longer)",
                target_id.len()
            )));
        }
    } else if let Some(problem) = crate::policy::identifier::name_problem(target_id) {
        return Err(KavachError::InvalidArgument(format!(
            "{kind} scope target id {problem}: no context can carry it, so it would never match"
        )));
    }
    if evaluator.is_empty() {
        return Err(KavachError::InvalidArgument(
            "evaluator must be a non-empty string".into(),
        ));
    }
    Ok(InvalidationScope {
        target_kind,
        target_id: target_id.to_owned(),
        reason: reason.to_owned(),
        evaluator: evaluator.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_target_longer_than_any_context_id_is_refused() {
        let at_limit = "s".repeat(256);
        assert!(parse_scope("session", &at_limit, "r", "manual").is_ok());
        assert!(parse_scope("principal", &"p".repeat(256), "r", "manual").is_ok());
        let e = parse_scope("session", &"s".repeat(257), "r", "manual").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "session scope target id is 257 bytes, over the limit of 256 (no context id is longer)"
        );
        let e = parse_scope("principal", &"p".repeat(257), "r", "manual").unwrap_err();
        assert_eq!(
            e.to_string(),
            "principal scope target id is 257 bytes long, over the limit of 256 bytes: no context can carry it, so it would never match"
        );
        let e = parse_scope("role", "admin ", "r", "manual").unwrap_err();
        assert!(
            e.to_string().contains("has leading or trailing whitespace"),
            "{e}"
        );
        // Session ids are opaque: whitespace is theirs to have.
        assert!(parse_scope("session", "s 1 ", "r", "manual").is_ok());
    }

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(parse_scope_kind("session").unwrap(), ScopeKind::Session);
        assert_eq!(parse_scope_kind("principal").unwrap(), ScopeKind::Principal);
        assert_eq!(parse_scope_kind("role").unwrap(), ScopeKind::Role);
    }

    #[test]
    fn unknown_kind_is_a_clear_invalid_argument() {
        let err = parse_scope_kind("tenant").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert_eq!(
            err.to_string(),
            "targetKind must be one of session, principal, role (got 'tenant')"
        );
        // Case matters: kinds are exact strings.
        assert!(parse_scope_kind("Session").is_err());
        assert!(parse_scope_kind("").is_err());
    }

    #[test]
    fn parse_scope_validates_ids() {
        let scope = parse_scope("principal", "agent-7", "leaked", "manual").unwrap();
        assert_eq!(scope.target_kind, ScopeKind::Principal);
        assert_eq!(scope.target_id, "agent-7");
        let err = parse_scope("session", "", "x", "manual").unwrap_err();
        assert_eq!(err.to_string(), "session scope needs a non-empty target id");
        assert!(parse_scope("role", "r", "x", "").is_err());
        assert!(parse_scope("x", "r", "x", "m")
            .unwrap_err()
            .to_string()
            .ends_with("(got 'x')"));
    }
}
