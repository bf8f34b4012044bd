//! Scopes a broadcaster could not publish (Redis down, stalled or failing over), kept until its
//! subscriber task gets them into Redis: an Invalidate that drift issued while Redis was away
//! reaches the other replicas once Redis answers, instead of only the gate that issued it.
//! Publishing a scope again is harmless (the log keeps one entry per target, and a gate that
//! already revoked it just revokes it again), so a retry cannot do harm.
//!
//! Keyed by target like the revocation log, and ordered: every publication gets a number when
//! it starts, and a target keeps only its latest publication that failed, until a publication
//! at least as recent reaches Redis. So an older scope never overwrites a newer one in the log,
//! and `forget` drops what is kept for its target. Bounded, so a long outage with a flood of
//! Invalidates cannot grow it without end; what does not fit is reported by the caller (it is
//! still revoked on the gate that issued it).

use std::collections::HashMap;

use kavach_core::{InvalidationScope, ScopeKind};

/// Targets kept at most.
pub const MAX_UNSENT: usize = 10_000;

type Target = (&'static str, String);

fn target(kind: ScopeKind, id: &str) -> Target {
    (kind.as_str(), id.to_owned())
}

#[derive(Debug, Default)]
pub struct Unsent {
    /// Per target: the number of the publication that failed, and its scope.
    scopes: HashMap<Target, (u64, InvalidationScope)>,
}

impl Unsent {
    /// Keeps publication `seq` of `scope` for a retry, unless a later one of the same target is
    /// kept already. False when the set is full and the target not in it.
    pub fn keep(&mut self, seq: u64, scope: &InvalidationScope) -> bool {
        let key = target(scope.target_kind, &scope.target_id);
        match self.scopes.get(&key) {
            Some((kept, _)) if *kept > seq => return true,
            None if self.scopes.len() >= MAX_UNSENT => return false,
            _ => {}
        }
        self.scopes.insert(key, (seq, scope.clone()));
        true
    }

    /// Publication `seq` of this target reached Redis: what is kept for it and is not more
    /// recent goes.
    pub fn sent(&mut self, seq: u64, kind: ScopeKind, id: &str) {
        let key = target(kind, id);
        if self.scopes.get(&key).is_some_and(|(kept, _)| *kept <= seq) {
            self.scopes.remove(&key);
        }
    }

    /// The target is forgotten: nothing kept for it is published any more.
    pub fn forget(&mut self, kind: ScopeKind, id: &str) {
        self.scopes.remove(&target(kind, id));
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// What to retry, oldest publication first, as copies: publishing awaits, and the set must
    /// not stay locked meanwhile.
    pub fn snapshot(&self) -> Vec<(u64, InvalidationScope)> {
        let mut all: Vec<(u64, InvalidationScope)> = self.scopes.values().cloned().collect();
        all.sort_unstable_by_key(|(seq, _)| *seq);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(kind: ScopeKind, id: &str, reason: &str) -> InvalidationScope {
        InvalidationScope {
            target_kind: kind,
            target_id: id.into(),
            reason: reason.into(),
            evaluator: "drift".into(),
        }
    }

    #[test]
    fn a_target_keeps_its_latest_failed_publication_until_one_as_recent_is_sent() {
        let mut u = Unsent::default();
        let old = scope(ScopeKind::Principal, "agent-1", "ip changed");
        let new = scope(ScopeKind::Principal, "agent-1", "device changed");
        assert!(u.keep(1, &old));
        assert!(u.keep(2, &new));
        // A late failure of the older publication does not replace the newer one.
        assert!(u.keep(1, &old));
        assert_eq!(u.snapshot(), vec![(2, new.clone())]);
        // The older publication reaching Redis does not drop the newer one...
        u.sent(1, ScopeKind::Principal, "agent-1");
        assert_eq!(u.len(), 1);
        // ...a publication at least as recent does.
        u.sent(3, ScopeKind::Principal, "agent-1");
        assert!(u.is_empty());
    }

    #[test]
    fn forget_drops_what_is_kept_and_snapshots_come_oldest_first() {
        let mut u = Unsent::default();
        assert!(u.keep(5, &scope(ScopeKind::Role, "r", "x")));
        assert!(u.keep(3, &scope(ScopeKind::Session, "s", "x")));
        assert_eq!(
            u.snapshot().iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [3, 5]
        );
        u.forget(ScopeKind::Role, "r");
        assert_eq!(u.len(), 1);
    }

    #[test]
    fn a_full_set_refuses_new_targets_but_still_updates_kept_ones() {
        let mut u = Unsent::default();
        for i in 0..MAX_UNSENT {
            assert!(u.keep(i as u64, &scope(ScopeKind::Session, &format!("s-{i}"), "r")));
        }
        assert!(!u.keep(0, &scope(ScopeKind::Session, "one-more", "r")));
        assert!(u.keep(u64::MAX, &scope(ScopeKind::Session, "s-7", "newer")));
        assert_eq!(u.len(), MAX_UNSENT);
    }
}
