//! Sliding-window rate limits shared by every replica.
//!
//! One Lua script per call (EVALSHA, EVAL when the server does not know it yet, in
//! `script.rs`): it reads the server's clock (`TIME`), drops entries older than the window,
//! appends the hits, counts, sets the expiry and reports when a slot frees up. Recording and
//! counting are one atomic step on one key, so N replicas see one sequence of hits and the
//! replicas' own (possibly skewed) clocks play no part. Concurrent hits share a call
//! (`coalesce.rs`): all of them on a single server, those for one key in a cluster.

mod coalesce;
mod peek;
mod script;

use std::sync::Arc;

use kavach_core::store::{RateHit, RateLimitStore, StoreFuture};

use crate::connect::{ConnectOptions, RedisConn};
use crate::error::{RedisStoreError, Result};
use crate::keys;
use crate::speed_layers::{self, Layer};
use coalesce::{Group, Queues};
use script::{hit_call, MAX_HITS_PER_CALL};

pub struct RedisRateLimitStore {
    conn: Arc<RedisConn>,
    prefix: String,
    queues: Arc<Queues>,
}

impl RedisRateLimitStore {
    pub async fn connect(url: &str, prefix: Option<&str>, opts: ConnectOptions) -> Result<Self> {
        let prefix = keys::validate_prefix(prefix)?;
        let conn = RedisConn::connect(url, opts).await?;
        conn.warm_up_scripts().await;
        Ok(Self {
            conn,
            prefix,
            queues: Arc::default(),
        })
    }

    /// The Redis key holding the window for a gate's rate-limit key.
    pub fn key_for(&self, key: &str) -> String {
        keys::key(&self.prefix, "rl", key)
    }

    /// Records one hit; `max` bounds what is kept (see `script.rs`).
    pub async fn hit_window(&self, key: &str, window_ms: u64, max: Option<u64>) -> Result<RateHit> {
        if window_ms == 0 {
            return Err(RedisStoreError::InvalidArgument(
                "rate-limit window must be at least 1ms".into(),
            ));
        }
        let redis_key = self.key_for(key);
        // A script may touch one cluster slot only; a single server takes any mix of keys.
        let lane = if self.conn.is_cluster() {
            redis_key.clone()
        } else {
            String::new()
        };
        let group = Group {
            redis_key,
            window_ms,
            max,
        };
        if !speed_layers::on(Layer::Coalesce) {
            let mut one = record(self.conn.clone(), vec![(group, 1)]).await?;
            return one.pop().ok_or_else(|| {
                RedisStoreError::Protocol("rate-limit script answered no hit".into())
            });
        }
        let (answer, lead) = self.queues.join(&lane, group);
        if lead {
            let conn = self.conn.clone();
            let call = move |groups| record(conn.clone(), groups);
            let queues = self.queues.clone();
            // On the JS thread's event-loop runtime the drain is a local task polled right
            // after this evaluation and the others submitted with it, which join its call.
            crate::loop_hooks::spawn(queues.drain(lane, MAX_HITS_PER_CALL, call));
        }
        answer.await.unwrap_or_else(|_| {
            Err(RedisStoreError::Unavailable(
                "rate-limit call was abandoned".into(),
            ))
        })
    }

    pub fn close(&self) {
        self.conn.close();
    }

    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
}

/// One script call recording, for each `(group, n)` in order, `n` hits.
async fn record(conn: Arc<RedisConn>, groups: Vec<(Group, usize)>) -> Result<Vec<RateHit>> {
    let flat = conn.script_ints(|load| hit_call(&groups, load)).await?;
    flat.chunks_exact(2)
        .map(|pair| {
            let count = u64::try_from(pair[0])
                .map_err(|_| RedisStoreError::Protocol(format!("negative count {}", pair[0])))?;
            Ok(RateHit {
                count,
                frees_in_ms: u64::try_from(pair[1]).unwrap_or(0),
            })
        })
        .collect()
}

impl RateLimitStore for RedisRateLimitStore {
    fn hit<'a>(&'a self, key: &'a str, window_ms: u64) -> StoreFuture<'a, RateHit> {
        Box::pin(async move {
            self.hit_window(key, window_ms, None)
                .await
                .map_err(Into::into)
        })
    }

    fn hit_bounded<'a>(
        &'a self,
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        Box::pin(async move {
            self.hit_window(key, window_ms, Some(max))
                .await
                .map_err(Into::into)
        })
    }

    fn peek_bounded<'a>(
        &'a self,
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        Box::pin(async move {
            self.peek_window(key, window_ms, max)
                .await
                .map_err(Into::into)
        })
    }

    fn is_in_process(&self) -> bool {
        false
    }
}
