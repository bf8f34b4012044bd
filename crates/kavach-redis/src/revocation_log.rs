//! The durable side of invalidation broadcast: every published scope is also recorded in Redis
//! until its revocation TTL runs out, so a replica that was disconnected when it was published
//! (or started afterwards) can replay it on (re)subscribe. Pub/sub alone is fire-and-forget.
//!
//! Two keys per channel, sharing the channel as hash tag (one cluster slot):
//! - `kavach:<prefix>:revocations:{<channel>}`: hash, field `<kind>:<target id>` → the exact
//!   JSON message that was published (with `expires_at_ms`, Redis server clock);
//! - `kavach:<prefix>:revocations:expiry:{<channel>}`: sorted set, same fields scored with
//!   `expires_at_ms`, the index used to trim expired entries.
//!
//! Both keys `PEXPIRE` when their newest entry expires, so an idle channel leaves nothing behind.
//! Recording and publishing are one script (record first, then `PUBLISH`), so a subscriber that
//! subscribes and then reads the log sees every scope at least once: live, replayed, or both.

use std::sync::LazyLock;

use redis::Script;

use crate::connect::RedisConn;
use crate::error::{RedisStoreError, Result};
use crate::keys;

/// Expired entries trimmed per script call at most (the rest go on the next call), so one
/// call never blocks Redis for long.
const TRIM_BATCH: usize = 1000;

/// KEYS[1]: hash, KEYS[2]: expiry zset. ARGV[1]: field, ARGV[2]: the JSON object without
/// `expires_at_ms`, ARGV[3]: ttl ms, ARGV[4]: channel, ARGV[5]: trim batch.
/// Returns the message as published.
const RECORD_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
  redis.call('ZREM', KEYS[2], gone[i])
end
local exp = now + tonumber(ARGV[3])
local msg = string.sub(ARGV[2], 1, -2) .. ',"expires_at_ms":' .. string.format('%d', exp) .. '}'
redis.call('HSET', KEYS[1], ARGV[1], msg)
redis.call('ZADD', KEYS[2], exp, ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local keep = math.max(1, tonumber(last[2]) - now)
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
redis.call('PUBLISH', ARGV[4], msg)
return msg
"#;

/// KEYS[1]: hash, KEYS[2]: expiry zset. ARGV[1]: trim batch.
/// Returns `[server now ms, message, message, ...]` for every entry not yet expired.
const LOAD_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
  redis.call('ZREM', KEYS[2], gone[i])
end
local out = { string.format('%d', now) }
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%d', now), '+inf')
for i = 1, #live do
  local msg = redis.call('HGET', KEYS[1], live[i])
  if msg then
    out[#out + 1] = msg
  end
end
return out
";

/// KEYS[1]: hash, KEYS[2]: expiry zset. ARGV[1]: field. Returns 1 when it was recorded.
const FORGET_LUA: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
";

static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_LUA));
static LOAD: LazyLock<Script> = LazyLock::new(|| Script::new(LOAD_LUA));
static FORGET: LazyLock<Script> = LazyLock::new(|| Script::new(FORGET_LUA));

/// The recorded scopes of one channel.
#[derive(Debug, Clone)]
pub(crate) struct RevocationLog {
    hash_key: String,
    expiry_key: String,
    channel: String,
    ttl_ms: u64,
}

/// What [`RevocationLog::load`] read: the server clock and the live messages.
pub(crate) struct Loaded {
    pub server_now_ms: i64,
    pub messages: Vec<String>,
}

impl RevocationLog {
    /// `prefix` is what `keys::validate_prefix` returned.
    pub(crate) fn new(prefix: &str, channel: &str, ttl_seconds: u64) -> Self {
        Self {
            hash_key: keys::key(prefix, "revocations", channel),
            expiry_key: keys::key(prefix, "revocations:expiry", channel),
            channel: channel.to_owned(),
            ttl_ms: ttl_seconds.saturating_mul(1000),
        }
    }

    pub(crate) fn hash_key(&self) -> &str {
        &self.hash_key
    }

    pub(crate) fn expiry_key(&self) -> &str {
        &self.expiry_key
    }

    pub(crate) fn field(kind: &str, target_id: &str) -> String {
        format!("{kind}:{target_id}")
    }

    /// Records `json` (a JSON object) under `field` and publishes it on the channel, in one
    /// script. Returns the message as published (with `expires_at_ms`).
    pub(crate) async fn record_and_publish(
        &self,
        conn: &RedisConn,
        field: &str,
        json: &str,
    ) -> Result<String> {
        if !json.ends_with('}') {
            return Err(RedisStoreError::InvalidArgument(
                "invalidation message must be a JSON object".into(),
            ));
        }
        conn.run(|mut c| async move {
            RECORD
                .key(&self.hash_key)
                .key(&self.expiry_key)
                .arg(field)
                .arg(json)
                .arg(self.ttl_ms)
                .arg(&self.channel)
                .arg(TRIM_BATCH)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    /// Every scope recorded on this channel that has not expired yet.
    pub(crate) async fn load(&self, conn: &RedisConn) -> Result<Loaded> {
        let mut out: Vec<String> = conn
            .run(|mut c| async move {
                LOAD.key(&self.hash_key)
                    .key(&self.expiry_key)
                    .arg(TRIM_BATCH)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if out.is_empty() {
            return Err(RedisStoreError::Protocol(
                "revocation log: empty reply".into(),
            ));
        }
        let now = out.remove(0);
        let server_now_ms = now
            .parse()
            .map_err(|_| RedisStoreError::Protocol(format!("revocation log: time '{now}'")))?;
        Ok(Loaded {
            server_now_ms,
            messages: out,
        })
    }

    /// Removes a recorded scope so it is no longer replayed. Returns whether it was recorded.
    pub(crate) async fn forget(&self, conn: &RedisConn, field: &str) -> Result<bool> {
        let n: i64 = conn
            .run(|mut c| async move {
                FORGET
                    .key(&self.hash_key)
                    .key(&self.expiry_key)
                    .arg(field)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(n > 0)
    }
}
