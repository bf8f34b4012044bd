//! A broadcaster's local mirror of the scopes it has heard that are still live (not past the
//! revocation TTL). It serves two jobs:
//! - a listener that subscribes later (a gate created after the broadcaster connected) is
//!   handed every live scope at once, so it refuses what the other replicas refuse;
//! - a replay after a reconnect delivers only what this broadcaster has not heard yet, so a
//!   scope lifted on a gate is not re-applied by every network blip.
//!
//! Bounded: at most [`MAX_KNOWN`] entries; when full, expired entries go first, then the one
//! closest to expiry.

use std::collections::HashMap;
use std::time::Instant;

use kavach_core::InvalidationScope;

pub(crate) const MAX_KNOWN: usize = 100_000;

struct Entry {
    /// The message as published (its `expires_at_ms` makes each publication distinct).
    message: String,
    scope: InvalidationScope,
    deadline: Instant,
}

#[derive(Default)]
pub(crate) struct Known {
    entries: HashMap<String, Entry>,
}

impl Known {
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
        if let Some(e) = self.entries.get(&field) {
            if e.message == message && e.deadline > now {
                return false;
            }
        }
        if !self.entries.contains_key(&field) && self.entries.len() >= MAX_KNOWN {
            self.entries.retain(|_, e| e.deadline > now);
            if self.entries.len() >= MAX_KNOWN {
                let first = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.deadline)
                    .map(|(k, _)| k.clone());
                if let Some(k) = first {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(
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
        self.entries.remove(field);
    }

    /// Every scope still live at `now`.
    pub(crate) fn live(&self, now: Instant) -> Vec<InvalidationScope> {
        self.entries
            .values()
            .filter(|e| e.deadline > now)
            .map(|e| e.scope.clone())
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use kavach_core::ScopeKind;

    use super::*;

    fn scope(id: &str) -> InvalidationScope {
        InvalidationScope {
            target_kind: ScopeKind::Principal,
            target_id: id.into(),
            reason: "r".into(),
            evaluator: "manual".into(),
        }
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
    }

    #[test]
    fn memory_is_bounded() {
        let now = Instant::now();
        let mut k = Known::default();
        for i in 0..MAX_KNOWN + 10 {
            let id = format!("p{i}");
            let deadline = now + Duration::from_secs(1 + i as u64);
            k.insert(format!("principal:{id}"), &id, &scope(&id), deadline, now);
        }
        assert_eq!(k.len(), MAX_KNOWN);
        // The ones closest to expiry went first.
        assert!(!k.live(now).iter().any(|s| s.target_id == "p0"));
        assert!(k
            .live(now)
            .iter()
            .any(|s| s.target_id == format!("p{}", MAX_KNOWN + 9)));
    }
}
