//! What a hit would see now, without recording it (`gate.explain`): one read-only script
//! (`TIME`, `LRANGE`) on the key's window, judged the way the in-process store's `peek` judges
//! its own (`kavach_core::store::memory`): the unexpired entries plus this call, at most
//! `max + 1` of them, and when a slot frees up. Nothing is pushed, trimmed or re-expired, so
//! the window and its TTL stay as the hits left them.

use std::sync::LazyLock;

use kavach_core::store::RateHit;
use redis::Script;

use super::RedisRateLimitStore;
use crate::error::{RedisStoreError, Result};

/// KEYS[1]: the window (a list of server timestamps in µs, oldest first). ARGV[1]: the window
/// in ms. ARGV[2]: the limit. Returns `{count, frees_ms}` as the hit script would for one hit.
const PEEK_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1]) * 1000
local max = tonumber(ARGV[2])
local cutoff = now - window
local list = redis.call('LRANGE', KEYS[1], '0', '-1')
local hits = {}
for i = 1, #list do
  local ts = tonumber(list[i])
  if ts and ts > cutoff then hits[#hits + 1] = ts end
end
hits[#hits + 1] = now
local from = 1
if #hits > max + 1 then from = #hits - max end
local count = #hits - from + 1
local leave = 0
if count > max then leave = count - max end
local frees = math.ceil((hits[from + leave] + window - now) / 1000)
if frees < 0 then frees = 0 end
return {count, frees}
";

static PEEK: LazyLock<Script> = LazyLock::new(|| Script::new(PEEK_LUA));

impl RedisRateLimitStore {
    /// What `hit_window(key, window_ms, Some(max))` would return now, recording nothing.
    pub async fn peek_window(&self, key: &str, window_ms: u64, max: u64) -> Result<RateHit> {
        if window_ms == 0 {
            return Err(RedisStoreError::InvalidArgument(
                "rate-limit window must be at least 1ms".into(),
            ));
        }
        let redis_key = &self.key_for(key);
        let answer: Vec<i64> = self
            .conn
            .run(|mut c| async move {
                PEEK.key(redis_key)
                    .arg(window_ms)
                    .arg(max)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match answer[..] {
            [count, frees] => Ok(RateHit {
                count: u64::try_from(count)
                    .map_err(|_| RedisStoreError::Protocol(format!("negative count {count}")))?,
                frees_in_ms: u64::try_from(frees).unwrap_or(0),
            }),
            _ => Err(RedisStoreError::Protocol(format!(
                "rate-limit peek answered {answer:?}"
            ))),
        }
    }
}
