//! A Redis that may evict keys under memory pressure would silently drop revoked sessions,
//! revocation records and full rate windows, so every store refuses to connect to one.
//! Against throwaway redis-server processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{spare_port, Server};
use kavach_redis::{
    ConnectOptions, RedisBroadcaster, RedisRateLimitStore, RedisSessionStore, RedisStoreError,
};

fn assert_names_the_policy(err: &RedisStoreError, policy: &str) {
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("'{policy}'")), "{text}");
    assert!(text.contains("maxmemory-policy noeviction"), "{text}");
}

#[tokio::test]
async fn every_store_refuses_a_redis_that_evicts_keys() {
    for policy in ["allkeys-lru", "volatile-lru"] {
        let server = Server::start(
            spare_port(),
            &["--maxmemory", "3mb", "--maxmemory-policy", policy],
        )
        .await;
        let url = server.url();
        let err = RedisRateLimitStore::connect(&url, None, ConnectOptions::default())
            .await
            .err()
            .expect("rate-limit store connected to an evicting redis");
        assert_names_the_policy(&err, policy);
        let err = RedisSessionStore::connect(&url, 60, None, ConnectOptions::default())
            .await
            .err()
            .expect("session store connected to an evicting redis");
        assert_names_the_policy(&err, policy);
        let err = RedisBroadcaster::connect(&url, None, ConnectOptions::default())
            .await
            .err()
            .expect("broadcaster connected to an evicting redis");
        assert_names_the_policy(&err, policy);
    }
}

#[tokio::test]
async fn a_memory_limit_without_eviction_is_accepted() {
    let server = Server::start(
        spare_port(),
        &["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"],
    )
    .await;
    let store = RedisRateLimitStore::connect(&server.url(), None, ConnectOptions::default())
        .await
        .unwrap();
    store.close();
}

#[tokio::test]
async fn a_redis_that_hides_info_is_accepted() {
    // Managed Redis services often disable INFO; the check is then skipped.
    let server = Server::start(
        spare_port(),
        &[
            "--maxmemory",
            "3mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--rename-command",
            "INFO",
            "",
        ],
    )
    .await;
    let store = RedisSessionStore::connect(&server.url(), 60, None, ConnectOptions::default())
        .await
        .unwrap();
    store.close();
}
