//! Scopes a broadcaster could not publish (Redis down, stalled or failing over), kept until its
//! subscriber task gets them into Redis: an Invalidate that drift issued while Redis was away
//! reaches the other replicas once Redis answers, instead of only the gate that issued it.
//! Publishing a scope again is harmless (the log keeps one entry per target, and a gate that
//! already revoked it just revokes it again), so a retry cannot do harm.
//!
//! Keyed by target like the revocation log: a later scope for the same target replaces the
//! earlier one. Bounded, so a long outage with a flood of Invalidates cannot grow it without end;
//! what does not fit is reported on stderr (it is still revoked on the gate that issued it).

use std::collections::HashMap;

use kavach_core::InvalidationScope;

/// Targets kept at most.
pub const MAX_UNSENT: usize = 10_000;

#[derive(Debug, Default)]
pub struct Unsent {
    scopes: HashMap<(&'static str, String), InvalidationScope>,
}

impl Unsent {
    /// Keeps `scope` for a retry. False when the set is full and the target not in it already.
    pub fn keep(&mut self, scope: &InvalidationScope) -> bool {
        let key = (scope.target_kind.as_str(), scope.target_id.clone());
        if self.scopes.len() >= MAX_UNSENT && !self.scopes.contains_key(&key) {
            return false;
        }
        self.scopes.insert(key, scope.clone());
        true
    }

    /// `scope` reached Redis: forget it, unless a different scope for the same target was kept
    /// meanwhile (that one still needs publishing).
    pub fn sent(&mut self, scope: &InvalidationScope) {
        let key = (scope.target_kind.as_str(), scope.target_id.clone());
        if self.scopes.get(&key) == Some(scope) {
            self.scopes.remove(&key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// What to retry, as copies: publishing awaits, and the set must not stay locked meanwhile.
    pub fn snapshot(&self) -> Vec<InvalidationScope> {
        self.scopes.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavach_core::ScopeKind;

    fn scope(kind: ScopeKind, id: &str, reason: &str) -> InvalidationScope {
        InvalidationScope {
            target_kind: kind,
            target_id: id.into(),
            reason: reason.into(),
            evaluator: "drift".into(),
        }
    }

    #[test]
    fn one_entry_per_target_and_a_newer_scope_survives_the_older_ones_success() {
        let mut u = Unsent::default();
        let first = scope(ScopeKind::Principal, "agent-1", "ip changed");
        let second = scope(ScopeKind::Principal, "agent-1", "device changed");
        assert!(u.keep(&first));
        assert!(u.keep(&second));
        assert!(u.keep(&scope(ScopeKind::Role, "agent-1", "x")));
        assert_eq!(u.len(), 2);
        // The older publish finishing must not drop the newer reason.
        u.sent(&first);
        assert_eq!(u.len(), 2);
        u.sent(&second);
        assert_eq!(u.len(), 1);
        assert_eq!(u.snapshot()[0].target_kind, ScopeKind::Role);
    }

    #[test]
    fn a_full_set_refuses_new_targets_but_still_updates_kept_ones() {
        let mut u = Unsent::default();
        for i in 0..MAX_UNSENT {
            assert!(u.keep(&scope(ScopeKind::Session, &format!("s-{i}"), "r")));
        }
        assert!(!u.keep(&scope(ScopeKind::Session, "one-more", "r")));
        assert!(u.keep(&scope(ScopeKind::Session, "s-7", "newer")));
        assert_eq!(u.len(), MAX_UNSENT);
    }
}
