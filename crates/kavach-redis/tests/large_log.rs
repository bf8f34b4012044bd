//! A revocation log larger than the broadcaster's per-kind mirror, as a flood of session scopes
//! (one drift trip per session) produces: a replica that starts or resubscribes afterwards still
//! refuses the principals revoked before the flood, reads the log within its deadlines, and
//! keeps its subscription. Against throwaway redis-server processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{raw, spare_port, Server};
use kavach_core::invalidation::InvalidationBroadcaster;
use kavach_core::{InvalidationScope, ScopeKind};
use kavach_redis::{BroadcasterOptions, ConnectOptions, RedisBroadcaster};
use parking_lot::Mutex;

/// More session scopes than the mirror keeps per kind (100,000).
const FLOOD: usize = 101_000;

fn opts() -> BroadcasterOptions {
    BroadcasterOptions {
        channel: Some("flood-chan".into()),
        prefix: Some("flood".into()),
        revocation_ttl_seconds: 3600,
    }
}

fn principal(id: &str) -> InvalidationScope {
    InvalidationScope {
        target_kind: ScopeKind::Principal,
        target_id: id.into(),
        reason: "key leaked".into(),
        evaluator: "security".into(),
    }
}

type Heard = Arc<Mutex<Vec<InvalidationScope>>>;

fn listen(bc: &RedisBroadcaster) -> Heard {
    let heard: Heard = Arc::default();
    let h = heard.clone();
    bc.subscribe(Arc::new(move |s: &InvalidationScope| {
        h.lock().push(s.clone())
    }));
    heard
}

fn heard_principal(heard: &Heard, id: &str) -> bool {
    heard
        .lock()
        .iter()
        .any(|s| s.target_kind == ScopeKind::Principal && s.target_id == id)
}

async fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    for _ in 0..800 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn roomy() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(60),
        command_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

/// Records `count` session scopes in `publisher`'s log as the publishing script does, expiring
/// an hour from now: one millisecond apart, or all in the same millisecond.
async fn record_sessions(url: &str, publisher: &RedisBroadcaster, count: usize, same_ms: bool) {
    let mut c = raw(url).await;
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    let now_ms = secs * 1000 + micros / 1000;
    let (hash, zset) = (
        publisher.revocations_key(),
        publisher.revocations_expiry_key(),
    );
    for chunk in (0..count).collect::<Vec<_>>().chunks(5_000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let step = if same_ms { 0 } else { *i as i64 };
            let expires = now_ms + 3_600_000 + 1_000 + step;
            let field = format!("session:s{i}");
            let msg = format!(
                r#"{{"target_kind":"session","target_id":"s{i}","reason":"drift","evaluator":"drift","origin":"flood","expires_at_ms":{expires}}}"#
            );
            pipe.hset(hash, &field, msg).ignore();
            pipe.zadd(zset, &field, expires).ignore();
        }
        let _: () = pipe.query_async(&mut c).await.unwrap();
    }
}

/// A server whose log holds principal `mallory` (revoked first, so closest to expiry) and then
/// `FLOOD` session scopes. Returns the publishing broadcaster too.
async fn flooded_server() -> (Server, RedisBroadcaster) {
    let server = Server::start(spare_port(), &[]).await;
    let publisher = RedisBroadcaster::connect_with(&server.url(), opts(), roomy())
        .await
        .unwrap();
    publisher
        .publish_scope(&principal("mallory"))
        .await
        .unwrap();
    record_sessions(&server.url(), &publisher, FLOOD, false).await;
    (server, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_split_one_expiry_millisecond_lose_nothing() {
    // The log is read 1,000 entries at a time in expiry order; 2,500 entries expiring in the
    // same millisecond span three pages.
    let server = Server::start(spare_port(), &[]).await;
    let publisher = RedisBroadcaster::connect_with(&server.url(), opts(), roomy())
        .await
        .unwrap();
    record_sessions(&server.url(), &publisher, 2_500, true).await;
    let late = RedisBroadcaster::connect_with(&server.url(), opts(), roomy())
        .await
        .unwrap();
    assert_eq!(late.replayed(), 2_500);
    let heard = listen(&late);
    let mut ids: Vec<String> = heard.lock().iter().map(|s| s.target_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2_500);
    late.close();
    publisher.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_after_a_session_flood_refuses_the_principal_revoked_before_it() {
    let (server, publisher) = flooded_server().await;
    // A command timeout far below what reading the whole log in one reply takes.
    let late = RedisBroadcaster::connect_with(
        &server.url(),
        opts(),
        ConnectOptions {
            connect_timeout: Duration::from_secs(60),
            command_timeout: Duration::from_millis(100),
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(late.replayed(), FLOOD as u64 + 1);
    // A gate created now is handed the principal, whatever the flood pushed out.
    let heard = listen(&late);
    assert!(
        heard_principal(&heard, "mallory"),
        "the late replica forgot mallory"
    );

    // After a pub/sub drop the replica reads the same log again, page by page within the
    // 100 ms command timeout, and resubscribes: a revocation published afterwards arrives.
    let mut admin = raw(&server.url()).await;
    let _: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut admin)
        .await
        .unwrap();
    wait_for(
        || !late.is_subscribed(),
        "the subscriber to notice the kill",
    )
    .await;
    wait_for(|| late.is_subscribed(), "resubscription after the kill").await;
    wait_for(
        || publisher.is_subscribed(),
        "the publisher's resubscription",
    )
    .await;
    publisher.publish_scope(&principal("eve")).await.unwrap();
    wait_for(
        || heard_principal(&heard, "eve"),
        "live delivery after resubscribing",
    )
    .await;
    late.close();
    publisher.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_large_log_keeps_to_the_connect_timeout() {
    let (server, publisher) = flooded_server().await;
    let connect_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let outcome = RedisBroadcaster::connect_with(
        &server.url(),
        opts(),
        ConnectOptions {
            connect_timeout,
            ..ConnectOptions::default()
        },
    )
    .await;
    let took = started.elapsed();
    // Connected or timed out, but within the deadline (plus scheduling slack).
    assert!(
        took < connect_timeout + Duration::from_millis(700),
        "connect took {took:?} with connectTimeoutMs 3000 ({:?})",
        outcome.as_ref().err()
    );
    if let Err(e) = outcome {
        assert_eq!(e.to_string(), "redis connect timed out after 3s");
    }
    publisher.close();
}
