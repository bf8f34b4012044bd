//! Against a 3-master Redis Cluster started on spare loopback ports (torn down on drop).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{spare_port, unique, Server};
use kavach_core::invalidation::InvalidationBroadcaster;
use kavach_core::session::SessionState;
use kavach_core::store::{RateLimitStore, Recorded, SessionStore};
use kavach_core::{InvalidationScope, ScopeKind};
use kavach_redis::{ConnectOptions, RedisBroadcaster, RedisRateLimitStore, RedisSessionStore};

async fn cluster() -> (Vec<Server>, String) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            Server::start(
                spare_port(),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ],
            )
            .await,
        );
    }
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = std::process::Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in &nodes {
        let mut ok = false;
        for _ in 0..100 {
            let info = std::process::Command::new("redis-cli")
                .args(["-p", &n.port.to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "cluster did not converge");
    }
    let url = format!("redis+cluster://{}", addrs.join(","));
    (nodes, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_and_broadcast_work_on_a_cluster() {
    let (nodes, url) = cluster().await;
    let prefix = unique("cl");

    // Many keys, so the scripts land on every master.
    let rl = Arc::new(
        RedisRateLimitStore::connect(&url, Some(&prefix), ConnectOptions::default())
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..300 {
        let rl = rl.clone();
        tasks.push(tokio::spawn(async move {
            rl.hit(&format!("k{}", i % 30), 60_000).await
        }));
    }
    let mut max = 0;
    for t in tasks {
        max = max.max(t.await.unwrap().unwrap().count);
    }
    assert_eq!(max, 10);

    let sessions = Arc::new(
        RedisSessionStore::connect(&url, 60, Some(&prefix), ConnectOptions::default())
            .await
            .unwrap(),
    );
    let seed = SessionState {
        started_at: 1_700_000_000,
        origin_ip: Some("10.0.0.1".into()),
        ..SessionState::default()
    };
    for i in 0..20 {
        let id = format!("s{i}");
        assert_eq!(sessions.load_or_init(&id, &seed).await.unwrap(), seed);
        assert_eq!(
            sessions.try_record_permit(&id, Some(1)).await.unwrap(),
            Recorded::Counted(1)
        );
        assert_eq!(
            sessions.try_record_permit(&id, Some(1)).await.unwrap(),
            Recorded::CapReached
        );
    }

    let a = RedisBroadcaster::connect(&url, Some("kv-cl-chan"), ConnectOptions::default())
        .await
        .unwrap();
    let b = RedisBroadcaster::connect(&url, Some("kv-cl-chan"), ConnectOptions::default())
        .await
        .unwrap();
    a.attach_session_store(sessions.clone());
    let heard = Arc::new(parking_lot::Mutex::new(Vec::<InvalidationScope>::new()));
    let h = heard.clone();
    b.subscribe(Arc::new(move |s: &InvalidationScope| {
        h.lock().push(s.clone())
    }));
    let scope = InvalidationScope {
        target_kind: ScopeKind::Session,
        target_id: "s3".into(),
        reason: "drift".into(),
        evaluator: "drift".into(),
    };
    a.publish(&scope).await.unwrap();
    for _ in 0..100 {
        if !heard.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(heard.lock().first(), Some(&scope));
    let state = sessions.load_or_init("s3", &seed).await.unwrap();
    assert_eq!(state.invalidated.as_deref(), Some("drift"));

    // A broadcaster connected afterwards replays the recorded scope (the log lives on the
    // channel's slot, whichever master that is).
    let late = RedisBroadcaster::connect(&url, Some("kv-cl-chan"), ConnectOptions::default())
        .await
        .unwrap();
    let replayed = Arc::new(parking_lot::Mutex::new(Vec::<InvalidationScope>::new()));
    let r = replayed.clone();
    late.subscribe(Arc::new(move |s: &InvalidationScope| {
        r.lock().push(s.clone())
    }));
    assert_eq!(replayed.lock().as_slice(), std::slice::from_ref(&scope));
    a.close();
    b.close();
    late.close();

    // One master that may evict keys is enough to refuse the cluster.
    let mut last = common::raw(&nodes[2].url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg(&[
            "SET",
            "maxmemory",
            "3mb",
            "maxmemory-policy",
            "volatile-ttl",
        ])
        .query_async(&mut last)
        .await
        .unwrap();
    let err = RedisRateLimitStore::connect(&url, Some(&prefix), ConnectOptions::default())
        .await
        .err()
        .expect("connected to a cluster with an evicting master");
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    assert!(err.to_string().contains("'volatile-ttl'"), "{err}");
}
