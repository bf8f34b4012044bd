//! The in-process stores: exact counts under contention, bounded memory, idle expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures::FutureExt;
use kavach_core::clock::ManualClock;
use kavach_core::session::SessionState;
use kavach_core::store::memory::{MemoryRateLimitStore, MemorySessionStore};
use kavach_core::store::{RateLimitStore, SessionStore};

const T0: i64 = 1_768_478_400_000;

#[test]
fn rate_limiter_counts_exactly_under_contention() {
    let store = MemoryRateLimitStore::new(ManualClock::new(T0));
    let mut counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..1000)
                        .map(|_| {
                            store
                                .hit("k", 3_600_000)
                                .now_or_never()
                                .unwrap()
                                .unwrap()
                                .count
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=8000).collect::<Vec<u64>>(),
        "every hit saw a distinct count"
    );

    // Bounded: exactly `max` hits are within the limit, however many threads race.
    let within: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..500)
                        .filter(|_| {
                            let hit = store
                                .hit_bounded("b", 60_000, 250)
                                .now_or_never()
                                .unwrap()
                                .unwrap();
                            assert!(hit.count <= 251, "at most max + 1 timestamps kept");
                            hit.count <= 250
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(within, 250);
}

#[test]
fn sliding_window_and_frees_in() {
    let clock = ManualClock::new(T0);
    let store = MemoryRateLimitStore::new(clock.clone());
    let hit = |max| store.record("k", 10_000, Some(max)).unwrap();
    assert_eq!(hit(2).count, 1);
    clock.advance_ms(3_000);
    assert_eq!(hit(2).count, 2);
    clock.advance_ms(1_000);
    let h = hit(2); // t=4s: hits at 0, 3, 4 → over; the hit at 3s must leave (t=13s).
    assert_eq!((h.count, h.frees_in_ms), (3, 9_000));
    clock.advance_ms(6_000); // t=10s: the hit at 0 left; 3, 4, 10 remain.
    assert_eq!(hit(2).count, 3);
    clock.advance_ms(10_000); // t=20s: only the hit at 10s... left at exactly 20s.
    assert_eq!(hit(2).count, 1);
    // Plain `hit`: frees_in is when the oldest hit leaves.
    let h = store.record("p", 10_000, None).unwrap();
    assert_eq!((h.count, h.frees_in_ms), (1, 10_000));
}

#[test]
fn rate_keys_are_bounded_and_idle_keys_dropped() {
    let clock = ManualClock::new(T0);
    let store = MemoryRateLimitStore::with_capacity(clock.clone(), 64);
    let mut refused = 0;
    for i in 0..1000 {
        if store.record(&format!("k{i}"), 1_000, Some(5)).is_err() {
            refused += 1;
        }
    }
    assert!(store.len() <= 64, "{}", store.len());
    assert!(refused >= 1000 - 64);
    let err = store.record("new-key", 1_000, Some(5)).unwrap_err();
    assert!(err.0.contains("full"), "{err}");
    // Once their windows pass, idle keys go and new keys fit again (4 keys fit even if they
    // all land in one shard: 64 keys over 16 shards).
    clock.advance_ms(1_001);
    for i in 0..4 {
        store.record(&format!("fresh{i}"), 1_000, Some(5)).unwrap();
    }
    assert!(store.len() <= 64);
    // A key already present keeps counting even when the store is full.
    assert!(store.record("fresh0", 1_000, Some(5)).is_ok());
}

#[test]
fn session_permits_are_atomic_with_the_limit() {
    let store = MemorySessionStore::new(ManualClock::new(T0));
    let seed = SessionState::default();
    store
        .load_or_init("s", &seed)
        .now_or_never()
        .unwrap()
        .unwrap();
    let granted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..100)
                        .filter(|_| {
                            store
                                .try_record_permit("s", Some(300))
                                .now_or_never()
                                .unwrap()
                                .unwrap()
                                .is_some()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(granted, 300);
    assert_eq!(store.get("s").unwrap().action_count, 300);
    // Without a limit every call counts.
    assert_eq!(
        store
            .try_record_permit("s", None)
            .now_or_never()
            .unwrap()
            .unwrap(),
        Some(301)
    );
}

#[test]
fn sessions_expire_when_idle_and_are_bounded() {
    let clock = ManualClock::new(T0);
    let store = MemorySessionStore::with_limits(clock.clone(), 32, 60);
    let seed = |started_at| SessionState {
        started_at,
        origin_ip: Some("10.0.0.1".into()),
        ..SessionState::default()
    };
    let s = store
        .load_or_init("a", &seed(1))
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(s.started_at, 1);
    // A later seed does not overwrite live state.
    let s = store
        .load_or_init("a", &seed(2))
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(s.started_at, 1);
    store
        .invalidate("a", "drift")
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get("a").unwrap().invalidated.as_deref(),
        Some("drift")
    );
    clock.advance_ms(60_000);
    assert!(
        store.get("a").is_some(),
        "idle for exactly the TTL: still live"
    );
    clock.advance_ms(60_001);
    assert!(
        store.get("a").is_some(),
        "a revoked session outlives the idle TTL, so its id cannot start afresh"
    );
    clock.advance_ms(kavach_core::store::memory::REVOKED_RETENTION_MS);
    assert!(store.get("a").is_none(), "revoked and idle past 24 h: gone");
    store
        .load_or_init("b", &seed(1))
        .now_or_never()
        .unwrap()
        .unwrap();
    clock.advance_ms(60_001);
    assert!(store.get("b").is_none(), "idle past the TTL: gone");
    let s = store
        .load_or_init("a", &seed(3))
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!((s.started_at, s.invalidated), (3, None));

    let mut full = 0;
    for i in 0..500 {
        if store
            .load_or_init(&format!("s{i}"), &seed(0))
            .now_or_never()
            .unwrap()
            .is_err()
        {
            full += 1;
        }
    }
    assert!(
        store.len() <= 32 && full >= 500 - 32,
        "{} {full}",
        store.len()
    );
    clock.advance_ms(61_000);
    // Capacity is per shard (32 over 16 shards = 2 each) and keys hash to random shards, so
    // only 2 new sessions are guaranteed to fit whatever shards they land in.
    for i in 0..2 {
        store
            .load_or_init(&format!("t{i}"), &seed(0))
            .now_or_never()
            .unwrap()
            .unwrap();
    }
    assert!(
        store.is_in_process()
            && RateLimitStore::is_in_process(&MemoryRateLimitStore::new(Arc::new(
                kavach_core::clock::SystemClock
            )))
    );
}
