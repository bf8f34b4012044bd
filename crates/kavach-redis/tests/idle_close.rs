//! A server that closes idle connections (`timeout 1`, as proxies and load balancers do)
//! must not make the next call fail while it is up. Against a throwaway redis-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{raw, spare_port, unique, Server};
use kavach_core::session::SessionState;
use kavach_core::store::{RateLimitStore, Recorded, SessionStore};
use kavach_core::{InvalidationScope, ScopeKind};
use kavach_redis::{ConnectOptions, RedisBroadcaster, RedisRateLimitStore, RedisSessionStore};

fn seed() -> SessionState {
    SessionState {
        started_at: 1_700_000_000,
        origin_ip: Some("10.0.0.1".into()),
        ..SessionState::default()
    }
}

fn role_scope(id: &str) -> InvalidationScope {
    InvalidationScope {
        target_kind: ScopeKind::Role,
        target_id: id.into(),
        reason: "idle test".into(),
        evaluator: "idle-test".into(),
    }
}

/// Waits until the server has closed every normal (non-pub/sub) connection but `admin`'s,
/// which asks often enough never to idle out.
async fn wait_for_idle_connections_closed(admin: &mut redis::aio::MultiplexedConnection) {
    for _ in 0..200 {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("normal")
            .query_async(admin)
            .await
            .unwrap();
        if list.lines().filter(|l| !l.trim().is_empty()).count() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not close the idle connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_the_server_closed_an_idle_connection_succeed() {
    let mut server = Server::start(spare_port(), &["--timeout", "1"]).await;
    let url = server.url();
    let prefix = unique("idle");
    let opts = ConnectOptions::default();
    let sessions = RedisSessionStore::connect(&url, 600, Some(&prefix), opts.clone())
        .await
        .unwrap();
    let counter = RedisSessionStore::connect(&url, 600, Some(&prefix), opts.clone())
        .await
        .unwrap();
    let rates = RedisRateLimitStore::connect(&url, Some(&prefix), opts.clone())
        .await
        .unwrap();
    let bc = RedisBroadcaster::connect(&url, Some(&prefix), opts)
        .await
        .unwrap();
    let mut admin = raw(&url).await;
    let first = sessions.load_or_init("s", &seed()).await.unwrap();
    assert_eq!(first, seed());

    // Each store's first call after the server closed its idle connection.
    wait_for_idle_connections_closed(&mut admin).await;
    assert_eq!(sessions.load_or_init("s", &seed()).await.unwrap(), seed());
    assert_eq!(
        counter.try_record_permit("s", Some(10)).await.unwrap(),
        Recorded::Counted(1)
    );
    // What a first hit would count: 1.
    assert_eq!(rates.peek_bounded("k", 60_000, 5).await.unwrap().count, 1);
    bc.publish_scope(&role_scope("r")).await.unwrap();
    assert_eq!(bc.unsent(), 0);

    wait_for_idle_connections_closed(&mut admin).await;
    // The permit was counted once: the closed connection never carried it.
    let peeked = sessions.peek("s").await.unwrap().unwrap();
    assert_eq!(peeked.action_count, 1);
    counter.invalidate("s", "revoked while idle").await.unwrap();
    let revoked = sessions.load_or_init("s", &seed()).await.unwrap();
    assert_eq!(revoked.invalidated.as_deref(), Some("revoked while idle"));

    // With the server gone, the retry does not hide the outage: the call still fails.
    server.kill();
    let err = sessions.load_or_init("s", &seed()).await.unwrap_err();
    assert!(err.0.starts_with("redis unavailable: "), "{}", err.0);
    bc.close();
}
