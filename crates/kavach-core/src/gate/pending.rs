//! The bound on evaluations in flight (`maxPendingEvaluations`). An asynchronous evaluation
//! takes a slot when it is submitted and gives it back when its verdict has been handed to
//! the caller (the binding drops the slot then), so callers that submit faster than the
//! stores answer (a stalled Redis, a saturated thread pool) cannot make the gate hold an
//! unbounded amount of work. At the bound a new evaluation is not started: the gate answers at
//! once with a Refuse `STORE_UNAVAILABLE` naming the limit (`Gate::admit`), as an unreachable
//! store does. Synchronous evaluations finish before they return and take no slot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Default bound per gate. A pending evaluation holds its context, its future, its queued
/// Redis command and, in Node, its promise: about 3.7 KiB of process memory each (measured on a
/// stopped Redis, docs/SECURITY.md), so the default keeps a stalled gate's backlog near 370 MiB.
pub const DEFAULT_MAX_PENDING: usize = 100_000;
/// The largest `maxPendingEvaluations` accepted.
pub const MAX_PENDING_LIMIT: usize = 1_000_000;

/// The count of one gate's evaluations in flight, and its bound.
pub struct PendingEvaluations {
    count: AtomicUsize,
    max: usize,
}

/// One admitted evaluation; its capacity comes back when this is dropped, on every path (the
/// verdict delivered, the evaluation failed, its future or its queue dropped).
pub struct PendingSlot(Arc<PendingEvaluations>);

impl PendingEvaluations {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            count: AtomicUsize::new(0),
            max,
        })
    }

    /// A slot, or `None` when `max` evaluations are already in flight. Exact under
    /// concurrency: the count never exceeds `max`.
    pub fn try_admit(self: &Arc<Self>) -> Option<PendingSlot> {
        // Relaxed: the count guards no other memory, only its own value matters.
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| PendingSlot(self.clone()))
    }

    /// Evaluations in flight now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn admits_up_to_the_bound_and_capacity_comes_back_on_drop() {
        let p = PendingEvaluations::new(3);
        let slots: Vec<_> = (0..3).map(|_| p.try_admit().unwrap()).collect();
        assert_eq!(p.count(), 3);
        assert!(p.try_admit().is_none());
        assert_eq!(p.count(), 3, "a refused admission leaves the count alone");
        drop(slots);
        assert_eq!(p.count(), 0);
        let again = p.try_admit();
        assert!(again.is_some());
        assert_eq!(p.count(), 1);
    }

    #[test]
    fn the_count_is_exact_when_slots_are_taken_and_dropped_on_many_threads() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 20_000;
        let p = PendingEvaluations::new(5);
        let admitted = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for _ in 0..ROUNDS {
                        if let Some(slot) = p.try_admit() {
                            assert!(p.count() <= 5, "over the bound: {}", p.count());
                            admitted.fetch_add(1, Ordering::Relaxed);
                            drop(slot);
                        }
                    }
                });
            }
        });
        assert_eq!(p.count(), 0);
        assert!(admitted.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn slots_moved_to_another_thread_give_capacity_back_there() {
        let p = PendingEvaluations::new(2);
        let a = p.try_admit().unwrap();
        let b = p.try_admit().unwrap();
        assert!(p.try_admit().is_none());
        std::thread::spawn(move || drop((a, b))).join().unwrap();
        assert_eq!(p.count(), 0);
        assert!(p.try_admit().is_some());
    }
}
