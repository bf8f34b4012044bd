//! The in-process broadcaster: publish calls every current listener synchronously, so the
//! returned future is always ready. One panicking listener cannot stop delivery to the others.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future;
use parking_lot::RwLock;

use crate::store::StoreFuture;
use crate::verdict::InvalidationScope;

use super::{InvalidationBroadcaster, ScopeListener};

#[derive(Default)]
pub struct InMemoryInvalidationBroadcaster {
    listeners: RwLock<Vec<(u64, ScopeListener)>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for InMemoryInvalidationBroadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryInvalidationBroadcaster")
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}

impl InMemoryInvalidationBroadcaster {
    pub fn new() -> Self {
        Self::default()
    }

    /// Deliver `scope` to every listener; returns how many listeners panicked (each panic is
    /// contained; the others still hear the scope).
    pub fn deliver(&self, scope: &InvalidationScope) -> usize {
        // Snapshot first so listeners may subscribe, unsubscribe or publish re-entrantly
        // without deadlocking on the list.
        let snapshot: Vec<ScopeListener> = self
            .listeners
            .read()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        snapshot
            .iter()
            .filter(|listener| catch_unwind(AssertUnwindSafe(|| listener(scope))).is_err())
            .count()
    }
}

impl InvalidationBroadcaster for InMemoryInvalidationBroadcaster {
    fn publish<'a>(&'a self, scope: &'a InvalidationScope) -> StoreFuture<'a, ()> {
        self.deliver(scope);
        Box::pin(future::ready(Ok(())))
    }

    fn subscribe(&self, listener: ScopeListener) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.listeners.write().push((id, listener));
        id
    }

    fn unsubscribe(&self, id: u64) {
        self.listeners.write().retain(|(lid, _)| *lid != id);
    }

    fn subscriber_count(&self) -> usize {
        self.listeners.read().len()
    }

    fn is_in_process(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures::FutureExt;

    use super::*;
    use crate::verdict::ScopeKind;

    fn scope(id: &str) -> InvalidationScope {
        InvalidationScope {
            target_kind: ScopeKind::Session,
            target_id: id.into(),
            reason: "ip changed".into(),
            evaluator: "drift".into(),
        }
    }

    fn recorder() -> (ScopeListener, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let listener: ScopeListener =
            Arc::new(move |s: &InvalidationScope| sink.lock().unwrap().push(s.target_id.clone()));
        (listener, seen)
    }

    #[test]
    fn publish_reaches_every_subscriber_and_is_ready_at_once() {
        let bc = InMemoryInvalidationBroadcaster::new();
        let (l1, seen1) = recorder();
        let (l2, seen2) = recorder();
        bc.subscribe(l1);
        bc.subscribe(l2);
        assert_eq!(bc.subscriber_count(), 2);
        let s = scope("s1");
        assert_eq!(bc.publish(&s).now_or_never(), Some(Ok(())));
        assert_eq!(*seen1.lock().unwrap(), vec!["s1"]);
        assert_eq!(*seen2.lock().unwrap(), vec!["s1"]);
        assert!(bc.is_in_process());
    }

    #[test]
    fn late_subscribers_miss_earlier_messages_and_unsubscribed_ones_hear_nothing() {
        let bc = InMemoryInvalidationBroadcaster::new();
        let s = scope("early");
        bc.publish(&s).now_or_never().unwrap().unwrap();
        let (l1, seen1) = recorder();
        let id = bc.subscribe(l1);
        let (l2, seen2) = recorder();
        bc.subscribe(l2);
        bc.unsubscribe(id);
        bc.unsubscribe(id);
        assert_eq!(bc.subscriber_count(), 1);
        let s = scope("late");
        bc.publish(&s).now_or_never().unwrap().unwrap();
        assert!(seen1.lock().unwrap().is_empty());
        assert_eq!(*seen2.lock().unwrap(), vec!["late"]);
    }

    #[test]
    fn a_panicking_listener_does_not_stop_the_others() {
        let bc = InMemoryInvalidationBroadcaster::new();
        let (before, seen_before) = recorder();
        let (after, seen_after) = recorder();
        bc.subscribe(before);
        bc.subscribe(Arc::new(|_: &InvalidationScope| panic!("listener bug")));
        bc.subscribe(after);
        assert_eq!(bc.deliver(&scope("s1")), 1);
        let s = scope("s2");
        assert_eq!(bc.publish(&s).now_or_never(), Some(Ok(())));
        assert_eq!(*seen_before.lock().unwrap(), vec!["s1", "s2"]);
        assert_eq!(*seen_after.lock().unwrap(), vec!["s1", "s2"]);
    }

    #[test]
    fn listeners_may_reenter_the_broadcaster() {
        let bc = Arc::new(InMemoryInvalidationBroadcaster::new());
        let (rec, seen) = recorder();
        bc.subscribe(rec);
        let inner = bc.clone();
        // A listener that re-publishes a derived scope once: no deadlock, both delivered.
        bc.subscribe(Arc::new(move |s: &InvalidationScope| {
            if s.target_id == "outer" {
                let derived = scope("inner");
                inner.publish(&derived).now_or_never().unwrap().unwrap();
                inner.subscriber_count();
            }
        }));
        let s = scope("outer");
        bc.publish(&s).now_or_never().unwrap().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec!["outer", "inner"]);
    }
}
