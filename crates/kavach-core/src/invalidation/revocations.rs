//! Bounded list of revocations a gate has issued or heard (session, principal, role scopes).
//! Every entry lasts `ttl_seconds` or until lifted. Memory is bounded: at most `max_entries`
//! live at once; when full, expired entries go first, then the ones closest to expiry (the
//! oldest, since all share one TTL). Dropping a live revocation would let its target back in,
//! so an overflow fails closed: until every dropped revocation would have expired, `check`
//! refuses every context (the newest revocations stay exact for `is_revoked`).

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;

use crate::context::ActionContext;
use crate::verdict::{InvalidationScope, ScopeKind};

/// Default cap on live revocations per gate.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
struct Entry {
    /// `"revoked by drift: moved ..."`: the part of the reason after the scope.
    why: String,
    expires_at_ms: i64,
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Entry>,
    principals: HashMap<String, Entry>,
    roles: HashMap<String, Entry>,
    /// Expiry order: `(expires_at_ms, seq)` → scope. The first key is the next to go.
    by_expiry: BTreeMap<(i64, u64), (ScopeKind, String)>,
    next_seq: u64,
    /// After an overflow: until when live revocations are missing (0 = none missing).
    saturated_until_ms: i64,
}

impl Inner {
    fn map(&self, kind: ScopeKind) -> &HashMap<String, Entry> {
        match kind {
            ScopeKind::Session => &self.sessions,
            ScopeKind::Principal => &self.principals,
            ScopeKind::Role => &self.roles,
        }
    }
    fn map_mut(&mut self, kind: ScopeKind) -> &mut HashMap<String, Entry> {
        match kind {
            ScopeKind::Session => &mut self.sessions,
            ScopeKind::Principal => &mut self.principals,
            ScopeKind::Role => &mut self.roles,
        }
    }
    fn len(&self) -> usize {
        self.by_expiry.len()
    }
    fn remove(&mut self, kind: ScopeKind, target_id: &str) {
        if let Some(entry) = self.map_mut(kind).remove(target_id) {
            self.by_expiry.remove(&(entry.expires_at_ms, entry.seq));
        }
    }
    /// Drops the entry closest to expiry and returns its expiry; `None` when empty.
    fn pop_first(&mut self) -> Option<i64> {
        let ((expires_at_ms, _), (kind, id)) = self.by_expiry.pop_first()?;
        self.map_mut(kind).remove(&id);
        Some(expires_at_ms)
    }
    fn purge_expired(&mut self, now_ms: i64) {
        while let Some((&(expires_at_ms, _), _)) = self.by_expiry.first_key_value() {
            if expires_at_ms > now_ms {
                break;
            }
            self.pop_first();
        }
    }
}

#[derive(Debug)]
pub struct RevocationList {
    ttl_ms: i64,
    max_entries: usize,
    inner: RwLock<Inner>,
}

impl Default for RevocationList {
    fn default() -> Self {
        Self::new(3600)
    }
}

impl RevocationList {
    /// Every scope (session, principal, role) lasts `ttl_seconds` (at least one second) or
    /// until lifted; sessions also stay revoked in the session store until they expire.
    pub fn new(ttl_seconds: i64) -> Self {
        Self::with_capacity(ttl_seconds, DEFAULT_MAX_ENTRIES)
    }

    /// Same, with a cap on live entries (at least one).
    pub fn with_capacity(ttl_seconds: i64, max_entries: usize) -> Self {
        Self {
            ttl_ms: ttl_seconds.max(1).saturating_mul(1000),
            max_entries: max_entries.max(1),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Remember a scope (issued here or heard from a broadcaster) at `now_ms`. Revoking an
    /// already revoked target refreshes its reason and expiry.
    pub fn revoke(&self, scope: &InvalidationScope, now_ms: i64) {
        let expires_at_ms = now_ms.saturating_add(self.ttl_ms);
        let why = format!("revoked by {}: {}", scope.evaluator, scope.reason);
        let mut inner = self.inner.write();
        inner.remove(scope.target_kind, &scope.target_id);
        inner.purge_expired(now_ms);
        while inner.len() >= self.max_entries {
            match inner.pop_first() {
                // A live revocation is gone: refuse everyone until it would have expired.
                Some(dropped_until) => {
                    inner.saturated_until_ms = inner.saturated_until_ms.max(dropped_until);
                }
                None => break,
            }
        }
        let seq = inner.next_seq;
        inner.next_seq = seq.wrapping_add(1);
        inner.by_expiry.insert(
            (expires_at_ms, seq),
            (scope.target_kind, scope.target_id.clone()),
        );
        inner.map_mut(scope.target_kind).insert(
            scope.target_id.clone(),
            Entry {
                why,
                expires_at_ms,
                seq,
            },
        );
    }

    /// `Some(reason)` when the context's session, principal or one of its roles is revoked,
    /// e.g. `session 's1' revoked by drift: ...`.
    pub fn check(&self, ctx: &ActionContext, now_ms: i64) -> Option<String> {
        let inner = self.inner.read();
        if inner.saturated_until_ms > now_ms {
            return Some(format!(
                "the revocation list overflowed (more than {} live revocations), so some revocations were dropped: every evaluation is refused until they expire",
                self.max_entries
            ));
        }
        if inner.len() == 0 {
            return None;
        }
        let live = |kind: ScopeKind, id: &str| {
            inner
                .map(kind)
                .get(id)
                .filter(|e| e.expires_at_ms > now_ms)
                .map(|e| e.why.as_str())
        };
        if let Some(sid) = ctx.session_id.as_deref() {
            if let Some(why) = live(ScopeKind::Session, sid) {
                return Some(format!("session '{sid}' {why}"));
            }
        }
        if let Some(why) = live(ScopeKind::Principal, &ctx.principal_id) {
            return Some(format!("principal '{}' {why}", ctx.principal_id));
        }
        for role in &ctx.roles {
            if let Some(why) = live(ScopeKind::Role, role) {
                return Some(format!(
                    "role '{role}' of principal '{}' {why}",
                    ctx.principal_id
                ));
            }
        }
        None
    }

    /// True when this exact scope target is revoked at `now_ms`.
    pub fn is_revoked(&self, kind: ScopeKind, target_id: &str, now_ms: i64) -> bool {
        self.inner
            .read()
            .map(kind)
            .get(target_id)
            .is_some_and(|e| e.expires_at_ms > now_ms)
    }

    /// Undo a revocation (`gate.lift`). Lifting something not revoked is a no-op.
    pub fn lift(&self, kind: ScopeKind, target_id: &str) {
        self.inner.write().remove(kind, target_id);
    }

    /// Entries held (expired ones included until the next `revoke` purges them).
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::context::PrincipalKind;

    const T0: i64 = 1_800_000_000_000;

    fn scope(kind: ScopeKind, id: &str, evaluator: &str, reason: &str) -> InvalidationScope {
        InvalidationScope {
            target_kind: kind,
            target_id: id.into(),
            reason: reason.into(),
            evaluator: evaluator.into(),
        }
    }
    fn ctx(principal: &str, session: Option<&str>, roles: &[&str]) -> ActionContext {
        let mut c = ActionContext::new(principal, PrincipalKind::Agent, "issue_refund");
        c.session_id = session.map(Into::into);
        c.roles = roles.iter().map(|r| (*r).to_string()).collect();
        c
    }

    #[test]
    fn empty_list_refuses_nothing() {
        let list = RevocationList::new(3600);
        assert!(list.is_empty());
        assert_eq!(list.check(&ctx("p1", Some("s1"), &["support"]), T0), None);
    }

    #[test]
    fn session_scope_refuses_that_session_only() {
        let list = RevocationList::new(3600);
        list.revoke(
            &scope(
                ScopeKind::Session,
                "s1",
                "drift",
                "ip changed from 'a' to 'b'",
            ),
            T0,
        );
        assert_eq!(
            list.check(&ctx("p1", Some("s1"), &[]), T0 + 1).as_deref(),
            Some("session 's1' revoked by drift: ip changed from 'a' to 'b'")
        );
        assert_eq!(list.check(&ctx("p1", Some("s2"), &[]), T0 + 1), None);
        assert_eq!(list.check(&ctx("p1", None, &[]), T0 + 1), None);
        // A principal id equal to the session id is a different scope.
        assert_eq!(list.check(&ctx("s1", None, &[]), T0 + 1), None);
    }

    #[test]
    fn principal_scope_refuses_every_session_of_that_principal() {
        let list = RevocationList::new(3600);
        list.revoke(
            &scope(
                ScopeKind::Principal,
                "agent-7",
                "manual",
                "credentials leaked",
            ),
            T0,
        );
        for session in [None, Some("s1"), Some("s2")] {
            assert_eq!(
                list.check(&ctx("agent-7", session, &[]), T0).as_deref(),
                Some("principal 'agent-7' revoked by manual: credentials leaked")
            );
        }
        assert_eq!(list.check(&ctx("agent-8", Some("s1"), &[]), T0), None);
    }

    #[test]
    fn role_scope_refuses_any_principal_holding_the_role() {
        let list = RevocationList::new(3600);
        list.revoke(&scope(ScopeKind::Role, "support", "ops", "incident 42"), T0);
        assert_eq!(
            list.check(&ctx("bob", None, &["viewer", "support"]), T0)
                .as_deref(),
            Some("role 'support' of principal 'bob' revoked by ops: incident 42")
        );
        assert_eq!(list.check(&ctx("bob", None, &["viewer"]), T0), None);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let list = RevocationList::new(60);
        list.revoke(&scope(ScopeKind::Principal, "p1", "manual", "x"), T0);
        assert!(list.check(&ctx("p1", None, &[]), T0 + 59_999).is_some());
        assert!(list.check(&ctx("p1", None, &[]), T0 + 60_000).is_none());
        assert!(!list.is_revoked(ScopeKind::Principal, "p1", T0 + 60_000));
        // The next revoke purges it.
        list.revoke(
            &scope(ScopeKind::Principal, "p2", "manual", "y"),
            T0 + 60_000,
        );
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn lift_restores_and_revoking_again_refreshes() {
        let list = RevocationList::new(60);
        list.revoke(&scope(ScopeKind::Role, "support", "manual", "first"), T0);
        list.lift(ScopeKind::Role, "support");
        assert!(list.check(&ctx("bob", None, &["support"]), T0).is_none());
        assert!(list.is_empty());
        list.lift(ScopeKind::Role, "support");
        list.lift(ScopeKind::Session, "never-revoked");

        list.revoke(&scope(ScopeKind::Role, "support", "manual", "first"), T0);
        list.revoke(
            &scope(ScopeKind::Role, "support", "manual", "second"),
            T0 + 30_000,
        );
        assert_eq!(list.len(), 1);
        let reason = list
            .check(&ctx("bob", None, &["support"]), T0 + 70_000)
            .unwrap();
        assert!(reason.ends_with("second"), "{reason}");
    }

    #[test]
    fn lifting_one_kind_leaves_the_others() {
        let list = RevocationList::new(60);
        list.revoke(&scope(ScopeKind::Session, "x", "drift", "a"), T0);
        list.revoke(&scope(ScopeKind::Principal, "x", "manual", "b"), T0);
        list.lift(ScopeKind::Principal, "x");
        assert!(list.is_revoked(ScopeKind::Session, "x", T0));
        assert!(!list.is_revoked(ScopeKind::Principal, "x", T0));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_go_first() {
        let list = RevocationList::with_capacity(3600, 100);
        for i in 0..1000 {
            list.revoke(
                &scope(ScopeKind::Session, &format!("s{i}"), "drift", "x"),
                T0 + i,
            );
            assert!(list.len() <= 100);
        }
        assert_eq!(list.len(), 100);
        assert!(!list.is_revoked(ScopeKind::Session, "s899", T0 + 1000));
        assert!(list.is_revoked(ScopeKind::Session, "s900", T0 + 1000));
        assert!(list.is_revoked(ScopeKind::Session, "s999", T0 + 1000));
        {
            let inner = list.inner.read();
            assert_eq!(inner.sessions.len(), 100);
            assert_eq!(inner.by_expiry.len(), 100);
        }
        // s0..s899 were dropped while live: fail closed, everyone is refused until the last
        // of them (s899, revoked at T0 + 899) would have expired, then only s900.. remain.
        let stranger = ctx("someone-else", Some("s0"), &[]);
        let why = list.check(&stranger, T0 + 1000).unwrap();
        assert!(why.contains("overflowed"), "{why}");
        assert!(list.check(&stranger, T0 + 899 + 3_600_000 - 1).is_some());
        assert_eq!(list.check(&stranger, T0 + 899 + 3_600_000), None);
        assert!(list
            .check(&ctx("p", Some("s999"), &[]), T0 + 899 + 3_600_000)
            .is_some());
    }

    #[test]
    fn expired_entries_are_evicted_before_live_ones() {
        let list = RevocationList::with_capacity(10, 2);
        list.revoke(&scope(ScopeKind::Principal, "old", "m", "x"), T0);
        list.revoke(&scope(ScopeKind::Principal, "live", "m", "x"), T0 + 9_000);
        // `old` has expired by now; `live` has not and must survive the insert.
        list.revoke(&scope(ScopeKind::Principal, "new", "m", "x"), T0 + 10_000);
        assert!(list.is_revoked(ScopeKind::Principal, "live", T0 + 10_000));
        assert!(list.is_revoked(ScopeKind::Principal, "new", T0 + 10_000));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn nonsense_ttl_and_capacity_are_clamped() {
        let list = RevocationList::with_capacity(0, 0);
        list.revoke(&scope(ScopeKind::Session, "s", "m", "x"), T0);
        assert!(list.is_revoked(ScopeKind::Session, "s", T0 + 999));
        assert!(!list.is_revoked(ScopeKind::Session, "s", T0 + 1000));
        let far = RevocationList::new(i64::MAX);
        far.revoke(&scope(ScopeKind::Session, "s", "m", "x"), i64::MAX - 5);
        assert!(far.is_revoked(ScopeKind::Session, "s", i64::MAX - 1));
    }
}
