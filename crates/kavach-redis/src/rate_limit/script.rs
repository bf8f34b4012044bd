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
//! The hits are pushed first. When a limit is set and the list, pushed hits included, holds
//! fewer than `max` entries, every hit is within the limit whatever has expired, so the
//! script does not look at the entries at all: it reports the list's length as the count (an
//! upper bound: expired entries not yet trimmed are included) and 0 as `frees` (one more hit
//! would still be within the limit). Only a hit that could be at or over the limit, a plain
//! `hit` (no limit), or a push that crosses a multiple of `TIDY_EVERY` reads the oldest
//! entries and counts exactly; so a count over the limit is always exact, and expired
//! entries never make a hit refuse. Under a steady load far below the limit, each call costs
//! TIME, RPUSH and PEXPIRE. One hit on one key takes a straight-line path that parses one
//! number where the loop parses five (glibc's `strtod`, which Lua's `tonumber` calls, costs
//! about 2k instructions even on short strings). In callgrind instruction counts inside
//! `EVALSHA` (3,000 calls on a 2 s window, Redis 7.0.15) a call costs 41.8k this way, 48.1k
//! through the loop without reading entries, and 73.5k reading and parsing the oldest
//! entries every time; rate-limiter-flexible's script costs 29.3k.
//!
//! Trimming is lazy: expired entries at the head are counted out when the script looks, but
//! removed only once `LINGER` of them have gathered, or on a tidy (every `TIDY_EVERY` pushes
//! or so), which reads a chunk large enough for what expired since the last one. So under a
//! steady load a list holds about `TIDY_EVERY + LINGER` expired entries at most; under any
//! load it never holds more than `max + 1` entries, and an idle key expires (below). Each
//! command a script runs costs Redis 2-3 µs beyond the command's own time, and under a steady
//! load one or two entries expire between calls, so an `LTRIM` on every call would be a
//! command spent on one entry (one key at concurrency 1 on a 2 s window: 23.6 µs per script
//! call trimming every time, 18.2 µs trimming lazily, `INFO commandstats`). The key's expiry
//! is still set on every call (the window plus 1 s after the newest hit), so an entry can
//! never leave before its window ends, whatever mix of script versions ran on the key.
//!
//! Every argument the script hands to `redis.call` is a string. Redis 7.0 turns a Lua number
//! argument into a string with `%.17g`, 1-2 µs per number: so the timestamp is built by
//! concatenation (cheaper than `string.format`), padded only when the microseconds have fewer
//! than 6 digits (a padding table built on every call costs 0.2-0.3 µs of the script's 5.3-5.9
//! µs), the expiry comes from the caller as text, and the one-hit LRANGE bounds are literals.
//! One key at concurrency 1 costs 24.3-24.7 µs per script call this way against 29.6-30.3 µs
//! with number arguments (`INFO commandstats` over a loop of EVALSHA on one key).
//!
//! KEYS[g]: group g's list (the same key may appear twice, for hits with another window or
//! limit; groups run in order). ARGV[5g-4]: its window in ms. ARGV[5g-3]: its limit `max`, or
//! '' for none. ARGV[5g-2]: how many hits to record. ARGV[5g-1]: how many entries to keep at
//! most (`max + 1` with a limit: enough to judge it, so memory stays bounded however hard a key
//! is hammered). ARGV[5g]: the key's expiry in ms (the window + 1 s). In a Redis Cluster a call carries one key (one slot); on a single server one
//! call may carry many keys (see `coalesce.rs`).
//!
//! Returns, group after group, `{count, frees}` per hit: the hit's count within the window
//! (itself included) and the ms until a slot frees up (with a limit that is over: until one
//! more hit would be within `max`; otherwise until the oldest entry leaves), except for the
//! hits the script did not need to look for (above): the list's length so far, and 0.

use std::sync::LazyLock;

use redis::{Cmd, Script};

use super::coalesce::Group;
use crate::connect::ScriptLoad as Load;

/// Hits one script call records at most (Lua's `unpack` limit is far above this).
pub const MAX_HITS_PER_CALL: usize = 256;

/// Calls per group under a steady load below the limit: RPUSH and PEXPIRE, plus one TIME per
/// run, and LRANGE and LTRIM on a tidy. A look reads the oldest entries in a chunk (see the
/// comments), doubling while a whole chunk has expired. Older entries are read only for a hit
/// over its limit.
const HIT_LUA: &str = r"
local LINGER = 4
local TIDY_EVERY = 32
local t = redis.call('TIME')
-- TIME's microseconds (1 to 6 digits) padded to 6; six digits nine times in ten.
local us = t[2]
local stamp
if #us == 6 then
  stamp = t[1] .. us
else
  stamp = t[1] .. string.rep('0', 6 - #us) .. us
end
-- The time as a number, computed on the first look (a call that never looks needs none).
local now
-- One hit on one key under its limit, the usual call at low concurrency: the loop below
-- for that case, without its tables and number parsing (instruction counts: module docs).
local pushed
if #KEYS == 1 and ARGV[3] == '1' then
  pushed = redis.call('RPUSH', KEYS[1], stamp)
  local max = tonumber(ARGV[2])
  if max and pushed < max and pushed % TIDY_EVERY ~= 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
    return {pushed, 0}
  end
end
local out = {}
for g = 1, #KEYS do
  local k = KEYS[g]
  local n = tonumber(ARGV[5 * g - 2])
  local len
  if pushed then
    len = pushed
  elseif n == 1 then
    len = redis.call('RPUSH', k, stamp)
  else
    local stamps = {}
    for i = 1, n do stamps[i] = stamp end
    len = redis.call('RPUSH', k, unpack(stamps))
  end
  local base = #out
  local max = tonumber(ARGV[5 * g - 3])
  -- tidy: this push crossed a multiple of TIDY_EVERY.
  local tidy = len % TIDY_EVERY < n
  if max and len < max and not tidy then
    -- Under the limit even if nothing has expired: no need to look (see the module docs).
    for i = 1, n do
      out[base + 2 * i - 1] = len - n + i
      out[base + 2 * i] = 0
    end
  else
    if not now then now = t[1] * 1000000 + t[2] end
    local window = tonumber(ARGV[5 * g - 4]) * 1000
    local keep = tonumber(ARGV[5 * g - 1])
    local cutoff = now - window
    -- The oldest entries, in a chunk sized by the hits just pushed plus LINGER (plus
    -- TIDY_EVERY on a tidy: about that many expired since the last look). As literals for
    -- one hit (see the module docs).
    local chunk = n + LINGER
    if tidy then chunk = chunk + TIDY_EVERY end
    local heads
    if n == 1 and not tidy then
      heads = redis.call('LRANGE', k, '0', '4')
    elseif n == 1 then
      heads = redis.call('LRANGE', k, '0', '36')
    else
      heads = redis.call('LRANGE', k, '0', tostring(chunk - 1))
    end
    -- d: expired entries at the head of the list (the hits just pushed never are).
    local d = 0
    local head
    while true do
      local m = #heads
      while d < m do
        head = tonumber(heads[d + 1])
        if head > cutoff then break end
        d = d + 1
      end
      if d < m or m < chunk then break end
      redis.call('LTRIM', k, tostring(d), '-1')
      len = len - d
      if chunk < 1024 then chunk = chunk * 2 end
      heads = redis.call('LRANGE', k, '0', tostring(chunk - 1))
      d = 0
    end
    -- head: the oldest unexpired entry's time; lag: expired entries left before it.
    local lag = d
    if d >= LINGER then
      redis.call('LTRIM', k, tostring(d), '-1')
      len = len - d
      lag = 0
    end
    local before = len - lag - n
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
    local old
    if lo then old = redis.call('LRANGE', k, tostring(lag + lo), tostring(lag + hi)) end
    if len - lag > keep then redis.call('LTRIM', k, tostring(len - keep), '-1') end
    for i = 1, n do
      local at = out[base + 2 * i]
      local ts = now
      if at < before then
        if at == 0 then ts = head else ts = tonumber(old[at - lo + 1]) end
      end
      local frees = math.ceil((ts + window - now) / 1000)
      if frees < 0 then frees = 0 end
      out[base + 2 * i] = frees
    end
  end
  redis.call('PEXPIRE', k, ARGV[5 * g])
end
return out
";

/// For its SHA1 (EVALSHA).
static HIT: LazyLock<Script> = LazyLock::new(|| Script::new(HIT_LUA));

/// Entries kept for a plain `hit` (no limit): the largest limit the policy language allows,
/// plus one, as in the in-process store. Beyond that exact counts stop mattering.
const UNBOUNDED_KEEP: u64 = kavach_core::policy::schema::RATE_LIMIT_MAX + 1;
/// A window's key outlives its newest hit by the window plus this.
const EXPIRY_SLACK_MS: u64 = 1_000;

/// The script call recording, for each `(group, n)` in order, `n` hits (argument layout in the
/// module docs). Built straight into one command: no per-argument buffers on the hot path.
pub fn hit_call(groups: &[(Group, usize)], load: Load) -> Cmd {
    let mut cmd = match load {
        Load::Cached => redis::cmd("EVALSHA"),
        Load::WithSource => redis::cmd("EVAL"),
    };
    match load {
        Load::Cached => cmd.arg(HIT.get_hash()),
        Load::WithSource => cmd.arg(HIT_LUA),
    };
    cmd.arg(groups.len());
    for (group, _) in groups {
        cmd.arg(&group.redis_key);
    }
    for (group, n) in groups {
        cmd.arg(group.window_ms);
        match group.max {
            Some(max) => cmd.arg(max),
            None => cmd.arg(""),
        };
        cmd.arg(*n)
            .arg(group.max.map_or(UNBOUNDED_KEEP, |m| m.saturating_add(1)))
            .arg(group.window_ms.saturating_add(EXPIRY_SLACK_MS));
    }
    cmd
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_one_hit_chunk_literals_follow_linger_and_tidy_every() {
        let constant = |name: &str| -> u32 {
            HIT_LUA
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("local {name} = ")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (linger, tidy_every) = (constant("LINGER"), constant("TIDY_EVERY"));
        // chunk - 1 with chunk = n + LINGER (+ TIDY_EVERY on a tidy) and n = 1.
        for last in [linger, linger + tidy_every] {
            let literal = format!("redis.call('LRANGE', k, '0', '{last}')");
            assert!(HIT_LUA.contains(&literal), "expected {literal}");
        }
    }

    fn group(key: &str, window_ms: u64, max: Option<u64>) -> Group {
        Group {
            redis_key: key.into(),
            window_ms,
            max,
        }
    }

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_call_lists_the_keys_then_five_arguments_per_group() {
        let groups = [
            (group("kavach:rl:{a}", 2_000, Some(10)), 3),
            (group("kavach:rl:{b}", 60_000, None), 1),
        ];
        let cached = args(&hit_call(&groups, Load::Cached));
        let sha = HIT.get_hash().to_owned();
        assert_eq!(
            cached,
            [
                "EVALSHA",
                sha.as_str(),
                "2",
                "kavach:rl:{a}",
                "kavach:rl:{b}",
                "2000",
                "10",
                "3",
                "11",
                "3000",
                "60000",
                "",
                "1",
                "1000001",
                "61000",
            ]
        );
        let with_source = args(&hit_call(&groups, Load::WithSource));
        assert_eq!(with_source[0], "EVAL");
        assert_eq!(with_source[1], HIT_LUA);
        assert_eq!(with_source[2..], cached[2..]);
    }
}
