//! Sliding-window rate limits shared by every replica.
//!
//! One Lua script per hit (EVALSHA, EVAL when the server does not know it yet): it reads the
//! server's clock (`TIME`), drops entries older than the window, adds this hit under a unique
//! member, counts, sets the expiry and reports when the oldest entry leaves. Recording and
//! counting are one atomic step on one key, so N replicas see one sequence of hits and the
//! replicas' own (possibly skewed) clocks play no part.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use kavach_core::store::{RateHit, RateLimitStore, StoreFuture};
use redis::Script;

use crate::connect::{ConnectOptions, RedisConn};
use crate::error::{RedisStoreError, Result};
use crate::keys;

/// KEYS[1]: the window's sorted set. ARGV[1]: window in ms. ARGV[2]: a member unique to this
/// hit. ARGV[3]: the limit `max`, or '' for none. Scores are server microseconds (exact in a
/// double until the year 2255). With a limit only the newest `max + 1` entries are kept (enough
/// to judge it, and memory stays bounded however hard a key is hammered), and `frees` is the
/// time until one more hit would be within `max` again; without one it is when the oldest
/// entry leaves.
const HIT_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window_ms = tonumber(ARGV[1])
local window = window_ms * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
local leave = 0
if ARGV[3] ~= '' then
  local max = tonumber(ARGV[3])
  if count > max + 1 then
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - max - 2)
    count = max + 1
  end
  if count > max then leave = count - max end
end
redis.call('PEXPIRE', KEYS[1], window_ms + 1000)
local at = redis.call('ZRANGE', KEYS[1], leave, leave, 'WITHSCORES')
local frees = math.ceil((tonumber(at[2]) + window - now) / 1000)
if frees < 0 then frees = 0 end
return {count, frees}
";

static HIT: LazyLock<Script> = LazyLock::new(|| Script::new(HIT_LUA));

pub struct RedisRateLimitStore {
    conn: Arc<RedisConn>,
    prefix: String,
    /// Members are `<replica id>:<sequence>`: unique across processes without a round trip.
    replica: String,
    seq: AtomicU64,
}

impl RedisRateLimitStore {
    pub async fn connect(url: &str, prefix: Option<&str>, opts: ConnectOptions) -> Result<Self> {
        let prefix = keys::validate_prefix(prefix)?;
        let conn = RedisConn::connect(url, opts).await?;
        Ok(Self::with_conn(conn, prefix))
    }

    fn with_conn(conn: Arc<RedisConn>, prefix: String) -> Self {
        Self {
            conn,
            prefix,
            replica: format!("{:016x}", keys::random_u64()),
            seq: AtomicU64::new(0),
        }
    }

    /// The Redis key holding the window for a gate's rate-limit key.
    pub fn key_for(&self, key: &str) -> String {
        keys::key(&self.prefix, "rl", key)
    }

    /// Records one hit; `max` bounds what is kept (see the script).
    pub async fn hit_window(&self, key: &str, window_ms: u64, max: Option<u64>) -> Result<RateHit> {
        if window_ms == 0 {
            return Err(RedisStoreError::InvalidArgument(
                "rate-limit window must be at least 1ms".into(),
            ));
        }
        let redis_key = self.key_for(key);
        let member = format!(
            "{}:{}",
            self.replica,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let max = max.map(|m| m.to_string()).unwrap_or_default();
        let (count, frees): (i64, i64) = self
            .conn
            .run(|mut c| async move {
                HIT.key(&redis_key)
                    .arg(window_ms)
                    .arg(&member)
                    .arg(&max)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let count = u64::try_from(count)
            .map_err(|_| RedisStoreError::Protocol(format!("negative count {count}")))?;
        Ok(RateHit {
            count,
            frees_in_ms: u64::try_from(frees).unwrap_or(0),
        })
    }

    pub fn close(&self) {
        self.conn.close();
    }

    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
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

    fn is_in_process(&self) -> bool {
        false
    }
}
