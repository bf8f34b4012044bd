//! The in-process stores: exact counts under contention, bounded memory, idle expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures::FutureExt;
use kavach_core::clock::ManualClock;
use kavach_core::session::SessionState;
use kavach_core::store::memory::{MemoryRateLimitStore, MemorySessionStore};
use kavach_core::store::{RateLimitStore, Recorded, SessionStore};

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
fn a_flood_of_new_rate_keys_refuses_no_one_and_memory_stays_bounded() {
    let clock = ManualClock::new(T0);
    let store = MemoryRateLimitStore::with_capacity(clock.clone(), 256);
    // A well-behaved key at its limit, and one under it that keeps hitting.
    for _ in 0..5 {
        store.record("at-limit", 60_000, Some(5)).unwrap();
    }
    for i in 0..4000 {
        clock.advance_ms(1);
        // Made-up keys, one hit each: every one is accepted (the least recently hit go).
        store.record(&format!("k{i}"), 60_000, Some(5)).unwrap();
        if i % 64 == 0 {
            store.record("steady", 60_000, Some(100)).unwrap();
        }
        assert!(store.len() <= 256, "{}", store.len());
    }
    // The refusing counter was never evicted: still over its limit.
    let h = store.record("at-limit", 60_000, Some(5)).unwrap();
    assert!(h.count > 5, "{h:?}");
    // The active key kept its exact count.
    assert_eq!(store.record("steady", 60_000, Some(100)).unwrap().count, 64);
    // An evicted key comes back with at least the count it had (never under-counted).
    let h = store.record("k0", 60_000, Some(5)).unwrap();
    assert!(h.count >= 2, "{h:?}");
}

#[test]
fn rate_store_refuses_new_keys_only_when_every_counter_is_refusing() {
    let clock = ManualClock::new(T0);
    // One key per shard: a new key in a shard whose only key is at its limit is refused.
    let store = MemoryRateLimitStore::with_capacity(clock.clone(), 16);
    let mut refused = None;
    for i in 0..200 {
        let key = format!("k{i}");
        match store.record(&key, 1_000, Some(1)) {
            Ok(_) => {
                store.record(&key, 1_000, Some(1)).unwrap();
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("a shard full of refusing counters refuses a new key");
    assert!(
        err.0.contains("at its bound (1 keys or") && err.0.contains("at its limit"),
        "{err}"
    );
    // Once the windows pass, idle keys go and new keys fit again.
    clock.advance_ms(1_001);
    for i in 0..4 {
        store.record(&format!("fresh{i}"), 1_000, Some(5)).unwrap();
    }
    assert!(store.len() <= 16);
}

#[test]
fn rate_store_is_bounded_in_bytes() {
    let clock = ManualClock::new(T0);
    let store = MemoryRateLimitStore::with_limits(clock.clone(), 1_000_000, 16 * 4096);
    let long = "x".repeat(2000);
    for i in 0..500 {
        clock.advance_ms(1);
        store
            .record(&format!("{long}{i}"), 60_000, Some(1000))
            .unwrap();
        assert!(store.bytes() <= 16 * 4096, "{}", store.bytes());
    }
    assert!(store.len() < 500);
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
                            matches!(
                                store
                                    .try_record_permit("s", Some(300))
                                    .now_or_never()
                                    .unwrap()
                                    .unwrap(),
                                Recorded::Counted(_)
                            )
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
        Recorded::Counted(301)
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

    // Past the bound, the least recently seen sessions make room: nothing is refused.
    for i in 0..500 {
        store
            .load_or_init(&format!("s{i}"), &seed(0))
            .now_or_never()
            .unwrap()
            .unwrap();
    }
    assert!(store.len() <= 32, "{}", store.len());
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

#[test]
fn a_flood_of_new_sessions_keeps_active_sessions_and_every_revocation() {
    let clock = ManualClock::new(T0);
    let store = MemorySessionStore::with_limits(clock.clone(), 256, 3600);
    let seed = |ip: &str| SessionState {
        started_at: 7,
        origin_ip: Some(ip.into()),
        ..SessionState::default()
    };
    let load = |id: &str, ip: &str| {
        store
            .load_or_init(id, &seed(ip))
            .now_or_never()
            .unwrap()
            .unwrap()
    };
    load("good", "10.0.0.1");
    let mut revoked = Vec::new();
    for i in 0..4000 {
        clock.advance_ms(1);
        let id = format!("made-up-{i}");
        // Every new session is accepted (no store-full refusal for anyone).
        load(&id, "10.9.9.9");
        if i % 2 == 0 {
            store
                .invalidate(&id, &"drift ".repeat(10_000))
                .now_or_never()
                .unwrap()
                .unwrap();
            revoked.push(id);
        }
        if i % 16 == 0 {
            // The well-behaved session stays active, so it is never the least recently seen.
            assert_eq!(
                load("good", "10.0.0.2").origin_ip.as_deref(),
                Some("10.0.0.1")
            );
        }
        assert!(store.len() <= 256);
    }
    assert!(store.revoked_overflowed() > 0);
    // No revocation was forgotten: every revoked id is still refused.
    for id in &revoked {
        let state = load(id, "10.9.9.9");
        assert!(state.invalidated.is_some(), "{id} came back unrevoked");
        assert!(state.invalidated.unwrap().len() <= 600);
    }
    // A new id that shares no slot with a revoked one starts a clean session.
    let fresh = (0..)
        .map(|i| format!("new-{i}"))
        .find(|n| !revoked.iter().any(|r| store.share_overflow_slot(n, r)))
        .unwrap();
    assert_eq!(load(&fresh, "10.1.1.1").invalidated, None);
}

#[test]
fn session_store_is_bounded_in_bytes() {
    let clock = ManualClock::new(T0);
    let store = MemorySessionStore::with_byte_limit(clock.clone(), 1_000_000, 3600, 16 * 8192);
    let big_ip = "1".repeat(4000);
    for i in 0..300 {
        clock.advance_ms(1);
        let seed = SessionState {
            origin_ip: Some(big_ip.clone()),
            ..SessionState::default()
        };
        store
            .load_or_init(&format!("s{i}"), &seed)
            .now_or_never()
            .unwrap()
            .unwrap();
        assert!(store.bytes() <= 16 * 8192, "{}", store.bytes());
    }
    assert!(store.len() < 300);
}
