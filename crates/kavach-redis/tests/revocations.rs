//! The revocation log: scopes published while a replica was away (or before it started) are
//! replayed to it. Against the real Redis on 127.0.0.1:6379 and a throwaway server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{raw, unique, Server, URL};
use kavach_core::invalidation::InvalidationBroadcaster;
use kavach_core::{InvalidationScope, ScopeKind};
use kavach_redis::{BroadcasterOptions, ConnectOptions, RedisBroadcaster};
use parking_lot::Mutex;
use redis::AsyncCommands;

fn opts(channel: &str, prefix: &str, ttl: u64) -> BroadcasterOptions {
    BroadcasterOptions {
        channel: Some(channel.into()),
        prefix: Some(prefix.into()),
        revocation_ttl_seconds: ttl,
    }
}

fn fast() -> ConnectOptions {
    ConnectOptions {
        command_timeout: Duration::from_millis(500),
        ..ConnectOptions::default()
    }
}

fn principal(id: &str, reason: &str) -> InvalidationScope {
    InvalidationScope {
        target_kind: ScopeKind::Principal,
        target_id: id.into(),
        reason: reason.into(),
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

async fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcaster_connected_later_replays_recorded_scopes() {
    let channel = unique("rev-chan");
    let prefix = unique("rev");
    let a =
        RedisBroadcaster::connect_with(URL, opts(&channel, &prefix, 60), ConnectOptions::default())
            .await
            .unwrap();
    a.publish(&principal("agent-7", "key leaked"))
        .await
        .unwrap();
    a.publish(&InvalidationScope {
        target_kind: ScopeKind::Role,
        target_id: "refunder".into(),
        reason: "role compromised".into(),
        evaluator: "manual".into(),
    })
    .await
    .unwrap();

    // The log as an independent client sees it.
    let key = format!("kavach:{prefix}:revocations:{{{channel}}}");
    let zkey = format!("kavach:{prefix}:revocations:expiry:{{{channel}}}");
    assert_eq!(a.revocations_key(), key);
    assert_eq!(a.revocations_expiry_key(), zkey);
    let mut c = raw(URL).await;
    let msg: String = c.hget(&key, "principal:agent-7").await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&msg).unwrap();
    assert_eq!(json["target_kind"], "principal");
    assert_eq!(json["target_id"], "agent-7");
    assert_eq!(json["reason"], "key leaked");
    assert_eq!(json["evaluator"], "security");
    assert_eq!(json["origin"], a.origin());
    let expires = json["expires_at_ms"].as_i64().unwrap();
    assert!((expires - now_ms() - 60_000).abs() < 5_000, "{expires}");
    let score: f64 = c.zscore(&zkey, "principal:agent-7").await.unwrap();
    assert_eq!(score as i64, expires);
    for k in [&key, &zkey] {
        let pttl: i64 = c.pttl(k).await.unwrap();
        assert!(pttl > 55_000 && pttl <= 60_000, "{k}: pttl {pttl}");
    }
    assert_eq!(c.hlen::<_, u64>(&key).await.unwrap(), 2);

    // A replica that connects afterwards: its listener hears both at subscribe time.
    let b =
        RedisBroadcaster::connect_with(URL, opts(&channel, &prefix, 60), ConnectOptions::default())
            .await
            .unwrap();
    assert_eq!(b.replayed(), 2);
    let heard = listen(&b);
    let mut ids: Vec<String> = heard.lock().iter().map(|s| s.target_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["agent-7", "refunder"]);
    assert!(heard.lock().contains(&principal("agent-7", "key leaked")));

    // Another prefix (or channel) is another log: nothing to replay.
    let other = RedisBroadcaster::connect_with(
        URL,
        opts(&channel, &unique("rev-other"), 60),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    assert!(listen(&other).lock().is_empty());

    // Forgetting removes it from the log: later replicas no longer hear it.
    assert!(a
        .forget_scope(ScopeKind::Principal, "agent-7")
        .await
        .unwrap());
    assert!(!a
        .forget_scope(ScopeKind::Principal, "agent-7")
        .await
        .unwrap());
    let c2 =
        RedisBroadcaster::connect_with(URL, opts(&channel, &prefix, 60), ConnectOptions::default())
            .await
            .unwrap();
    let ids: Vec<String> = listen(&c2)
        .lock()
        .iter()
        .map(|s| s.target_id.clone())
        .collect();
    assert_eq!(ids, ["refunder"]);

    let _: () = c.del(&[&key, &zkey]).await.unwrap();
    for bc in [a, b, other, c2] {
        bc.close();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_not_replayed_and_are_trimmed() {
    let channel = unique("exp-chan");
    let prefix = unique("exp");
    let short =
        RedisBroadcaster::connect_with(URL, opts(&channel, &prefix, 1), ConnectOptions::default())
            .await
            .unwrap();
    let long =
        RedisBroadcaster::connect_with(URL, opts(&channel, &prefix, 60), ConnectOptions::default())
            .await
            .unwrap();
    short
        .publish(&principal("gone", "short-lived"))
        .await
        .unwrap();
    long.publish(&principal("kept", "long-lived"))
        .await
        .unwrap();
    let key = short.revocations_key().to_owned();
    let zkey = short.revocations_expiry_key().to_owned();
    let mut c = raw(URL).await;
    assert_eq!(c.hlen::<_, u64>(&key).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let late =
        RedisBroadcaster::connect_with(URL, opts(&channel, &prefix, 60), ConnectOptions::default())
            .await
            .unwrap();
    let ids: Vec<String> = listen(&late)
        .lock()
        .iter()
        .map(|s| s.target_id.clone())
        .collect();
    assert_eq!(ids, ["kept"]);
    assert_eq!(late.replayed(), 1);
    // Reading the log trimmed the expired entry from both keys.
    assert!(!c
        .hexists::<_, _, bool>(&key, "principal:gone")
        .await
        .unwrap());
    assert_eq!(c.zcard::<_, u64>(&zkey).await.unwrap(), 1);

    // With only short-lived entries, the keys themselves expire.
    let channel2 = unique("exp-chan2");
    let solo =
        RedisBroadcaster::connect_with(URL, opts(&channel2, &prefix, 1), ConnectOptions::default())
            .await
            .unwrap();
    solo.publish(&principal("p", "r")).await.unwrap();
    let key2 = solo.revocations_key().to_owned();
    let pttl: i64 = c.pttl(&key2).await.unwrap();
    assert!(pttl > 0 && pttl <= 1000, "pttl {pttl}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!c.exists::<_, bool>(&key2).await.unwrap());
    assert!(!c
        .exists::<_, bool>(solo.revocations_expiry_key())
        .await
        .unwrap());

    let _: () = c.del(&[&key, &zkey]).await.unwrap();
    for bc in [short, long, late, solo] {
        bc.close();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_published_while_the_subscriber_was_killed_arrives_after_reconnect() {
    let server = Server::start(common::spare_port(), &[]).await;
    let url = server.url();
    let mut admin = raw(&url).await;
    // A second user publishes while the default user may not subscribe, so the killed
    // subscriber stays down for exactly as long as the test wants.
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "pub", "on", ">pw", "~*", "&*", "+@all"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let pub_url = format!("redis://pub:pw@127.0.0.1:{}", server.port);

    let sub = RedisBroadcaster::connect_with(&url, opts("kill-chan", "kill", 60), fast())
        .await
        .unwrap();
    let publisher = RedisBroadcaster::connect_with(&pub_url, opts("kill-chan", "kill", 60), fast())
        .await
        .unwrap();
    let heard = listen(&sub);
    publisher
        .publish(&principal("early", "before the kill"))
        .await
        .unwrap();
    wait_for(|| heard.lock().len() == 1, "live delivery").await;

    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "resetchannels"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub", "USER", "default"])
        .query_async(&mut admin)
        .await
        .unwrap_or(0);
    // Redis 7 may already have dropped it when its channel permission went away.
    assert!(killed <= 1, "killed {killed}");
    wait_for(|| !sub.is_subscribed(), "the subscriber to notice the kill").await;

    publisher
        .publish(&principal("agent-9", "published while down"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sub.is_subscribed());
    assert_eq!(heard.lock().len(), 1, "heard while unsubscribed?");

    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "allchannels"])
        .query_async(&mut admin)
        .await
        .unwrap();
    wait_for(|| heard.lock().len() >= 2, "replay after reconnect").await;
    wait_for(|| sub.is_subscribed(), "resubscription").await;
    let heard_now = heard.lock().clone();
    assert_eq!(heard_now[1], principal("agent-9", "published while down"));
    // Only what was missed: the scope heard before the kill is not delivered again.
    assert_eq!(heard_now.len(), 2, "{heard_now:?}");
    assert_eq!(sub.replayed(), 1);

    // Live delivery resumed too.
    publisher
        .publish(&principal("after", "after reconnect"))
        .await
        .unwrap();
    wait_for(|| heard.lock().len() == 3, "live delivery after reconnect").await;
    sub.close();
    publisher.close();
    drop(server);
}

#[tokio::test]
async fn bad_broadcaster_options_are_invalid_arguments() {
    let err = RedisBroadcaster::connect_with(URL, opts("c", "p", 0), ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert_eq!(
        err.to_string(),
        "revocationTtlSeconds must be a positive integer"
    );
    let err = RedisBroadcaster::connect_with(URL, opts("c", "a{b", 60), ConnectOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}
