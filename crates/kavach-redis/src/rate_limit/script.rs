//! The hit script: records hits for one or more keys at the Redis server's clock and reports,
//! for each hit, what a caller recording them one after another would have seen.
//!
//! A window is a list of server timestamps (microseconds, oldest at the head), the same
//! sliding log the in-process store keeps. A list rather than a sorted set: appends and head
//! trims are O(1), where sorted-set inserts and range deletes cost a skip-list walk each.
//! Timestamps come from `TIME` and are appended in order; should the server clock ever step
//! back, the head trim stops at the first unexpired entry, so a few entries leave late: the
//! count errs high (fail closed), never low.
//!
//! KEYS[g]: group g's list (the same key may appear twice, for hits with another window or
//! limit; groups run in order). ARGV[4g-3]: its window in ms. ARGV[4g-2]: its limit `max`, or
//! '' for none. ARGV[4g-1]: how many hits to record. ARGV[4g]: how many entries to keep at
//! most (`max + 1` with a limit: enough to judge it, so memory stays bounded however hard a key
//! is hammered). In a Redis Cluster a call carries one key (one slot); on a single server one
//! call may carry many keys (see `coalesce.rs`).
//!
//! Returns, group after group, `{count, frees}` per hit: the hit's count within the window
//! (itself included) and the ms until a slot frees up (with a limit that is over: until one
//! more hit would be within `max`; otherwise until the oldest entry leaves).

use std::sync::LazyLock;

use redis::Script;

/// Hits one script call records at most (Lua's `unpack` limit is far above this).
pub const MAX_HITS_PER_CALL: usize = 256;

/// Calls per group, typically: LRANGE (the oldest entries), LTRIM (when some have expired),
/// RPUSH, PEXPIRE (plus one TIME per run). The oldest entries are read in a chunk sized by
/// the hits being recorded (under a steady load about that many expired since the key's last
/// call), doubling while a whole chunk has expired. A LINDEX of the head and then fixed
/// chunks of 64 made Redis read and convert 64 entries per key and call to drop a handful:
/// 64 keys on a 2 s window went from 111k to 131k hits/s with the sizing, and further with
/// the head read folded into the chunk (`npm run bench -- redis`). Older entries are read
/// only for a hit over its limit.
const HIT_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stamp = t[1] .. string.format('%06d', tonumber(t[2]))
local out = {}
for g = 1, #KEYS do
  local k = KEYS[g]
  local window_ms = tonumber(ARGV[4 * g - 3])
  local window = window_ms * 1000
  local max = nil
  if ARGV[4 * g - 2] ~= '' then max = tonumber(ARGV[4 * g - 2]) end
  local n = tonumber(ARGV[4 * g - 1])
  local keep = tonumber(ARGV[4 * g])
  local cutoff = now - window
  local chunk = n + 8
  local heads = redis.call('LRANGE', k, 0, chunk - 1)
  local head = heads[1]
  while head and tonumber(head) <= cutoff do
    local drop = 0
    for i = 1, #heads do
      if tonumber(heads[i]) <= cutoff then drop = i else break end
    end
    redis.call('LTRIM', k, drop, -1)
    head = heads[drop + 1]
    if drop == #heads then
      if chunk < 1024 then chunk = chunk * 2 end
      heads = redis.call('LRANGE', k, 0, chunk - 1)
      head = heads[1]
    end
  end
  local len
  if n == 1 then
    len = redis.call('RPUSH', k, stamp)
  else
    local stamps = {}
    for i = 1, n do stamps[i] = stamp end
    len = redis.call('RPUSH', k, unpack(stamps))
  end
  local before = len - n
  local base = #out
  local lo, hi = nil, nil
  for i = 1, n do
    local count = before + i
    if count > keep then count = keep end
    local leave = 0
    if max and count > max then leave = count - max end
    local at = before + i - count + leave
    out[base + 2 * i - 1] = count
    out[base + 2 * i] = at
    if at > 0 and at < before then
      if lo == nil or at < lo then lo = at end
      if hi == nil or at > hi then hi = at end
    end
  end
  local old = {}
  if lo then old = redis.call('LRANGE', k, lo, hi) end
  if len > keep then redis.call('LTRIM', k, len - keep, -1) end
  redis.call('PEXPIRE', k, window_ms + 1000)
  for i = 1, n do
    local at = out[base + 2 * i]
    local ts = now
    if at < before then
      if at == 0 then ts = tonumber(head) else ts = tonumber(old[at - lo + 1]) end
    end
    local frees = math.ceil((ts + window - now) / 1000)
    if frees < 0 then frees = 0 end
    out[base + 2 * i] = frees
  end
end
return out
";

pub static HIT: LazyLock<Script> = LazyLock::new(|| Script::new(HIT_LUA));
