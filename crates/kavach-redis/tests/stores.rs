//! Against the real Redis on 127.0.0.1:6379 (and throwaway servers on spare ports).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{raw, unique, Server, URL};
use kavach_core::invalidation::InvalidationBroadcaster;
use kavach_core::session::SessionState;
use kavach_core::store::{RateHit, RateLimitStore, Recorded, SessionStore};
use kavach_core::{DeviceFingerprint, GeoLocation, InvalidationScope, ScopeKind};
use kavach_redis::{
    ConnectOptions, RedisBroadcaster, RedisRateLimitStore, RedisSessionStore, RedisStoreError,
};
use redis::AsyncCommands;

/// `CLIENT PAUSE <ms> WRITE`: the server holds every write (our scripts) for `ms`.
async fn pause_writes(admin: &mut redis::aio::MultiplexedConnection, ms: u64) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("WRITE")
        .query_async(admin)
        .await
        .unwrap();
}

/// A rate-limit store on the shared server under a prefix of its own.
async fn rate_store(name: &str) -> RedisRateLimitStore {
    RedisRateLimitStore::connect(URL, Some(&unique(name)), ConnectOptions::default())
        .await
        .unwrap()
}

fn fast() -> ConnectOptions {
    ConnectOptions {
        command_timeout: Duration::from_millis(500),
        ..ConnectOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hits_from_several_stores_count_exactly() {
    let prefix = unique("rl");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(
            RedisRateLimitStore::connect(URL, Some(&prefix), ConnectOptions::default())
                .await
                .unwrap(),
        ));
    }
    let mut tasks = Vec::new();
    for i in 0..400 {
        let s = stores[i % 4].clone();
        tasks.push(tokio::spawn(async move {
            s.hit("p:agent:refund", 60_000).await
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap().unwrap().count);
    }
    counts.sort_unstable();
    // Every hit saw a distinct position in one sequence: 1..=400.
    assert_eq!(counts, (1..=400).collect::<Vec<u64>>());
    assert_eq!(counts.iter().filter(|c| **c <= 100).count(), 100);

    let key = stores[0].key_for("p:agent:refund");
    assert_eq!(key, format!("kavach:{prefix}:rl:{{p:agent:refund}}"));
    let mut c = raw(URL).await;
    // The window is a list of server timestamps in microseconds, oldest first.
    let stamps: Vec<String> = c.lrange(&key, 0, -1).await.unwrap();
    assert_eq!(stamps.len(), 400);
    let micros: Vec<u64> = stamps.iter().map(|s| s.parse().unwrap()).collect();
    assert!(micros.windows(2).all(|w| w[0] <= w[1]), "not in order");
    let (server_s, _): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    assert!(micros[0] / 1_000_000 <= server_s && micros[0] / 1_000_000 + 60 > server_s);
    let pttl: i64 = c.pttl(&key).await.unwrap();
    assert!(pttl > 55_000 && pttl <= 61_000, "pttl {pttl}");
    let _: () = c.del(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_window_keeps_max_plus_one_entries() {
    let s = Arc::new(rate_store("bounded").await);
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.hit_bounded("k", 60_000, 100).await
        }));
    }
    let mut within = 0;
    let mut counts = Vec::new();
    for t in tasks {
        let hit = t.await.unwrap().unwrap();
        counts.push(hit.count);
        assert!(hit.count <= 101);
        if hit.count <= 100 {
            within += 1;
        } else {
            // Over the limit: a slot frees when the 2nd-oldest kept hit leaves the window.
            assert!(hit.frees_in_ms > 0 && hit.frees_in_ms <= 60_000, "{hit:?}");
        }
    }
    assert_eq!(within, 100);
    // Exactly what 300 hits one after another would have seen: 1..=100, then 101 each time.
    counts.sort_unstable();
    let expected: Vec<u64> = (1..=100).chain(std::iter::repeat_n(101, 200)).collect();
    assert_eq!(counts, expected);
    let mut c = raw(URL).await;
    let len: u64 = c.llen(s.key_for("k")).await.unwrap();
    assert_eq!(len, 101);
    let _: () = c.del(s.key_for("k")).await.unwrap();
}

#[tokio::test]
async fn the_window_slides_on_the_server_clock() {
    let s = rate_store("slide").await;
    let first = s.hit("k", 300).await.unwrap();
    assert_eq!(first.count, 1);
    assert!(first.frees_in_ms > 0 && first.frees_in_ms <= 300);
    assert_eq!(s.hit("k", 300).await.unwrap().count, 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(s.hit("k", 300).await.unwrap().count, 1);
    let err = s.hit_window("k", 0, None).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}

/// After a hit: the list's entries (µs stamps) and its PTTL.
async fn window_state(c: &mut redis::aio::MultiplexedConnection, key: &str) -> (Vec<u64>, i64) {
    let stamps: Vec<String> = c.lrange(key, 0, -1).await.unwrap();
    let pttl: i64 = c.pttl(key).await.unwrap();
    (stamps.iter().map(|s| s.parse().unwrap()).collect(), pttl)
}

#[tokio::test]
async fn expired_entries_linger_a_few_calls_but_never_count() {
    let s = rate_store("linger").await;
    let key = s.key_for("k");
    let mut c = raw(URL).await;
    // A plain hit (no limit) always counts exactly.
    for expected in 1..=3 {
        assert_eq!(s.hit("k", 1_000).await.unwrap().count, expected);
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The 3 expired entries stay (fewer than 4 to trim) but are not counted.
    let hit = s.hit("k", 1_000).await.unwrap();
    assert_eq!(hit.count, 1);
    assert!(hit.frees_in_ms > 900 && hit.frees_in_ms <= 1_000, "{hit:?}");
    assert_eq!(s.hit("k", 1_000).await.unwrap().count, 2);
    let (stamps, pttl) = window_state(&mut c, &key).await;
    assert_eq!(stamps.len(), 5);
    // The expiry follows the newest hit on every call, trimmed or not.
    assert!(pttl > 1_900 && pttl <= 2_000, "pttl {pttl}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // 5 expired: all removed by this call.
    assert_eq!(s.hit("k", 1_000).await.unwrap().count, 1);
    assert_eq!(window_state(&mut c, &key).await.0.len(), 1);

    // Hits at uneven gaps on a 300 ms window with a limit of 5. A hit that could be at or over
    // the limit counts the entries within the window of its own stamp (the newest) exactly;
    // one that is under it whatever has expired may count the whole list (fewer than 5). At
    // most 3 expired entries linger after a look, 4 after a call that did not look, and the
    // key outlives the newest hit's window.
    let gaps_ms = [
        0, 0, 40, 0, 130, 0, 0, 260, 0, 70, 0, 0, 0, 0, 0, 0, 320, 10, 90, 0,
    ];
    for (i, gap) in gaps_ms.iter().cycle().take(60).enumerate() {
        tokio::time::sleep(Duration::from_millis(*gap)).await;
        let hit = s.hit_bounded("uneven", 300, 5).await.unwrap();
        let (stamps, pttl) = window_state(&mut c, &s.key_for("uneven")).await;
        let newest = *stamps.last().unwrap();
        let live = stamps.iter().filter(|t| **t + 300_000 > newest).count() as u64;
        let listed = stamps.len() as u64;
        if listed < 5 {
            assert!(
                hit.count == live || hit.count == listed,
                "hit {i}: {stamps:?}"
            );
        } else {
            assert_eq!(hit.count, live, "hit {i}: {stamps:?}");
        }
        assert!(hit.count <= 6, "hit {i}");
        if hit.count > 5 {
            // Over the limit: a slot frees when the 2nd-oldest entry in the window leaves it.
            let in_window: Vec<u64> = stamps
                .iter()
                .copied()
                .filter(|t| t + 300_000 > newest)
                .collect();
            let frees = (in_window[1] + 300_000 - newest).div_ceil(1_000);
            assert_eq!(hit.frees_in_ms, frees, "hit {i}: {stamps:?}");
        }
        assert!(listed - live <= 3 || listed < 5, "hit {i}: {stamps:?}");
        assert!(pttl > 1_000, "hit {i}: pttl {pttl}");
    }
    let _: () = c.del(&[key, s.key_for("uneven")]).await.unwrap();
}

#[tokio::test]
async fn a_bounded_hit_under_its_limit_skips_the_count_yet_expired_hits_never_refuse() {
    let s = rate_store("skip").await;
    let mut c = raw(URL).await;

    // Limit 3: the first two hits are under it whatever has expired (count = the list's
    // length, frees 0); the third could reach it and is counted exactly.
    for expected in 1..=2 {
        let hit = s.hit_bounded("k", 300, 3).await.unwrap();
        assert_eq!((hit.count, hit.frees_in_ms), (expected, 0));
    }
    let third = s.hit_bounded("k", 300, 3).await.unwrap();
    assert_eq!(third.count, 3);
    assert!(
        third.frees_in_ms > 0 && third.frees_in_ms <= 300,
        "{third:?}"
    );
    assert!(s.hit_bounded("k", 300, 3).await.unwrap().count > 3);
    tokio::time::sleep(Duration::from_millis(350)).await;
    // 4 entries in the list, all expired: a hit at the limit looks, and counts only itself.
    let after = s.hit_bounded("k", 300, 3).await.unwrap();
    assert_eq!(after.count, 1, "{after:?}");

    // Limit 100, two hits, then both expire: the next one is under the limit even counting
    // them, so it does not look; it reports the list's length, an upper bound.
    s.hit_bounded("up", 300, 100).await.unwrap();
    s.hit_bounded("up", 300, 100).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let hit = s.hit_bounded("up", 300, 100).await.unwrap();
    assert_eq!((hit.count, hit.frees_in_ms), (3, 0));
    // Every 32nd push tidies: the expired entries go, and the count is exact again.
    for _ in 0..28 {
        s.hit_bounded("up", 300, 100).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let tidy = s.hit_bounded("up", 300, 100).await.unwrap();
    assert_eq!(tidy.count, 1, "{tidy:?}");
    let (stamps, _) = window_state(&mut c, &s.key_for("up")).await;
    assert_eq!(stamps.len(), 1);
    let _: () = c.del(&[s.key_for("k"), s.key_for("up")]).await.unwrap();
}

/// `n` concurrent bounded hits on one key (limit 50, 400 ms window): they share script calls,
/// so the script records them in groups of several hits.
async fn burst(s: &Arc<RedisRateLimitStore>, n: usize) -> Vec<RateHit> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.hit_bounded("k", 400, 50).await.unwrap() })
        })
        .collect();
    let mut hits = Vec::new();
    for t in tasks {
        hits.push(t.await.unwrap());
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_after_expiry_refuse_exactly_the_hits_over_the_limit() {
    let s = Arc::new(rate_store("bursts").await);
    let within = |hits: &[RateHit]| hits.iter().filter(|h| h.count <= 50).count();
    assert_eq!(within(&burst(&s, 40).await), 40);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The first 40 have expired: 40 more are all within, though the list held 80 entries
    // before anything was trimmed (groups that do not look count them, under 50).
    assert_eq!(within(&burst(&s, 40).await), 40);
    // 20 more at once: 60 hits in the window, so exactly 10 of these are over.
    let third = burst(&s, 20).await;
    assert_eq!(within(&third), 10, "{third:?}");
    assert!(third.iter().all(|h| h.count <= 51));
    let mut c = raw(URL).await;
    let len: u64 = c.llen(s.key_for("k")).await.unwrap();
    assert!(len <= 51, "{len} entries kept");
    let _: () = c.del(s.key_for("k")).await.unwrap();
}

fn seed(ip: &str) -> SessionState {
    SessionState {
        started_at: 1_700_000_000,
        origin_ip: Some(ip.into()),
        origin_geo: Some(GeoLocation {
            country_code: "IN".into(),
            region: None,
            city: Some("Bengaluru".into()),
            latitude: Some(12.97),
            longitude: Some(77.59),
        }),
        origin_device: Some(DeviceFingerprint {
            hash: "dev-1".into(),
            description: Some("laptop".into()),
        }),
        action_count: 0,
        invalidated: None,
    }
}

#[tokio::test]
async fn sessions_are_initialised_once_and_shared() {
    let prefix = unique("sess");
    let a = RedisSessionStore::connect(URL, 600, Some(&prefix), ConnectOptions::default())
        .await
        .unwrap();
    let b = RedisSessionStore::connect(URL, 600, Some(&prefix), ConnectOptions::default())
        .await
        .unwrap();
    let first = a.load_or_init("s-1", &seed("10.0.0.1")).await.unwrap();
    assert_eq!(first, seed("10.0.0.1"));
    // Another replica's seed does not overwrite the origin.
    let seen_by_b = b.load_or_init("s-1", &seed("10.9.9.9")).await.unwrap();
    assert_eq!(seen_by_b.origin_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(seen_by_b.origin_geo, first.origin_geo);
    assert_eq!(seen_by_b.origin_device, first.origin_device);

    let key = a.key_for("s-1");
    assert_eq!(key, format!("kavach:{prefix}:sess:{{s-1}}"));
    let mut c = raw(URL).await;
    let ttl: i64 = c.ttl(&key).await.unwrap();
    assert!(ttl > 590 && ttl <= 600, "ttl {ttl}");
    let ip: String = c.hget(&key, "origin_ip").await.unwrap();
    assert_eq!(ip, "10.0.0.1");
    let geo: String = c.hget(&key, "origin_geo").await.unwrap();
    let geo: serde_json::Value = serde_json::from_str(&geo).unwrap();
    assert_eq!(geo["countryCode"], "IN");
    assert_eq!(geo["city"], "Bengaluru");

    b.invalidate("s-1", "geo drift").await.unwrap();
    b.invalidate("s-1", "second reason").await.unwrap();
    let after = a.load_or_init("s-1", &seed("10.0.0.1")).await.unwrap();
    assert_eq!(after.invalidated.as_deref(), Some("geo drift"));
    // A revoked session outlives the 600 s idle TTL (24 h), so its id cannot start afresh.
    let ttl: i64 = c.ttl(&key).await.unwrap();
    assert!(ttl > 86_000 && ttl <= 86_400, "revoked session ttl {ttl}");

    // A revocation written before the session was ever loaded survives the first load.
    a.invalidate("s-never-seen", "revoked early").await.unwrap();
    let late = b
        .load_or_init("s-never-seen", &seed("10.0.0.2"))
        .await
        .unwrap();
    assert_eq!(late.invalidated.as_deref(), Some("revoked early"));
    assert_eq!(late.origin_ip.as_deref(), Some("10.0.0.2"));
    let _: () = c.del(&[key, a.key_for("s-never-seen")]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_permits_never_pass_the_session_cap() {
    let prefix = unique("cap");
    let s = Arc::new(
        RedisSessionStore::connect(URL, 60, Some(&prefix), ConnectOptions::default())
            .await
            .unwrap(),
    );
    s.load_or_init("s", &seed("10.0.0.1")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.try_record_permit("s", Some(50)).await
        }));
    }
    let mut granted = 0;
    for t in tasks {
        if matches!(t.await.unwrap().unwrap(), Recorded::Counted(_)) {
            granted += 1;
        }
    }
    assert_eq!(granted, 50);
    let state = s.load_or_init("s", &seed("10.0.0.1")).await.unwrap();
    assert_eq!(state.action_count, 50);
    assert_eq!(
        s.try_record_permit("s", None).await.unwrap(),
        Recorded::Counted(51)
    );
}

fn scope(kind: ScopeKind, id: &str) -> InvalidationScope {
    InvalidationScope {
        target_kind: kind,
        target_id: id.into(),
        reason: "ip changed from 10.0.0.1 to 10.9.9.9".into(),
        evaluator: "drift".into(),
    }
}

async fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_every_replica_and_write_the_session() {
    let channel = unique("chan");
    let prefix = unique("bc");
    let a = RedisBroadcaster::connect(URL, Some(&channel), ConnectOptions::default())
        .await
        .unwrap();
    let b = RedisBroadcaster::connect(URL, Some(&channel), ConnectOptions::default())
        .await
        .unwrap();
    let sessions = Arc::new(
        RedisSessionStore::connect(URL, 60, Some(&prefix), ConnectOptions::default())
            .await
            .unwrap(),
    );
    a.attach_session_store(sessions.clone());

    // An independent subscriber sees the exact wire JSON.
    let client = redis::Client::open(URL).unwrap();
    let mut ps = client.get_async_pubsub().await.unwrap();
    ps.subscribe(&channel).await.unwrap();

    let heard_a = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let heard_b = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let ha = heard_a.clone();
    a.subscribe(Arc::new(move |s: &InvalidationScope| {
        ha.lock().push(s.clone())
    }));
    let hb = heard_b.clone();
    let id_b = b.subscribe(Arc::new(move |s: &InvalidationScope| {
        hb.lock().push(s.clone())
    }));
    assert_eq!(a.subscriber_count(), 1);

    a.publish(&scope(ScopeKind::Session, "s-9")).await.unwrap();
    wait_for(
        || heard_a.lock().len() == 1 && heard_b.lock().len() == 1,
        "delivery",
    )
    .await;
    assert_eq!(heard_b.lock()[0], scope(ScopeKind::Session, "s-9"));
    assert_eq!(heard_a.lock()[0], scope(ScopeKind::Session, "s-9"));

    let msg = tokio::time::timeout(
        Duration::from_secs(2),
        futures::StreamExt::next(&mut ps.on_message()),
    )
    .await
    .unwrap()
    .unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
    // When the scope leaves the revocation log: now + 3600 s on the server's clock.
    let expires = json["expires_at_ms"].as_i64().unwrap();
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!((expires - now_ms - 3_600_000).abs() < 60_000, "{expires}");
    json.as_object_mut().unwrap().remove("expires_at_ms");
    assert_eq!(
        json,
        serde_json::json!({"target_kind": "session", "target_id": "s-9",
            "reason": "ip changed from 10.0.0.1 to 10.9.9.9", "evaluator": "drift", "origin": a.origin()})
    );

    // The attached session store holds the revocation for replicas that missed the message.
    let state = sessions
        .load_or_init("s-9", &seed("10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(
        state.invalidated.as_deref(),
        Some("ip changed from 10.0.0.1 to 10.9.9.9")
    );

    b.unsubscribe(id_b);
    b.publish(&scope(ScopeKind::Principal, "agent-7"))
        .await
        .unwrap();
    wait_for(|| heard_a.lock().len() == 2, "principal scope").await;
    assert_eq!(heard_a.lock()[1].target_kind, ScopeKind::Principal);
    assert_eq!(heard_b.lock().len(), 1);

    a.close();
    assert!(a.publish(&scope(ScopeKind::Role, "x")).await.is_err());
    b.close();
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_fail_at_connect() {
    let err =
        RedisRateLimitStore::connect("http://127.0.0.1:6379", None, ConnectOptions::default())
            .await
            .err()
            .unwrap();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    let err = RedisRateLimitStore::connect(URL, Some("a b"), ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_ARGUMENT");

    // Nothing listens: refused at once.
    let port = common::spare_port();
    let url = format!("redis://127.0.0.1:{port}");
    let err = RedisSessionStore::connect(&url, 60, None, ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "STORE_UNAVAILABLE");

    // A socket that accepts and never answers: the 5 s connect timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let started = std::time::Instant::now();
    let err = RedisBroadcaster::connect(&url, None, ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "redis connect timed out after 5s");
    assert_eq!(err.code(), "STORE_UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_secs(7));
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_refuse_during_an_outage_and_recover_after() {
    let port = common::spare_port();
    let mut server = Server::start(port, &[]).await;
    let url = server.url();
    let rl = RedisRateLimitStore::connect(&url, Some("outage"), fast())
        .await
        .unwrap();
    let bc = RedisBroadcaster::connect(&url, Some("outage-chan"), fast())
        .await
        .unwrap();
    let heard = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = heard.clone();
    bc.subscribe(Arc::new(move |_: &InvalidationScope| {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    assert_eq!(rl.hit("k", 60_000).await.unwrap().count, 1);

    server.kill();
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let err = rl.hit("k", 60_000).await.unwrap_err();
        assert!(!err.0.is_empty());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(bc.publish(&scope(ScopeKind::Session, "s")).await.is_err());

    let _server = Server::start(port, &[]).await;
    let mut recovered = None;
    for _ in 0..100 {
        if let Ok(hit) = rl.hit("k", 60_000).await {
            recovered = Some(hit);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The restarted server is empty (no persistence): counting starts over.
    assert_eq!(recovered.unwrap().count, 1);
    // The subscription came back by itself too, and the publish that failed during the outage
    // went out once Redis answered: the broadcaster kept it.
    wait_for(|| bc.is_subscribed(), "resubscription").await;
    wait_for(
        || heard.load(std::sync::atomic::Ordering::SeqCst) == 1 && bc.unsent() == 0,
        "the kept scope to be published after restart",
    )
    .await;
    bc.publish(&scope(ScopeKind::Session, "s")).await.unwrap();
    wait_for(
        || heard.load(std::sync::atomic::Ordering::SeqCst) == 2,
        "delivery after restart",
    )
    .await;
    bc.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_times_out_and_killed_connections_recover() {
    let port = common::spare_port();
    let server = Server::start(port, &[]).await;
    let url = server.url();
    let rl = RedisRateLimitStore::connect(&url, Some("pause"), fast())
        .await
        .unwrap();
    let bc = RedisBroadcaster::connect(&url, Some("pause-chan"), fast())
        .await
        .unwrap();
    let heard = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = heard.clone();
    bc.subscribe(Arc::new(move |_: &InvalidationScope| {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    let mut admin = raw(&url).await;
    assert_eq!(rl.hit("k", 60_000).await.unwrap().count, 1);

    pause_writes(&mut admin, 1500).await;
    let err = rl.hit_window("k", 60_000, None).await.unwrap_err();
    assert_eq!(
        err,
        RedisStoreError::CommandTimeout(Duration::from_millis(500))
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let mut ok = false;
    for _ in 0..40 {
        if rl.hit("k", 60_000).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "no recovery after CLIENT PAUSE");

    // Kill every other client connection (ours included): both stores reconnect.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .unwrap();
    let mut ok = false;
    for _ in 0..40 {
        if rl.hit("k", 60_000).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "no recovery after CLIENT KILL");
    wait_for(|| bc.is_subscribed(), "resubscription").await;
    let mut delivered = false;
    for _ in 0..40 {
        if bc.publish(&scope(ScopeKind::Session, "s")).await.is_ok() {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered);
    wait_for(
        || heard.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "delivery after kill",
    )
    .await;
    bc.close();
    drop(server);
}

/// `INFO commandstats` calls of EVALSHA plus EVAL: how many script runs the server did.
async fn script_calls(c: &mut redis::aio::MultiplexedConnection) -> u64 {
    command_calls(c, "evalsha").await + command_calls(c, "eval").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hits_share_script_calls_and_stay_exact() {
    // A server of its own, so the script-call count is ours alone.
    let server = Server::start(common::spare_port(), &[]).await;
    let url = server.url();
    let s = Arc::new(
        RedisRateLimitStore::connect(&url, Some("coalesce"), ConnectOptions::default())
            .await
            .unwrap(),
    );
    let mut c = raw(&url).await;
    let before = script_calls(&mut c).await;
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.hit_bounded("hot", 60_000, 120).await
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap().unwrap().count);
    }
    let calls = script_calls(&mut c).await - before;
    counts.sort_unstable();
    let expected: Vec<u64> = (1..=120).chain(std::iter::repeat_n(121, 380)).collect();
    assert_eq!(counts, expected);
    // Hits that arrived while a call was in flight went out together.
    assert!(
        (2..500).contains(&calls),
        "{calls} script calls for 500 hits"
    );
    let len: u64 = c.llen(s.key_for("hot")).await.unwrap();
    assert_eq!(len, 121);

    // On a single server, hits for different keys share calls too; each key keeps its own
    // count.
    let before = script_calls(&mut c).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            (
                i % 8,
                s.hit_bounded(&format!("k{}", i % 8), 60_000, 5).await,
            )
        }));
    }
    let mut permitted = [0u32; 8];
    for t in tasks {
        let (k, hit) = t.await.unwrap();
        let hit = hit.unwrap();
        assert!(hit.count <= 6);
        if hit.count <= 5 {
            permitted[k] += 1;
        }
    }
    assert_eq!(permitted, [5; 8]);
    let calls = script_calls(&mut c).await - before;
    assert!(
        (1..200).contains(&calls),
        "{calls} script calls for 200 hits"
    );
    for k in 0..8 {
        let len: u64 = c.llen(s.key_for(&format!("k{k}"))).await.unwrap();
        assert_eq!(len, 6);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_queued_behind_a_failed_call_fail_with_it() {
    let server = Server::start(common::spare_port(), &[]).await;
    let url = server.url();
    let s = Arc::new(
        RedisRateLimitStore::connect(&url, Some("queued"), fast())
            .await
            .unwrap(),
    );
    let mut admin = raw(&url).await;
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 1);
    pause_writes(&mut admin, 1500).await;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.hit_window("k", 60_000, Some(10)).await
        }));
    }
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert_eq!(
            err,
            RedisStoreError::CommandTimeout(Duration::from_millis(500))
        );
    }
    // Nothing hangs (a bound for hangs, with slack for a busy machine, not a speed check).
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // After the pause the same key answers again; nothing queued was lost or double counted.
    let mut hit = None;
    for _ in 0..40 {
        if let Ok(h) = s.hit_window("k", 60_000, Some(10)).await {
            hit = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let count = hit.expect("no recovery after CLIENT PAUSE").count;
    assert!(count >= 2, "count {count}");
}

/// `calls=` of `cmdstat_<name>` in `INFO commandstats` (0 when the command never ran).
async fn command_calls(c: &mut redis::aio::MultiplexedConnection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{name}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_lost_the_script_gets_its_source_once_and_counts_on() {
    // A server of its own: SCRIPT FLUSH and the command counts must not touch other tests.
    let server = Server::start(common::spare_port(), &[]).await;
    let url = server.url();
    let s = RedisRateLimitStore::connect(&url, Some("noscript"), ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 1);
    let mut c = raw(&url).await;
    // As after a restart, or a failover to a replica that never ran the script.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut c)
        .await
        .unwrap();
    // The first call after the flush is answered NOSCRIPT and resent with the source; the
    // count goes on where it was, and later calls use the cached script again.
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 2);
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 3);
    assert_eq!(command_calls(&mut c, "eval").await, 1);
    assert!(command_calls(&mut c, "evalsha").await >= 1);
    s.close();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_with_a_password_and_a_database_count_in_that_database() {
    let server = Server::start(common::spare_port(), &[]).await;
    let port = server.port;
    let mut admin = raw(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query_async(&mut admin)
        .await
        .unwrap();
    let url = format!("redis://:s3cret@127.0.0.1:{port}/3");
    let s = RedisRateLimitStore::connect(&url, Some("auth"), ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 1);
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 2);
    // A user name too (Redis 6 ACL form), same database, same window.
    let with_user = format!("redis://default:s3cret@127.0.0.1:{port}/3");
    let s2 = RedisRateLimitStore::connect(&with_user, Some("auth"), ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(s2.hit("k", 60_000).await.unwrap().count, 3);

    let key = s.key_for("k");
    let mut db3 = raw(&url).await;
    assert_eq!(db3.llen::<_, i64>(&key).await.unwrap(), 3);
    let mut db0 = raw(&format!("redis://:s3cret@127.0.0.1:{port}/0")).await;
    assert!(
        !db0.exists::<_, bool>(&key).await.unwrap(),
        "written to db 0"
    );

    let wrong = format!("redis://:nope@127.0.0.1:{port}/3");
    let err = RedisRateLimitStore::connect(&wrong, Some("auth"), ConnectOptions::default())
        .await
        .err()
        .expect("a wrong password must not connect");
    assert_eq!(err.code(), "STORE_UNAVAILABLE", "{err}");
    assert!(!err.to_string().contains("nope"), "{err}");
    s.close();
    s2.close();
    drop(server);
}

/// Client connections the server has open, the caller's own included.
async fn connected_clients(c: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(c)
        .await
        .unwrap();
    list.lines().filter(|l| !l.trim().is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_rate_store_refuses_and_releases_its_connections() {
    let server = Server::start(common::spare_port(), &[]).await;
    let mut admin = raw(&server.url()).await;
    let alone = connected_clients(&mut admin).await;
    let s = RedisRateLimitStore::connect(&server.url(), Some("close"), fast())
        .await
        .unwrap();
    assert_eq!(s.hit("k", 60_000).await.unwrap().count, 1);
    assert!(connected_clients(&mut admin).await > alone);
    s.close();
    let err = s.hit_window("k", 60_000, None).await.unwrap_err();
    assert_eq!(err, RedisStoreError::Closed);
    // Nothing reconnects behind the closed store, and what it had is let go.
    let mut released = false;
    for _ in 0..40 {
        if connected_clients(&mut admin).await == alone {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(released, "connections left open after close()");
    drop(server);
}

/// A session invalidated after an evaluation loaded it (by another replica, say) records no
/// permit for that evaluation: the count and the invalidation are one atomic step.
#[tokio::test]
async fn no_permit_is_recorded_for_a_session_once_it_is_invalidated() {
    let prefix = unique("inv-record");
    let s = RedisSessionStore::connect(URL, 60, Some(&prefix), ConnectOptions::default())
        .await
        .unwrap();
    s.load_or_init("s", &seed("10.0.0.1")).await.unwrap();
    assert_eq!(
        s.try_record_permit("s", None).await.unwrap(),
        Recorded::Counted(1)
    );
    s.invalidate("s", "hijacked").await.unwrap();
    for limit in [None, Some(50)] {
        assert_eq!(
            s.try_record_permit("s", limit).await.unwrap(),
            Recorded::Invalidated
        );
    }
    let state = s.load_or_init("s", &seed("10.0.0.1")).await.unwrap();
    assert_eq!(state.action_count, 1);
    let mut c = redis::Client::open(URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = c.del(s.key_for("s")).await.unwrap();
}
