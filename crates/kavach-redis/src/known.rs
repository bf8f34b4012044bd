//! A broadcaster's local mirror of the scopes it has heard that are still live (not past the
//! revocation TTL). It serves two jobs:
//! - a listener that subscribes later (a gate created after the broadcaster connected) is
//!   handed every live scope at once, so it refuses what the other replicas refuse;
//! - a replay after a reconnect delivers only what this broadcaster has not heard yet, so a
//!   scope lifted on a gate is not re-applied by every network blip.
//!
//! Bounded per kind: at most [`MAX_KNOWN_PER_KIND`] session, principal and role scopes each,
//! so a flood of one kind (session scopes are the ones callers can cause, one drift trip per
//! session) never pushes out a principal or role revocation. When a kind is full, its expired
//! entries go first, then its entry closest to expiry; such a drop is counted and reported on
//! stderr, since a gate created afterwards is not handed that scope. Entries are indexed by
//! expiry, so making room costs O(log n) whatever the size.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use kavach_core::{InvalidationScope, ScopeKind};

/// The same per-kind bound as a gate's own revocation list.
pub(crate) const MAX_KNOWN_PER_KIND: usize = 100_000;

struct Entry {
    /// The message as published (its `expires_at_ms` makes each publication distinct).
    message: String,
    scope: InvalidationScope,
    deadline: Instant,
}

/// The live scopes of one kind, by field and by expiry.
#[derive(Default)]
struct KindMirror {
    entries: HashMap<String, Entry>,
    /// `(deadline, field)` of every entry: the first one is the closest to expiry.
    by_deadline: BTreeSet<(Instant, String)>,
    /// Live scopes let go because the kind was full.
    dropped: u64,
}

impl KindMirror {
    fn remove(&mut self, field: &str) -> Option<Entry> {
        let e = self.entries.remove(field)?;
        self.by_deadline.remove(&(e.deadline, field.to_owned()));
        Some(e)
    }

    /// Removes entries expired at `now`, then (if still at `budget`) the one closest to
    /// expiry. Returns whether a live entry had to go.
    fn make_room(&mut self, budget: usize, now: Instant) -> bool {
        while let Some((deadline, _)) = self.by_deadline.first() {
            if *deadline > now {
                break;
            }
            if let Some((_, field)) = self.by_deadline.pop_first() {
                self.entries.remove(&field);
            }
        }
        if self.entries.len() < budget {
            return false;
        }
        if let Some((_, field)) = self.by_deadline.pop_first() {
            self.entries.remove(&field);
        }
        self.dropped = self.dropped.saturating_add(1);
        true
    }
}

pub(crate) struct Known {
    /// Indexed by [`kind_index`].
    kinds: [KindMirror; 3],
    budget: usize,
}

impl Default for Known {
    fn default() -> Self {
        Self::with_budget(MAX_KNOWN_PER_KIND)
    }
}

fn kind_index(kind: ScopeKind) -> usize {
    match kind {
        ScopeKind::Session => 0,
        ScopeKind::Principal => 1,
        ScopeKind::Role => 2,
    }
}

impl Known {
    pub(crate) fn with_budget(budget_per_kind: usize) -> Self {
        Self {
            kinds: Default::default(),
            budget: budget_per_kind.max(1),
        }
    }

    /// Remembers `message` under `field` (`<kind>:<id>`) until `deadline`. Returns false when
    /// exactly this message was already known (a replay of something heard before).
    pub(crate) fn insert(
        &mut self,
        field: String,
        message: &str,
        scope: &InvalidationScope,
        deadline: Instant,
        now: Instant,
    ) -> bool {
        let budget = self.budget;
        let mirror = &mut self.kinds[kind_index(scope.target_kind)];
        if let Some(e) = mirror.entries.get(&field) {
            if e.message == message && e.deadline > now {
                return false;
            }
        }
        if mirror.remove(&field).is_none()
            && mirror.entries.len() >= budget
            && mirror.make_room(budget, now)
            && mirror.dropped.is_power_of_two()
        {
            eprintln!(
                "kavach: the invalidation broadcaster holds {budget} live {} scopes; {} closest \
                 to expiry were let go and are not handed to gates created from now on",
                scope.target_kind.as_str(),
                mirror.dropped
            );
        }
        mirror.by_deadline.insert((deadline, field.clone()));
        mirror.entries.insert(
            field,
            Entry {
                message: message.to_owned(),
                scope: scope.clone(),
                deadline,
            },
        );
        true
    }

    pub(crate) fn remove(&mut self, field: &str) {
        for mirror in &mut self.kinds {
            mirror.remove(field);
        }
    }

    /// Every scope still live at `now`.
    pub(crate) fn live(&self, now: Instant) -> Vec<InvalidationScope> {
        self.kinds
            .iter()
            .flat_map(|m| m.entries.values())
            .filter(|e| e.deadline > now)
            .map(|e| e.scope.clone())
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kinds.iter().map(|m| m.entries.len()).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn scope_of(kind: ScopeKind, id: &str) -> InvalidationScope {
        InvalidationScope {
            target_kind: kind,
            target_id: id.into(),
            reason: "r".into(),
            evaluator: "manual".into(),
        }
    }

    fn scope(id: &str) -> InvalidationScope {
        scope_of(ScopeKind::Principal, id)
    }

    fn insert_kind(k: &mut Known, kind: ScopeKind, id: &str, deadline: Instant, now: Instant) {
        let field = format!("{}:{id}", kind.as_str());
        k.insert(field, id, &scope_of(kind, id), deadline, now);
    }

    #[test]
    fn replays_of_known_messages_are_not_new() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut k = Known::default();
        assert!(k.insert("principal:a".into(), "m1", &scope("a"), later, now));
        assert!(!k.insert("principal:a".into(), "m1", &scope("a"), later, now));
        // A new publication of the same target is new.
        assert!(k.insert("principal:a".into(), "m2", &scope("a"), later, now));
        assert_eq!(k.live(now).len(), 1);
        assert!(k.live(later).is_empty());
        // An expired entry heard again is new again.
        assert!(k.insert("principal:a".into(), "m2", &scope("a"), later, later));
        assert_eq!(k.len(), 1);
    }

    #[test]
    fn memory_is_bounded() {
        let now = Instant::now();
        let mut k = Known::default();
        for i in 0..MAX_KNOWN_PER_KIND + 10 {
            let id = format!("p{i}");
            let deadline = now + Duration::from_secs(1 + i as u64);
            k.insert(format!("principal:{id}"), &id, &scope(&id), deadline, now);
        }
        assert_eq!(k.len(), MAX_KNOWN_PER_KIND);
        // The ones closest to expiry went first.
        assert!(!k.live(now).iter().any(|s| s.target_id == "p0"));
        assert!(k
            .live(now)
            .iter()
            .any(|s| s.target_id == format!("p{}", MAX_KNOWN_PER_KIND + 9)));
    }

    #[test]
    fn a_flood_of_session_scopes_never_pushes_out_a_principal_or_role() {
        let now = Instant::now();
        let mut k = Known::default();
        // Revoked first, so closest to expiry of all.
        insert_kind(
            &mut k,
            ScopeKind::Principal,
            "mallory",
            now + Duration::from_secs(10),
            now,
        );
        insert_kind(
            &mut k,
            ScopeKind::Role,
            "intern",
            now + Duration::from_secs(10),
            now,
        );
        for i in 0..MAX_KNOWN_PER_KIND + 20_000 {
            let deadline = now + Duration::from_secs(20 + i as u64);
            insert_kind(&mut k, ScopeKind::Session, &format!("s{i}"), deadline, now);
        }
        let live = k.live(now);
        let has = |kind: ScopeKind, id: &str| {
            live.iter()
                .any(|s| s.target_kind == kind && s.target_id == id)
        };
        assert!(has(ScopeKind::Principal, "mallory"));
        assert!(has(ScopeKind::Role, "intern"));
        assert_eq!(live.len(), MAX_KNOWN_PER_KIND + 2);
        assert!(!has(ScopeKind::Session, "s0"));
        assert!(has(
            ScopeKind::Session,
            &format!("s{}", MAX_KNOWN_PER_KIND + 19_999)
        ));
    }

    #[test]
    fn a_full_mirror_lets_go_of_the_entries_closest_to_expiry_first() {
        // Room is made through the expiry index (what `connect` on a large log relies on:
        // tests/large_log.rs reads 101,000 entries within the connect timeout).
        let now = Instant::now();
        let mut k = Known::default();
        for i in 0..MAX_KNOWN_PER_KIND {
            let deadline = now + Duration::from_secs(1 + i as u64);
            insert_kind(&mut k, ScopeKind::Session, &format!("s{i}"), deadline, now);
        }
        for i in 0..5_000 {
            let deadline = now + Duration::from_secs(1_000_000 + i as u64);
            insert_kind(
                &mut k,
                ScopeKind::Session,
                &format!("late{i}"),
                deadline,
                now,
            );
        }
        assert_eq!(k.len(), MAX_KNOWN_PER_KIND);
        let live: std::collections::HashSet<String> =
            k.live(now).into_iter().map(|s| s.target_id).collect();
        assert!(live.contains("late4999") && live.contains("late0"));
        assert!(live.contains("s5000") && !live.contains("s4999") && !live.contains("s0"));
    }

    #[test]
    fn expired_entries_make_room_before_live_ones() {
        let now = Instant::now();
        let mut k = Known::with_budget(2);
        insert_kind(
            &mut k,
            ScopeKind::Principal,
            "old",
            now + Duration::from_secs(1),
            now,
        );
        insert_kind(
            &mut k,
            ScopeKind::Principal,
            "a",
            now + Duration::from_secs(100),
            now,
        );
        let later = now + Duration::from_secs(2);
        insert_kind(
            &mut k,
            ScopeKind::Principal,
            "b",
            now + Duration::from_secs(50),
            later,
        );
        let ids: Vec<String> = k.live(later).into_iter().map(|s| s.target_id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&"a".to_owned()) && ids.contains(&"b".to_owned()));
        assert_eq!(k.kinds[kind_index(ScopeKind::Principal)].dropped, 0);
        // A re-publication moves the entry in the expiry index too.
        let a = scope_of(ScopeKind::Principal, "a");
        let sooner = now + Duration::from_secs(10);
        assert!(k.insert("principal:a".into(), "a again", &a, sooner, later));
        assert_eq!(
            k.kinds[kind_index(ScopeKind::Principal)].by_deadline.len(),
            2
        );
        k.remove("principal:a");
        assert_eq!(k.len(), 1);
        assert_eq!(
            k.kinds[kind_index(ScopeKind::Principal)].by_deadline.len(),
            1
        );
    }
}
