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

/// Entries read per [`RevocationLog::load_page`] call: one reply stays small (a few hundred KB)
/// and quick whatever the size of the log, so each page fits in the command timeout.
pub(crate) const LOAD_PAGE_SIZE: usize = 1000;

/// KEYS[1]: hash, KEYS[2]: expiry zset. ARGV[1]: trim batch, ARGV[2]: page size,
/// ARGV[3]: cursor score (empty for the first page), ARGV[4]: cursor field.
/// Returns `[server now ms, field, score, message, field, score, message, ...]` for the next
/// entries in expiry order after the cursor (a message is nil when the hash lost it).
/// The cursor is the last entry of the previous page: while it is still recorded with the same
/// score, the page starts right after it; otherwise (forgotten, trimmed, re-recorded) at its
/// score, so a page may repeat entries of that score but never skips one.
const LOAD_PAGE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
  redis.call('ZREM', KEYS[2], gone[i])
end
local n = tonumber(ARGV[2])
local page
if ARGV[3] == '' then
  page = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%d', now), '+inf',
    'WITHSCORES', 'LIMIT', 0, n)
else
  local rank = redis.call('ZRANK', KEYS[2], ARGV[4])
  if rank and redis.call('ZSCORE', KEYS[2], ARGV[4]) == ARGV[3] then
    page = redis.call('ZRANGE', KEYS[2], rank + 1, rank + n, 'WITHSCORES')
  else
    page = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3], '+inf', 'WITHSCORES', 'LIMIT', 0, n)
  end
end
local out = { string.format('%d', now) }
for i = 1, #page, 2 do
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[1], page[i])
end
return out
";

/// KEYS[1]: hash, KEYS[2]: expiry zset. ARGV[1]: field. Returns 1 when it was recorded.
const FORGET_LUA: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
";

static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_LUA));
static LOAD_PAGE: LazyLock<Script> = LazyLock::new(|| Script::new(LOAD_PAGE_LUA));
static FORGET: LazyLock<Script> = LazyLock::new(|| Script::new(FORGET_LUA));

/// The recorded scopes of one channel.
#[derive(Debug, Clone)]
pub(crate) struct RevocationLog {
    hash_key: String,
    expiry_key: String,
    channel: String,
    ttl_ms: u64,
}

/// One page of the log read by [`RevocationLog::load_page`].
pub(crate) struct Page {
    pub server_now_ms: i64,
    /// The live messages of this page, in expiry order.
    pub messages: Vec<String>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<Cursor>,
}

/// The last entry a page read (its field and its score as Redis printed it).
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    score: String,
    field: String,
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

    /// The next [`LOAD_PAGE_SIZE`] scopes recorded on this channel after `cursor` (from the
    /// start with `None`), in expiry order. Each page is one script call, bounded by the
    /// command timeout; reading the whole log is following `next` until it is `None`.
    pub(crate) async fn load_page(
        &self,
        conn: &RedisConn,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let (score, field) = cursor.map_or(("", ""), |c| (c.score.as_str(), c.field.as_str()));
        let mut out: Vec<Option<String>> = conn
            .run(|mut c| async move {
                LOAD_PAGE
                    .key(&self.hash_key)
                    .key(&self.expiry_key)
                    .arg(TRIM_BATCH)
                    .arg(LOAD_PAGE_SIZE)
                    .arg(score)
                    .arg(field)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let Some(Some(now)) = (!out.is_empty()).then(|| out.remove(0)) else {
            return Err(RedisStoreError::Protocol(
                "revocation log: reply without the server time".into(),
            ));
        };
        let server_now_ms = now
            .parse()
            .map_err(|_| RedisStoreError::Protocol(format!("revocation log: time '{now}'")))?;
        if !out.len().is_multiple_of(3) {
            return Err(RedisStoreError::Protocol(format!(
                "revocation log: page of {} values, expected field, score, message triples",
                out.len()
            )));
        }
        let entries = out.len() / 3;
        let mut messages = Vec::with_capacity(entries);
        let mut last = None;
        let mut triples = out.into_iter();
        while let (Some(field), Some(score), Some(message)) =
            (triples.next(), triples.next(), triples.next())
        {
            messages.extend(message);
            if let Some((field, score)) = field.zip(score) {
                last = Some(Cursor { score, field });
            }
        }
        // A short page is the last one.
        let next = match last {
            _ if entries < LOAD_PAGE_SIZE => None,
            Some(cursor) => Some(cursor),
            None => {
                return Err(RedisStoreError::Protocol(
                    "revocation log: a full page without fields".into(),
                ))
            }
        };
        Ok(Page {
            server_now_ms,
            messages,
            next,
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
