//! Bounded list of revocations a gate has issued or heard (session, principal, role scopes).
//! Every entry lasts `ttl_seconds` or until lifted. Each kind has its own budget (entries and
//! bytes), so a flood of one kind never touches the others. Within a kind, expired entries go
//! first; when the kind is still full of live revocations, the one closest to expiry moves to
//! the kind's overflow slots (`overflow.rs`): dropping it outright would let its target back
//! in, so its id's slot stays refused until it would have expired. Ids that do not share a
//! slot with a dropped one are answered exactly as before.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;

use crate::context::ActionContext;
use crate::policy::identifier::nfc;
use crate::verdict::{InvalidationScope, ScopeKind};

use kavach_text::excerpt;

use super::overflow::{clip, refused_text, OverflowSlots};

/// `s` with its control and invisible characters escaped, whole (its length is bounded
/// before).
fn escape(s: &str) -> String {
    kavach_text::clip(s, usize::MAX)
}

/// Default cap on live revocations per kind (session, principal, role) per gate.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Default cap on the bytes held by one kind's revocations (ids and reasons).
pub const DEFAULT_MAX_BYTES: usize = 32 << 20;
/// Reasons are kept up to this many bytes (a reason can quote a caller's field).
pub const MAX_REASON_BYTES: usize = 256;
/// Bookkeeping bytes counted per entry besides its id and reason.
const ENTRY_OVERHEAD: usize = 96;

#[derive(Debug)]
struct Entry {
    /// `"revoked by drift: moved ..."`: the part of the reason after the scope.
    why: String,
    expires_at_ms: i64,
    seq: u64,
}

fn entry_bytes(id: &str, why: &str) -> usize {
    id.len() + why.len() + ENTRY_OVERHEAD
}

/// One kind's revocations.
#[derive(Debug, Default)]
struct KindList {
    map: HashMap<String, Entry>,
    /// Expiry order: `(expires_at_ms, seq)` → id. The first key is the next to go.
    by_expiry: BTreeMap<(i64, u64), String>,
    bytes: usize,
    overflow: OverflowSlots,
}

impl KindList {
    fn remove(&mut self, target_id: &str) {
        if let Some(entry) = self.map.remove(target_id) {
            self.by_expiry.remove(&(entry.expires_at_ms, entry.seq));
            self.bytes -= entry_bytes(target_id, &entry.why);
        }
    }
    /// Drops the entry closest to expiry; returns its id and expiry.
    fn pop_first(&mut self) -> Option<(String, i64)> {
        let ((expires_at_ms, _), id) = self.by_expiry.pop_first()?;
        if let Some(entry) = self.map.remove(&id) {
            self.bytes -= entry_bytes(&id, &entry.why);
        }
        Some((id, expires_at_ms))
    }
    fn purge_expired(&mut self, now_ms: i64) {
        while let Some((&(expires_at_ms, _), _)) = self.by_expiry.first_key_value() {
            if expires_at_ms > now_ms {
                break;
            }
            self.pop_first();
        }
    }
    fn live(&self, id: &str, now_ms: i64) -> Option<&str> {
        self.map
            .get(id)
            .filter(|e| e.expires_at_ms > now_ms)
            .map(|e| e.why.as_str())
    }
}

#[derive(Debug, Default)]
struct Inner {
    sessions: KindList,
    principals: KindList,
    roles: KindList,
    next_seq: u64,
}

impl Inner {
    fn kind(&self, kind: ScopeKind) -> &KindList {
        match kind {
            ScopeKind::Session => &self.sessions,
            ScopeKind::Principal => &self.principals,
            ScopeKind::Role => &self.roles,
        }
    }
    fn kind_mut(&mut self, kind: ScopeKind) -> &mut KindList {
        match kind {
            ScopeKind::Session => &mut self.sessions,
            ScopeKind::Principal => &mut self.principals,
            ScopeKind::Role => &mut self.roles,
        }
    }
    fn len(&self) -> usize {
        self.sessions.map.len() + self.principals.map.len() + self.roles.map.len()
    }
}

fn kind_name(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::Session => "session",
        ScopeKind::Principal => "principal",
        ScopeKind::Role => "role",
    }
}

#[derive(Debug)]
pub struct RevocationList {
    ttl_ms: i64,
    max_entries: usize,
    max_bytes: usize,
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

    /// Same, with a cap on live entries per kind (at least one).
    pub fn with_capacity(ttl_seconds: i64, max_entries: usize) -> Self {
        Self::with_limits(ttl_seconds, max_entries, DEFAULT_MAX_BYTES)
    }

    /// Same, with caps on live entries and on bytes per kind (at least one entry is kept).
    pub fn with_limits(ttl_seconds: i64, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            ttl_ms: ttl_seconds.max(1).saturating_mul(1000),
            max_entries: max_entries.max(1),
            max_bytes,
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Remember a scope (issued here or heard from a broadcaster) at `now_ms`. Revoking an
    /// already revoked target refreshes its reason and expiry.
    pub fn revoke(&self, scope: &InvalidationScope, now_ms: i64) {
        let target = target_key(scope.target_kind, &scope.target_id);
        let expires_at_ms = now_ms.saturating_add(self.ttl_ms);
        // Reasons arrive from callers and from other gates: control characters are escaped
        // once here, after the byte bound, so every refusal quoting them is printable.
        let why = format!(
            "revoked by {}: {}",
            escape(clip(&scope.evaluator, MAX_REASON_BYTES)),
            escape(clip(&scope.reason, MAX_REASON_BYTES))
        );
        let bytes = entry_bytes(&target, &why);
        let mut inner = self.inner.write();
        let seq = inner.next_seq;
        inner.next_seq = seq.wrapping_add(1);
        let list = inner.kind_mut(scope.target_kind);
        list.remove(&target);
        list.purge_expired(now_ms);
        while !list.map.is_empty()
            && (list.map.len() >= self.max_entries || list.bytes + bytes > self.max_bytes)
        {
            // A live revocation must go: its slot keeps refusing until it would have expired.
            match list.pop_first() {
                Some((id, until_ms)) => list.overflow.drop_id(&id, until_ms),
                None => break,
            }
        }
        list.by_expiry
            .insert((expires_at_ms, seq), target.to_string());
        list.bytes += bytes;
        list.map.insert(
            target.into_owned(),
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
        // The common case, nothing revoked: no lookups on the evaluation path.
        if inner.len() == 0
            && [&inner.sessions, &inner.principals, &inner.roles]
                .iter()
                .all(|k| k.overflow.dropped() == 0)
        {
            return None;
        }
        let dropped = |kind: ScopeKind, id: &str| {
            inner
                .kind(kind)
                .overflow
                .live_until(id, now_ms)
                .map(|until| {
                    refused_text(
                        &format!("a revocation of {} '{}'", kind_name(kind), excerpt(id)),
                        &format!(
                            "the revocation list's bound ({} {} revocations or {} bytes)",
                            self.max_entries,
                            kind_name(kind),
                            self.max_bytes
                        ),
                        until,
                    )
                })
        };
        if let Some(sid) = ctx.session_id.as_deref() {
            if let Some(why) = inner.sessions.live(sid, now_ms) {
                return Some(format!("session '{}' {why}", excerpt(sid)));
            }
            if let Some(why) = dropped(ScopeKind::Session, sid) {
                return Some(why);
            }
        }
        if let Some(why) = inner.principals.live(&ctx.principal_id, now_ms) {
            return Some(format!("principal '{}' {why}", excerpt(&ctx.principal_id)));
        }
        if let Some(why) = dropped(ScopeKind::Principal, &ctx.principal_id) {
            return Some(why);
        }
        for role in &ctx.roles {
            if let Some(why) = inner.roles.live(role, now_ms) {
                return Some(format!(
                    "role '{}' of principal '{}' {why}",
                    excerpt(role),
                    excerpt(&ctx.principal_id)
                ));
            }
            if let Some(why) = dropped(ScopeKind::Role, role) {
                return Some(why);
            }
        }
        None
    }

    /// True when this exact scope target is revoked at `now_ms` (held exactly, or in a live
    /// overflow slot).
    pub fn is_revoked(&self, kind: ScopeKind, target_id: &str, now_ms: i64) -> bool {
        let target = target_key(kind, target_id);
        let inner = self.inner.read();
        let list = inner.kind(kind);
        list.live(&target, now_ms).is_some() || list.overflow.live_until(&target, now_ms).is_some()
    }

    /// Undo a revocation (`gate.lift`). Lifting something not revoked is a no-op. A revocation
    /// that went to the overflow slots cannot be lifted (its slot is shared); it expires.
    pub fn lift(&self, kind: ScopeKind, target_id: &str) {
        let target = target_key(kind, target_id);
        self.inner.write().kind_mut(kind).remove(&target);
    }

    /// Entries held exactly (expired ones included until the next `revoke` purges them).
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by one kind's exact entries (ids, reasons, bookkeeping).
    pub fn bytes(&self, kind: ScopeKind) -> usize {
        self.inner.read().kind(kind).bytes
    }

    /// Revocations of one kind moved to its overflow slots so far.
    pub fn overflowed(&self, kind: ScopeKind) -> u64 {
        self.inner.read().kind(kind).overflow.dropped()
    }

    /// Whether two ids of one kind share an overflow slot (tests choose ids that do not).
    pub fn share_overflow_slot(&self, kind: ScopeKind, a: &str, b: &str) -> bool {
        self.inner.read().kind(kind).overflow.same_slot(a, b)
    }
}

/// The key a target is held under: principal ids and roles in NFC, as contexts carry them
/// (`ActionContext::normalize`), so a revocation spelled in another normal form (from this
/// process, a broadcaster or another SDK) still matches; session ids are opaque, kept as given.
fn target_key(kind: ScopeKind, target_id: &str) -> Cow<'_, str> {
    match kind {
        ScopeKind::Session => Cow::Borrowed(target_id),
        ScopeKind::Principal | ScopeKind::Role => nfc(target_id),
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
    fn principal_and_role_targets_match_in_nfc_whatever_their_spelling() {
        // "josé" and "opérateur" decomposed (NFD), as a revoke or another SDK may spell them;
        // contexts carry names in NFC.
        let list = RevocationList::new(3600);
        list.revoke(
            &scope(ScopeKind::Principal, "jose\u{301}", "manual", "r"),
            T0,
        );
        list.revoke(
            &scope(ScopeKind::Role, "ope\u{301}rateur", "manual", "r"),
            T0,
        );
        assert!(list.check(&ctx("jos\u{e9}", None, &[]), T0).is_some());
        assert!(list
            .check(&ctx("p2", None, &["op\u{e9}rateur"]), T0)
            .is_some());
        assert!(list.is_revoked(ScopeKind::Principal, "jos\u{e9}", T0));
        // Lifted in either spelling.
        list.lift(ScopeKind::Principal, "jos\u{e9}");
        list.lift(ScopeKind::Role, "ope\u{301}rateur");
        assert_eq!(
            list.check(&ctx("jos\u{e9}", None, &["op\u{e9}rateur"]), T0),
            None
        );
        // Session ids are opaque: held exactly as given.
        list.revoke(&scope(ScopeKind::Session, "s\u{e9}", "manual", "r"), T0);
        assert!(list.check(&ctx("p", Some("s\u{e9}"), &[]), T0).is_some());
        assert_eq!(list.check(&ctx("p", Some("se\u{301}"), &[]), T0), None);
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
    fn memory_is_bounded_and_the_oldest_go_to_the_overflow_slots() {
        let list = RevocationList::with_capacity(3600, 100);
        for i in 0..1000 {
            list.revoke(
                &scope(ScopeKind::Session, &format!("s{i}"), "drift", "x"),
                T0 + i,
            );
            assert!(list.len() <= 100);
        }
        assert_eq!(list.len(), 100);
        assert_eq!(list.overflowed(ScopeKind::Session), 900);
        {
            let inner = list.inner.read();
            assert_eq!(inner.sessions.map.len(), 100);
            assert_eq!(inner.sessions.by_expiry.len(), 100);
        }
        // Nothing is forgotten early: every dropped session is still refused, naming the bound,
        // until it would have expired.
        for i in 0..900 {
            assert!(list.is_revoked(ScopeKind::Session, &format!("s{i}"), T0 + 1000));
        }
        let why = list.check(&ctx("p", Some("s0"), &[]), T0 + 1000).unwrap();
        assert!(
            why.contains("revocation of session 's0'")
                && why.contains("bound (100 session revocations or 33554432 bytes)"),
            "{why}"
        );
        assert!(list
            .check(&ctx("p", Some("s0"), &[]), T0 + 3_600_000 + 1_000)
            .is_none());
        // The exact entries answer as before.
        assert!(list
            .check(&ctx("p", Some("s999"), &[]), T0 + 1000)
            .unwrap()
            .starts_with("session 's999' revoked by drift"));
    }

    /// A well-behaved caller's id that does not share a slot with any flooded one.
    fn bystander(list: &RevocationList, kind: ScopeKind, flood: &[String]) -> String {
        (0..)
            .map(|i| format!("good-{i}"))
            .find(|g| !flood.iter().any(|f| list.share_overflow_slot(kind, g, f)))
            .unwrap()
    }

    #[test]
    fn a_flood_of_one_kind_refuses_no_one_else() {
        let list = RevocationList::with_capacity(3600, 100);
        let flood: Vec<String> = (0..1000).map(|i| format!("made-up-{i}")).collect();
        // Drift with made-up principals and no session: principal scopes.
        for (i, id) in flood.iter().enumerate() {
            list.revoke(
                &scope(ScopeKind::Principal, id, "drift", "ip changed"),
                T0 + i64::try_from(i).unwrap(),
            );
        }
        // Existing revocations of other kinds are untouched by the flood.
        list.revoke(&scope(ScopeKind::Role, "support", "ops", "x"), T0);
        assert!(list.is_revoked(ScopeKind::Role, "support", T0 + 2000));
        let good = bystander(&list, ScopeKind::Principal, &flood);
        let now = T0 + 2000;
        assert_eq!(list.check(&ctx(&good, None, &["viewer"]), now), None);
        assert_eq!(list.check(&ctx(&good, Some("s-good"), &[]), now), None);
        // Every flooded principal stays refused.
        assert!(flood
            .iter()
            .all(|id| list.check(&ctx(id, None, &[]), now).is_some()));
        // Same for a session flood against a principal with a session.
        let sessions: Vec<String> = (0..1000).map(|i| format!("sess-{i}")).collect();
        for id in &sessions {
            list.revoke(&scope(ScopeKind::Session, id, "drift", "x"), T0);
        }
        let good_session = bystander(&list, ScopeKind::Session, &sessions);
        assert_eq!(list.check(&ctx(&good, Some(&good_session), &[]), now), None);
    }

    #[test]
    fn bytes_are_bounded_per_kind_and_reasons_clipped() {
        let list = RevocationList::with_limits(3600, 1_000_000, 10_000);
        let big_ip = "9".repeat(1 << 20);
        for i in 0..100 {
            list.revoke(
                &scope(
                    ScopeKind::Session,
                    &format!("s{i}"),
                    "drift",
                    &format!("ip changed from 'a' to '{big_ip}'"),
                ),
                T0,
            );
            assert!(list.bytes(ScopeKind::Session) <= 10_000);
        }
        assert!(list.overflowed(ScopeKind::Session) > 0);
        assert!(list.is_revoked(ScopeKind::Session, "s0", T0 + 1));
        let why = list.check(&ctx("p", Some("s99"), &[]), T0).unwrap();
        assert!(why.len() < 600, "{}", why.len());
        // Other kinds have their own budget.
        assert_eq!(list.bytes(ScopeKind::Principal), 0);
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
