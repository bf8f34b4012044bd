//! In-process stores: sharded `parking_lot` maps, bounded in entries and in bytes, idle entries
//! dropped. Every call completes without I/O, so gates using them can evaluate synchronously.
//!
//! When a shard is full of live entries, the least recently used ones make room, so a flood of
//! new keys never refuses everyone. What is let go must not fail open:
//! - a rate counter that is refusing (at or over its max) is never evicted; an evicted counter
//!   leaves its count in a keyed-hash slot, and a key created later in that slot starts from
//!   that count (ids sharing the slot are over-counted, never under-counted);
//! - a revoked session goes to the overflow slots (`invalidation::overflow`), so its id (and
//!   ids sharing its slot) stay refused until its retention ends; a session that is not revoked
//!   is forgotten, and its id starts a new session when seen again.
//!
//! Only when every entry of a shard is a refusing counter does a new key get an error (which
//! the gate turns into a Refuse), naming the bound.

use std::collections::VecDeque;
use std::sync::Arc;

use ahash::{AHashMap, RandomState};
use parking_lot::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::invalidation::overflow::{clip, refused_text, OverflowSlots};
use crate::invalidation::revocations::MAX_REASON_BYTES;
use crate::session::{SessionSeed, SessionState};

use super::{RateHit, RateLimitStore, RateProbe, Recorded, SessionStore, StoreError, StoreFuture};

const SHARDS: usize = 16;
/// How often (by the store's clock) a shard is swept for idle entries even when not full.
const SWEEP_EVERY_MS: i64 = 60_000;

fn shard_of(hasher: &RandomState, key: &str) -> usize {
    // The modulo keeps the value below SHARDS, so the cast cannot truncate.
    (hasher.hash_one(key) % SHARDS as u64) as usize
}

/// Bookkeeping bytes counted per entry besides its key and payload.
const ENTRY_OVERHEAD: usize = 96;

/// How many of the least recently used entries one eviction pass removes (of a full shard):
/// a pass scans the shard, so it frees a batch rather than one entry.
fn eviction_batch(cap: usize) -> usize {
    (cap / 8).max(1)
}

fn ready<'a, T: Send + 'a>(v: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

// ---------------------------------------------------------------- rate limits

#[derive(Debug)]
struct Window {
    /// Hit times (ms), oldest first; at most `max + 1` kept (enough to judge `max`).
    hits: VecDeque<i64>,
    window_ms: i64,
    /// The limit of the last hit (`RATE_LIMIT_MAX` for a plain `hit`).
    max: u64,
}

impl Window {
    fn bytes(key: &str, hits: &VecDeque<i64>) -> usize {
        key.len() + hits.capacity() * std::mem::size_of::<i64>() + ENTRY_OVERHEAD
    }
    /// Hits still inside the window at `now`.
    fn live_hits(&self, now: i64) -> usize {
        let cutoff = now.saturating_sub(self.window_ms);
        self.hits.iter().filter(|&&t| t > cutoff).count()
    }
    /// At or over its max: evicting it would let a refused key back in.
    fn refusing(&self, now: i64) -> bool {
        self.live_hits(now) as u64 >= self.max
    }
    /// Its newest hit is still inside the window: a sweep keeps it.
    fn active(&self, now: i64) -> bool {
        self.hits
            .back()
            .is_some_and(|&t| t > now.saturating_sub(self.window_ms))
    }
}

/// Bytes a new key's counter takes with its first hit.
fn new_key_bytes(key: &str) -> usize {
    key.len() + std::mem::size_of::<i64>() + ENTRY_OVERHEAD
}

/// What an evicted counter leaves behind: its count and when its newest hit leaves the window.
#[derive(Debug, Clone, Copy, Default)]
struct CountSlot {
    count: u32,
    until_ms: i64,
}

#[derive(Debug, Default)]
struct RateShard {
    keys: AHashMap<String, Window>,
    bytes: usize,
    next_sweep_ms: i64,
    /// Allocated on the first eviction.
    evicted: Option<Box<[CountSlot]>>,
}

/// Slots per shard for evicted counters.
const COUNT_SLOTS: usize = 1 << 14;

/// Sliding-window counters, bounded per key (`max + 1` timestamps), in keys and in bytes.
pub struct MemoryRateLimitStore {
    shards: Vec<Mutex<RateShard>>,
    hasher: RandomState,
    slot_hasher: RandomState,
    clock: Arc<dyn Clock>,
    max_keys_per_shard: usize,
    max_bytes_per_shard: usize,
}

impl std::fmt::Debug for MemoryRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimitStore")
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

impl MemoryRateLimitStore {
    pub const DEFAULT_MAX_KEYS: usize = 100_000;
    pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_capacity(clock, Self::DEFAULT_MAX_KEYS)
    }

    /// `max_keys` live counters at most (rounded up to a multiple of the shard count).
    pub fn with_capacity(clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        Self::with_limits(clock, max_keys, Self::DEFAULT_MAX_BYTES)
    }

    /// Bounds in keys and in bytes (both split evenly over the shards). A single key's window
    /// is kept whole whatever its size (at most `max + 1` timestamps of 8 bytes).
    pub fn with_limits(clock: Arc<dyn Clock>, max_keys: usize, max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(RateShard::default()))
                .collect(),
            hasher: RandomState::new(),
            slot_hasher: RandomState::new(),
            clock,
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
            max_bytes_per_shard: max_bytes.div_ceil(SHARDS),
        }
    }

    /// Keys currently held (idle ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().keys.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (keys, timestamps, bookkeeping).
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().bytes).sum()
    }

    fn count_slot(&self, key: &str) -> usize {
        // The modulo keeps the value below COUNT_SLOTS, so the cast cannot truncate.
        (self.slot_hasher.hash_one(key) % COUNT_SLOTS as u64) as usize
    }

    fn full(&self, shard: &RateShard, extra_bytes: usize) -> bool {
        self.over_bounds(shard.keys.len(), shard.bytes, extra_bytes)
    }

    fn over_bounds(&self, keys: usize, bytes: usize, extra_bytes: usize) -> bool {
        keys >= self.max_keys_per_shard || bytes + extra_bytes > self.max_bytes_per_shard
    }

    /// Whether a new key of `new_bytes` fits in `shard` once idle counters are swept and every
    /// counter that is not refusing is evicted, as `record` makes room; judged without doing
    /// either, so `peek` can ask it too. `earlier` are the keys of this shard that the same
    /// evaluation records first: each holds its window after that hit, kept if refusing.
    fn room_for_new_key(
        &self,
        shard: &RateShard,
        now: i64,
        new_bytes: usize,
        earlier: &[&RateProbe],
    ) -> bool {
        let earlier: Vec<(&str, Window)> = earlier
            .iter()
            .map(|p| (p.key.as_str(), self.window_after_hit(shard, p, now)))
            .collect();
        let earlier_bytes: usize = earlier.iter().map(|(k, w)| Window::bytes(k, &w.hits)).sum();
        if !self.over_bounds(
            shard.keys.len() + earlier.len(),
            shard.bytes + earlier_bytes,
            new_bytes,
        ) {
            return true;
        }
        let is_earlier = |k: &str| earlier.iter().any(|(e, _)| *e == k);
        let held = shard
            .keys
            .iter()
            .map(|(k, w)| (k.as_str(), w))
            .filter(|(k, _)| !is_earlier(k));
        let (kept_keys, kept_bytes) = held
            .chain(earlier.iter().map(|(k, w)| (*k, w)))
            .filter(|(_, w)| w.active(now) && w.refusing(now))
            .fold((0, 0), |(n, b), (k, w)| {
                (n + 1, b + Window::bytes(k, &w.hits))
            });
        !self.over_bounds(kept_keys, kept_bytes, new_bytes)
    }

    /// The window `record` leaves for `probe`'s key in `shard` after its hit, built without
    /// changing the shard (same capacity, so the same bytes).
    fn window_after_hit(&self, shard: &RateShard, probe: &RateProbe, now: i64) -> Window {
        let window = i64::try_from(probe.window_ms).unwrap_or(i64::MAX);
        let mut hits = match shard.keys.get(&probe.key) {
            Some(w) => {
                let mut copy = VecDeque::with_capacity(w.hits.capacity());
                copy.extend(w.hits.iter().copied());
                copy
            }
            None => self.inherited_hits(shard, &probe.key, window, probe.max, now),
        };
        push_hit(&mut hits, now, window, probe.max);
        Window {
            hits,
            window_ms: window,
            max: probe.max,
        }
    }

    /// The hits a key not held starts from: an evicted counter's count when the key's count
    /// slot is live (ids sharing the slot are over-counted, never under-counted).
    fn inherited_hits(
        &self,
        shard: &RateShard,
        key: &str,
        window: i64,
        limit: u64,
        now: i64,
    ) -> VecDeque<i64> {
        let mut hits = VecDeque::new();
        if let Some(slot) = shard
            .evicted
            .as_ref()
            .map(|s| s[self.count_slot(key)])
            .filter(|s| s.until_ms > now)
        {
            let keep = usize::try_from(limit).unwrap_or(usize::MAX);
            let n = usize::try_from(slot.count).unwrap_or(usize::MAX).min(keep);
            hits.extend(std::iter::repeat_n(slot.until_ms.saturating_sub(window), n));
        }
        hits
    }

    /// The error for a new key in a shard that `room_for_new_key` finds no room in.
    fn at_bound(&self) -> StoreError {
        StoreError(format!(
            "in-process rate limit store is at its bound ({} keys or {} bytes per shard) and every counter in this key's shard is at its limit",
            self.max_keys_per_shard, self.max_bytes_per_shard
        ))
    }

    /// Evicts a batch of the least recently hit counters that are not refusing, keeping
    /// `keep`; each leaves its count in its slot. Returns how many went.
    fn evict(&self, shard: &mut RateShard, now: i64, keep: &str) -> usize {
        let mut candidates: Vec<(i64, String)> = shard
            .keys
            .iter()
            .filter(|(k, w)| k.as_str() != keep && !w.refusing(now))
            .map(|(k, w)| (w.hits.back().copied().unwrap_or(i64::MIN), k.clone()))
            .collect();
        let n = eviction_batch(self.max_keys_per_shard).min(candidates.len());
        if n == 0 {
            return 0;
        }
        if n < candidates.len() {
            candidates.select_nth_unstable(n - 1);
        }
        for (_, key) in candidates.into_iter().take(n) {
            let Some(w) = shard.keys.remove(&key) else {
                continue;
            };
            shard.bytes -= Window::bytes(&key, &w.hits);
            let slot = CountSlot {
                count: u32::try_from(w.live_hits(now)).unwrap_or(u32::MAX),
                until_ms: w
                    .hits
                    .back()
                    .copied()
                    .unwrap_or(now)
                    .saturating_add(w.window_ms),
            };
            let i = self.count_slot(&key);
            let slots = shard
                .evicted
                .get_or_insert_with(|| vec![CountSlot::default(); COUNT_SLOTS].into_boxed_slice());
            let old = slots[i];
            slots[i] = if old.until_ms > now {
                CountSlot {
                    count: old.count.max(slot.count),
                    until_ms: old.until_ms.max(slot.until_ms),
                }
            } else {
                slot
            };
        }
        n
    }

    /// Records one hit and counts the hits in the window. With `max`, at most `max + 1`
    /// timestamps are kept and `frees_in_ms` (when over `max`) is the time until one more hit
    /// would again be within `max`.
    pub fn record(
        &self,
        key: &str,
        window_ms: u64,
        max: Option<u64>,
    ) -> Result<RateHit, StoreError> {
        let now = self.clock.now_ms();
        let window = i64::try_from(window_ms).unwrap_or(i64::MAX);
        // Plain `hit` (no max) is still bounded: beyond the largest limit the language allows,
        // exact counts stop mattering.
        let limit = max.unwrap_or(crate::policy::schema::RATE_LIMIT_MAX);
        let mut shard = self.shards[shard_of(&self.hasher, key)].lock();
        let new_bytes = new_key_bytes(key);
        if !shard.keys.contains_key(key) {
            // Judged before making room, by the check `peek` makes, so both agree.
            if !self.room_for_new_key(&shard, now, new_bytes, &[]) {
                return Err(self.at_bound());
            }
            if self.full(&shard, new_bytes) || now >= shard.next_sweep_ms {
                sweep(&mut shard, now);
            }
            while self.full(&shard, new_bytes) {
                if self.evict(&mut shard, now, key) == 0 {
                    return Err(self.at_bound());
                }
            }
            let hits = self.inherited_hits(&shard, key, window, limit, now);
            shard.bytes += Window::bytes(key, &hits);
            shard.keys.insert(
                key.to_owned(),
                Window {
                    hits,
                    window_ms: window,
                    max: limit,
                },
            );
        }
        let RateShard { keys, bytes, .. } = &mut *shard;
        let Some(entry) = keys.get_mut(key) else {
            return Err(StoreError(format!(
                "rate key '{key}' vanished from the in-process store"
            )));
        };
        let before = Window::bytes(key, &entry.hits);
        entry.window_ms = window;
        entry.max = limit;
        push_hit(&mut entry.hits, now, window, limit);
        *bytes = *bytes - before + Window::bytes(key, &entry.hits);
        let count = entry.hits.len() as u64;
        // The hit that must leave the window before a further hit fits within `max` (plain
        // `hit`: the oldest one).
        let leave_idx = match max {
            Some(m) if count > m => usize::try_from(count - m).unwrap_or(0),
            _ => 0,
        };
        let frees_at = entry
            .hits
            .get(leave_idx)
            .copied()
            .unwrap_or(now)
            .saturating_add(window);
        let hit = RateHit {
            count,
            frees_in_ms: u64::try_from(frees_at.saturating_sub(now)).unwrap_or(0),
        };
        // A growing window may push the shard over its bytes: others make room.
        while shard.bytes > self.max_bytes_per_shard && self.evict(&mut shard, now, key) > 0 {}
        Ok(hit)
    }
}

impl MemoryRateLimitStore {
    /// What `record(key, window_ms, Some(max))` would return now, its error included,
    /// changing nothing.
    pub fn peek(&self, key: &str, window_ms: u64, max: u64) -> Result<RateHit, StoreError> {
        self.peek_after(&[], key, window_ms, max)
    }

    /// `peek` for a key recorded after the keys of `earlier` (other keys, in order): the room
    /// a new key needs is judged with those hits recorded, so in a shard with room for one
    /// new counter the second new key fails as `record` fails it. Changes nothing.
    ///
    /// The one effect of the earlier records not followed: the counters their evictions push
    /// out (a batch of the least recently hit ones that are not refusing, chosen over the
    /// whole shard). `key` is read as the shard holds it now, while `record` would find it
    /// changed when an earlier record of the evaluation has
    /// - evicted `key` itself (held now, not refusing): `record` creates it again, which needs
    ///   room, and starts it from its count slot (the same count or more, its hits dated at
    ///   the evicted counter's newest, so a later `frees_in_ms`);
    /// - evicted another counter into `key`'s count slot (`key` new): `record` starts `key`
    ///   from that counter's count, where this reads the slot as it is now.
    pub fn peek_after(
        &self,
        earlier: &[RateProbe],
        key: &str,
        window_ms: u64,
        max: u64,
    ) -> Result<RateHit, StoreError> {
        let now = self.clock.now_ms();
        let window = i64::try_from(window_ms).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(window);
        let shard_index = shard_of(&self.hasher, key);
        let shard = self.shards[shard_index].lock();
        let earlier_here: Vec<&RateProbe> = earlier
            .iter()
            .filter(|p| p.key != key && shard_of(&self.hasher, &p.key) == shard_index)
            .collect();
        let mut hits: VecDeque<i64> = match shard.keys.get(key) {
            Some(w) => w.hits.iter().copied().filter(|&t| t > cutoff).collect(),
            None if !self.room_for_new_key(&shard, now, new_key_bytes(key), &earlier_here) => {
                return Err(self.at_bound());
            }
            // As `record` would create it: from an evicted counter's slot, if live.
            None => shard
                .evicted
                .as_ref()
                .map(|s| s[self.count_slot(key)])
                .filter(|s| s.until_ms > now)
                .map(|s| {
                    let n = usize::try_from(s.count).unwrap_or(usize::MAX);
                    std::iter::repeat_n(s.until_ms.saturating_sub(window), n)
                        .filter(|&t| t > cutoff)
                        .collect()
                })
                .unwrap_or_default(),
        };
        drop(shard);
        hits.push_back(now);
        let keep = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
        while hits.len() > keep {
            hits.pop_front();
        }
        let count = hits.len() as u64;
        let leave_idx = if count > max {
            usize::try_from(count - max).unwrap_or(0)
        } else {
            0
        };
        let frees_at = hits
            .get(leave_idx)
            .copied()
            .unwrap_or(now)
            .saturating_add(window);
        Ok(RateHit {
            count,
            frees_in_ms: u64::try_from(frees_at.saturating_sub(now)).unwrap_or(0),
        })
    }
}

/// Adds a hit at `now` to `hits`: drops the hits that left the window and keeps at most
/// `limit + 1` (enough to judge `limit`).
fn push_hit(hits: &mut VecDeque<i64>, now: i64, window: i64, limit: u64) {
    let cutoff = now.saturating_sub(window);
    while hits.front().is_some_and(|&t| t <= cutoff) {
        hits.pop_front();
    }
    hits.push_back(now);
    let keep = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    while hits.len() > keep {
        hits.pop_front();
    }
    if hits.capacity() > 2 * hits.len() + 16 {
        hits.shrink_to_fit();
    }
}

/// Drops keys whose newest hit has left its window; schedules the next sweep.
fn sweep(shard: &mut RateShard, now: i64) {
    let RateShard { keys, bytes, .. } = shard;
    keys.retain(|k, w| {
        let live = w.active(now);
        if !live {
            *bytes -= Window::bytes(k, &w.hits);
        }
        live
    });
    shard.next_sweep_ms = now.saturating_add(SWEEP_EVERY_MS);
}

impl RateLimitStore for MemoryRateLimitStore {
    fn hit<'a>(&'a self, key: &'a str, window_ms: u64) -> StoreFuture<'a, RateHit> {
        ready(self.record(key, window_ms, None))
    }

    fn hit_bounded<'a>(
        &'a self,
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        ready(self.record(key, window_ms, Some(max)))
    }

    fn peek_bounded<'a>(
        &'a self,
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        ready(self.peek(key, window_ms, max))
    }

    fn peek_bounded_after<'a>(
        &'a self,
        earlier: &'a [RateProbe],
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        ready(self.peek_after(earlier, key, window_ms, max))
    }

    fn is_in_process(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- sessions

#[derive(Debug)]
struct SessionEntry {
    state: SessionState,
    last_seen_ms: i64,
}

fn session_bytes(id: &str, state: &SessionState) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let geo = state.origin_geo.as_ref().map_or(0, |g| {
        g.country_code.len() + opt(&g.region) + opt(&g.city) + 32
    });
    let device = state
        .origin_device
        .as_ref()
        .map_or(0, |d| d.hash.len() + opt(&d.description));
    id.len() + opt(&state.origin_ip) + geo + device + opt(&state.invalidated) + ENTRY_OVERHEAD
}

#[derive(Debug, Default)]
struct SessionShard {
    sessions: AHashMap<String, SessionEntry>,
    bytes: usize,
    next_sweep_ms: i64,
}

impl SessionShard {
    fn remove(&mut self, id: &str) -> Option<SessionEntry> {
        let e = self.sessions.remove(id)?;
        self.bytes -= session_bytes(id, &e.state);
        Some(e)
    }
    fn insert(&mut self, id: &str, entry: SessionEntry) {
        self.bytes += session_bytes(id, &entry.state);
        if let Some(old) = self.sessions.insert(id.to_owned(), entry) {
            self.bytes -= session_bytes(id, &old.state);
        }
    }
    fn sweep(&mut self, now: i64, idle_ttl_ms: i64) {
        let Self {
            sessions, bytes, ..
        } = self;
        sessions.retain(|id, e| {
            let keep = !outlived(e, now, idle_ttl_ms);
            if !keep {
                *bytes -= session_bytes(id, &e.state);
            }
            keep
        });
        self.next_sweep_ms = now.saturating_add(SWEEP_EVERY_MS);
    }
}

/// Session state, bounded in number and bytes; sessions idle longer than the TTL expire.
pub struct MemorySessionStore {
    shards: Vec<Mutex<SessionShard>>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    idle_ttl_ms: i64,
    max_per_shard: usize,
    max_bytes_per_shard: usize,
    /// Revoked sessions evicted from any shard (locked after a shard, never before).
    revoked_overflow: Mutex<OverflowSlots>,
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &self.len())
            .field("idle_ttl_ms", &self.idle_ttl_ms)
            .finish_non_exhaustive()
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemorySessionStore {
    pub const DEFAULT_MAX_SESSIONS: usize = 100_000;
    pub const DEFAULT_MAX_BYTES: usize = 128 << 20;
    pub const DEFAULT_IDLE_TTL_SECONDS: i64 = 3600;

    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_limits(
            clock,
            Self::DEFAULT_MAX_SESSIONS,
            Self::DEFAULT_IDLE_TTL_SECONDS,
        )
    }

    pub fn with_limits(clock: Arc<dyn Clock>, max_sessions: usize, idle_ttl_seconds: i64) -> Self {
        Self::with_byte_limit(
            clock,
            max_sessions,
            idle_ttl_seconds,
            Self::DEFAULT_MAX_BYTES,
        )
    }

    /// Bounds in sessions and in bytes (both split evenly over the shards).
    pub fn with_byte_limit(
        clock: Arc<dyn Clock>,
        max_sessions: usize,
        idle_ttl_seconds: i64,
        max_bytes: usize,
    ) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(SessionShard::default()))
                .collect(),
            hasher: RandomState::new(),
            clock,
            idle_ttl_ms: idle_ttl_seconds.max(1).saturating_mul(1000),
            max_per_shard: max_sessions.div_ceil(SHARDS).max(1),
            max_bytes_per_shard: max_bytes.div_ceil(SHARDS),
            revoked_overflow: Mutex::new(OverflowSlots::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().sessions.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (ids, origins, reasons, bookkeeping).
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().bytes).sum()
    }

    /// Revoked sessions moved to the overflow slots so far.
    pub fn revoked_overflowed(&self) -> u64 {
        self.revoked_overflow.lock().dropped()
    }

    /// Whether `a`, were it evicted revoked, would share an overflow slot with `b`.
    pub fn share_overflow_slot(&self, a: &str, b: &str) -> bool {
        self.revoked_overflow.lock().same_slot(a, b)
    }

    /// A copy of the session's state, if live.
    pub fn get(&self, session_id: &str) -> Option<SessionState> {
        let now = self.clock.now_ms();
        let shard = self.shards[shard_of(&self.hasher, session_id)].lock();
        shard
            .sessions
            .get(session_id)
            .filter(|e| !self.expired(e, now))
            .map(|e| e.state.clone())
    }

    /// What `load_or_init` would return for `session_id` now, changing nothing: its live state,
    /// or, for an id not held, the revoked state its live overflow slot gives it. `None` when
    /// the id would start afresh from the caller's seed.
    pub fn peek_state(&self, session_id: &str) -> Option<SessionState> {
        let now = self.clock.now_ms();
        let shard = self.shards[shard_of(&self.hasher, session_id)].lock();
        match shard.sessions.get(session_id) {
            Some(e) if !self.expired(e, now) => Some(e.state.clone()),
            _ => Some(self.first_sight(session_id, fresh(now), now))
                .filter(|state| state.invalidated.is_some()),
        }
    }

    /// The state of an id seen when not held live: `state` (built from the caller's seed),
    /// revoked when the id's overflow slot is live (an evicted revoked session, or one sharing
    /// its slot). Called with the id's shard locked (the overflow slots lock after a shard).
    fn first_sight(&self, id: &str, mut state: SessionState, now: i64) -> SessionState {
        if let Some(until) = self.revoked_overflow.lock().live_until(id, now) {
            state.invalidated = Some(refused_text(
                "a revocation of this session",
                &format!(
                    "the in-process session store's bound ({} sessions or {} bytes per shard)",
                    self.max_per_shard, self.max_bytes_per_shard
                ),
                until,
            ));
        }
        state
    }

    fn expired(&self, e: &SessionEntry, now: i64) -> bool {
        outlived(e, now, self.idle_ttl_ms)
    }

    fn full(&self, shard: &SessionShard, extra_bytes: usize) -> bool {
        shard.sessions.len() >= self.max_per_shard
            || shard.bytes + extra_bytes > self.max_bytes_per_shard
    }

    /// Evicts a batch of the least recently seen sessions: revoked ones go to the overflow
    /// slots until their retention ends, the others are forgotten.
    fn evict(&self, shard: &mut SessionShard, now: i64) {
        let mut candidates: Vec<(i64, String)> = shard
            .sessions
            .iter()
            .map(|(id, e)| (e.last_seen_ms, id.clone()))
            .collect();
        let n = eviction_batch(self.max_per_shard).min(candidates.len());
        if n == 0 {
            return;
        }
        if n < candidates.len() {
            candidates.select_nth_unstable(n - 1);
        }
        for (_, id) in candidates.into_iter().take(n) {
            if let Some(e) = shard.remove(&id) {
                if e.state.invalidated.is_some() {
                    let until = e
                        .last_seen_ms
                        .saturating_add(self.idle_ttl_ms.max(REVOKED_RETENTION_MS));
                    if until > now {
                        self.revoked_overflow.lock().drop_id(&id, until);
                    }
                }
            }
        }
    }

    /// Runs `f` on the live entry for `id`, creating it from `seed` when absent or expired.
    fn with_entry<T>(
        &self,
        id: &str,
        seed: impl FnOnce(i64) -> SessionState,
        f: impl FnOnce(&mut SessionEntry) -> T,
    ) -> Result<T, StoreError> {
        let now = self.clock.now_ms();
        let ttl = self.idle_ttl_ms;
        let mut shard = self.shards[shard_of(&self.hasher, id)].lock();
        let live = shard
            .sessions
            .get(id)
            .is_some_and(|e| !outlived(e, now, ttl));
        if !live {
            shard.remove(id);
            let state = self.first_sight(id, seed(now), now);
            let bytes = session_bytes(id, &state);
            if self.full(&shard, bytes) || now >= shard.next_sweep_ms {
                shard.sweep(now, ttl);
            }
            while !shard.sessions.is_empty() && self.full(&shard, bytes) {
                self.evict(&mut shard, now);
            }
            shard.insert(
                id,
                SessionEntry {
                    state,
                    last_seen_ms: now,
                },
            );
        }
        let SessionShard {
            sessions, bytes, ..
        } = &mut *shard;
        let entry = sessions.get_mut(id).ok_or_else(|| {
            StoreError(format!("session '{id}' vanished from the in-process store"))
        })?;
        entry.last_seen_ms = now;
        let before = session_bytes(id, &entry.state);
        let out = f(entry);
        *bytes = *bytes - before + session_bytes(id, &entry.state);
        Ok(out)
    }
}

/// A revoked session is remembered at least this long (ms) whatever the idle TTL: forgetting it
/// after an idle hour would let the hijacked session id start afresh. The Redis store agrees.
pub const REVOKED_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// Idle past its retention: the idle TTL, or `REVOKED_RETENTION_MS` for a revoked session.
fn outlived(e: &SessionEntry, now: i64, idle_ttl_ms: i64) -> bool {
    let keep = if e.state.invalidated.is_some() {
        idle_ttl_ms.max(REVOKED_RETENTION_MS)
    } else {
        idle_ttl_ms
    };
    now.saturating_sub(e.last_seen_ms) > keep
}

/// A session first seen by a count or a revocation rather than a load: it starts now.
fn fresh(now_ms: i64) -> SessionState {
    SessionState {
        started_at: now_ms.div_euclid(1000),
        ..SessionState::default()
    }
}

impl SessionStore for MemorySessionStore {
    fn load_or_init<'a>(
        &'a self,
        session_id: &'a str,
        seed: &'a SessionSeed,
    ) -> StoreFuture<'a, SessionState> {
        ready(self.with_entry(session_id, |_| seed.clone(), |e| e.state.clone()))
    }

    fn try_record_permit<'a>(
        &'a self,
        session_id: &'a str,
        limit: Option<u64>,
    ) -> StoreFuture<'a, Recorded> {
        ready(self.with_entry(session_id, fresh, |e| match limit {
            _ if e.state.invalidated.is_some() => Recorded::Invalidated,
            Some(l) if e.state.action_count >= l => Recorded::CapReached,
            _ => {
                e.state.action_count += 1;
                Recorded::Counted(e.state.action_count)
            }
        }))
    }

    fn invalidate<'a>(&'a self, session_id: &'a str, reason: &'a str) -> StoreFuture<'a, ()> {
        ready(self.with_entry(session_id, fresh, |e| {
            e.state.invalidated = Some(clip(reason, MAX_REASON_BYTES).to_owned());
        }))
    }

    fn peek<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionState>> {
        ready(Ok(self.peek_state(session_id)))
    }

    fn is_in_process(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::clock::ManualClock;
    use crate::context::{ActionContext, PrincipalKind};
    use crate::gate::{Gate, GateConfig};
    use crate::policy::PolicySet;
    use crate::verdict::{Decision, RefuseCode, Verdict};

    /// 2026-01-15T12:00:00Z.
    const NOON_MS: i64 = 1_768_478_400_000;
    const DAY_MS: u64 = 86_400_000;

    fn refusal(v: &Verdict) -> Option<(RefuseCode, &str)> {
        match &v.decision {
            Decision::Refuse(r) => Some((r.code, r.reason.as_str())),
            _ => None,
        }
    }

    fn gate(policies: &str, config: GateConfig) -> Arc<Gate> {
        let config = GateConfig {
            enable_drift: false,
            ..config
        };
        Gate::new(PolicySet::from_json(policies).unwrap(), config).unwrap()
    }

    const PERMIT_ALL: &str = r#"{"policies":[{"name":"all","effect":"permit","conditions":[]}]}"#;
    const ONE_EXPORT_A_DAY: &str = r#"{"policies":[{"name":"one_a_day","effect":"permit","conditions":[{"action":"export"},{"rate_limit":{"max":1,"window":"24h"}}]}]}"#;

    /// One session per shard: each new session in a shard evicts the one there.
    fn small_session_store(clock: &Arc<ManualClock>) -> Arc<MemorySessionStore> {
        Arc::new(MemorySessionStore::with_limits(clock.clone(), SHARDS, 60))
    }

    /// Evicts the revoked session `victim` by starting other sessions until it is gone.
    fn push_out(store: &MemorySessionStore, victim: &str) {
        block_on(store.invalidate(victim, "token leaked")).unwrap();
        for i in 0..10_000 {
            if store.get(victim).is_none() {
                return;
            }
            block_on(store.load_or_init(&format!("s{i}"), &SessionSeed::default())).unwrap();
        }
        panic!("'{victim}' was never evicted");
    }

    #[test]
    fn session_peek_of_an_evicted_revoked_id_is_the_state_load_gives() {
        let clock = ManualClock::new(NOON_MS);
        let store = small_session_store(&clock);
        push_out(&store, "victim");
        assert_eq!(store.revoked_overflowed(), 1);
        let held = store.len();

        let peeked = store
            .peek_state("victim")
            .expect("revoked by its overflow slot");
        assert_eq!(store.len(), held, "peek creates nothing");
        assert!(store.get("victim").is_none(), "peek creates nothing");
        let loaded = block_on(store.load_or_init("victim", &SessionSeed::default())).unwrap();
        assert!(loaded.invalidated.is_some());
        assert_eq!(peeked.invalidated, loaded.invalidated);

        // An id that no slot revokes starts afresh: nothing to peek at.
        let fresh_id = (0..)
            .map(|i| format!("new-{i}"))
            .find(|id| !store.share_overflow_slot("victim", id))
            .unwrap();
        assert_eq!(store.peek_state(&fresh_id), None);
    }

    #[test]
    fn explain_refuses_an_evicted_revoked_session_as_evaluate_does() {
        let clock = ManualClock::new(NOON_MS);
        let store = small_session_store(&clock);
        let g = gate(
            PERMIT_ALL,
            GateConfig {
                session_store: Some(store.clone()),
                clock: clock.clone(),
                ..GateConfig::default()
            },
        );
        let mut ctx = ActionContext::new("agent-7", PrincipalKind::Agent, "read");
        ctx.session_id = Some("victim".into());
        assert!(g.evaluate_sync(&ctx).unwrap().decision.is_permit());
        push_out(&store, "victim");

        let explained = block_on(g.explain(&ctx)).verdict;
        let evaluated = g.evaluate_sync(&ctx).unwrap();
        let (code, reason) = refusal(&evaluated).expect("evaluate refuses");
        assert_eq!(code, RefuseCode::SessionInvalid);
        assert_eq!(refusal(&explained), Some((code, reason)));
    }

    /// Each key with one hit of a limit of one: at its limit, never evicted.
    fn refusing_counters(store: &MemoryRateLimitStore, n: usize) {
        for i in 0..n {
            let _ = store.record(&format!("k{i}"), DAY_MS, Some(1));
        }
    }

    #[test]
    fn rate_peek_fails_where_record_fails_in_a_full_shard() {
        let clock = ManualClock::new(NOON_MS);
        // One counter per shard.
        let store = MemoryRateLimitStore::with_limits(clock.clone(), SHARDS, usize::MAX);
        refusing_counters(&store, 400);
        assert_eq!(store.len(), SHARDS);
        let (held, bytes) = (store.len(), store.bytes());
        let mut refused = 0;
        for i in 0..50 {
            let key = format!("newcomer-{i}");
            let peeked = store.peek(&key, DAY_MS, 1);
            assert_eq!(
                (store.len(), store.bytes()),
                (held, bytes),
                "peek changes nothing"
            );
            assert_eq!(peeked, store.record(&key, DAY_MS, Some(1)), "{key}");
            refused += usize::from(peeked.is_err());
        }
        assert_eq!(refused, 50, "every shard holds only a refusing counter");
    }

    #[test]
    fn rate_peek_succeeds_where_record_makes_room() {
        let clock = ManualClock::new(NOON_MS);
        let store = MemoryRateLimitStore::with_limits(clock.clone(), SHARDS, usize::MAX);
        // Under their limit: evictable.
        for i in 0..400 {
            store.record(&format!("k{i}"), DAY_MS, Some(5)).unwrap();
        }
        let held = store.len();
        assert_eq!(
            store.peek("newcomer", DAY_MS, 5),
            Ok(RateHit {
                count: 1,
                frees_in_ms: DAY_MS
            })
        );
        assert_eq!(store.len(), held, "peek evicts nothing");
        assert_eq!(
            store.peek("newcomer", DAY_MS, 5),
            store.record("newcomer", DAY_MS, Some(5))
        );

        // Refusing counters whose hits have left the window: a sweep frees them.
        let store = MemoryRateLimitStore::with_limits(clock.clone(), SHARDS, usize::MAX);
        refusing_counters(&store, 400);
        assert!(store.peek("newcomer", DAY_MS, 1).is_err());
        clock.advance_ms(i64::try_from(DAY_MS).unwrap() + 1);
        assert!(store.peek("newcomer", DAY_MS, 1).is_ok());
        assert_eq!(
            store.peek("newcomer", DAY_MS, 1),
            store.record("newcomer", DAY_MS, Some(1))
        );
    }

    /// A gate on `policies` whose in-process rate store holds one counter per shard, and that
    /// store, on a clock fixed at noon.
    fn gate_on_one_counter_per_shard(policies: &str) -> (Arc<MemoryRateLimitStore>, Arc<Gate>) {
        let clock = ManualClock::new(NOON_MS);
        let rates = Arc::new(MemoryRateLimitStore::with_limits(
            clock.clone(),
            SHARDS,
            usize::MAX,
        ));
        let g = gate(
            policies,
            GateConfig {
                rate_store: Some(rates.clone()),
                clock,
                ..GateConfig::default()
            },
        );
        (rates, g)
    }

    #[test]
    fn explain_refuses_a_new_rate_key_in_a_full_shard_as_evaluate_does() {
        let (rates, g) = gate_on_one_counter_per_shard(ONE_EXPORT_A_DAY);
        let export = |p: &str| ActionContext::new(p, PrincipalKind::Agent, "export");
        // Each principal uses its one export: every counter is at its limit.
        for i in 0..400 {
            let _ = g.evaluate_sync(&export(&format!("p{i}"))).unwrap();
        }
        assert_eq!(rates.len(), SHARDS);
        for i in 0..20 {
            let ctx = export(&format!("newcomer-{i}"));
            let explained = block_on(g.explain(&ctx)).verdict;
            let evaluated = g.evaluate_sync(&ctx).unwrap();
            let (code, reason) = refusal(&evaluated).expect("evaluate refuses");
            assert_eq!(code, RefuseCode::StoreUnavailable, "{reason}");
            assert_eq!(refusal(&explained), Some((code, reason)), "{i}");
        }
    }

    /// Two limits of one a day (kept once hit): the first key of a principal fills a shard
    /// with room for one counter, the second finds none.
    const TWO_LIMITS: &str = r#"{"policies":[{"name":"go","effect":"permit","conditions":[{"action":"go"},{"rate_limit":{"max":2,"window":"24h"}},{"rate_limit":{"max":1,"window":"24h"}}]}]}"#;

    /// The two counter keys `policies` give `principal`, in the order `evaluate` records them.
    fn two_limit_keys(policies: &str, principal: &str) -> Vec<String> {
        let set = PolicySet::from_json(policies).unwrap();
        let keys: Vec<String> = set
            .candidates("go")
            .flat_map(|p| &p.conditions)
            .filter_map(|c| match c {
                crate::policy::Condition::RateLimit(rl) => Some(rl.key(principal, "go")),
                _ => None,
            })
            .collect();
        assert_eq!(keys.len(), 2);
        keys
    }

    /// Explains, then evaluates, `principal`'s call: both verdicts.
    fn explain_then_evaluate(g: &Gate, principal: &str) -> (Verdict, Verdict) {
        let ctx = ActionContext::new(principal, PrincipalKind::Agent, "go");
        let explained = block_on(g.explain(&ctx)).verdict;
        (explained, g.evaluate_sync(&ctx).unwrap())
    }

    #[test]
    fn explain_judges_the_second_new_rate_key_of_a_shard_as_evaluate_records_it() {
        let (rates, g) = gate_on_one_counter_per_shard(TWO_LIMITS);
        let same_shard = |p: &String| {
            let keys = two_limit_keys(TWO_LIMITS, p);
            shard_of(&rates.hasher, &keys[0]) == shard_of(&rates.hasher, &keys[1])
        };
        let principals = (0..).map(|i| format!("p{i}"));

        // Both keys new in an empty shard: the first (max 2, one hit) is not refusing, so the
        // second evicts it; both permit.
        let roomy = principals.clone().find(same_shard).unwrap();
        let (explained, evaluated) = explain_then_evaluate(&g, &roomy);
        assert!(evaluated.decision.is_permit(), "{evaluated:?}");
        assert!(explained.decision.is_permit(), "{explained:?}");

        // The first key held with one hit of its two: its hit makes it refusing, kept, and the
        // shard has no room left for the second.
        let crowded = principals
            .filter(same_shard)
            .find(|p| {
                let keys = two_limit_keys(TWO_LIMITS, p);
                let shard = shard_of(&rates.hasher, &keys[0]);
                rates.shards[shard].lock().keys.is_empty()
            })
            .unwrap();
        let keys = two_limit_keys(TWO_LIMITS, &crowded);
        rates.record(&keys[0], DAY_MS, Some(2)).unwrap();
        let (held, bytes) = (rates.len(), rates.bytes());
        let peeked = rates.peek_after(
            &[RateProbe {
                key: keys[0].clone(),
                window_ms: DAY_MS,
                max: 2,
            }],
            &keys[1],
            DAY_MS,
            1,
        );
        assert!(peeked.is_err(), "{peeked:?}");
        assert_eq!(
            (rates.len(), rates.bytes()),
            (held, bytes),
            "peek changes nothing"
        );
        assert_eq!(
            rates.peek(&keys[1], DAY_MS, 1),
            Ok(RateHit {
                count: 1,
                frees_in_ms: DAY_MS
            }),
            "alone, the second key finds room"
        );

        let (explained, evaluated) = explain_then_evaluate(&g, &crowded);
        let (code, reason) = refusal(&evaluated).expect("evaluate refuses");
        assert_eq!(code, RefuseCode::StoreUnavailable, "{reason}");
        assert_eq!(refusal(&explained), Some((code, reason)));
    }

    #[test]
    fn explain_refuses_two_new_rate_keys_in_a_shard_with_room_for_one_as_evaluate_does() {
        // Both limits one a day: each key is refusing once hit.
        let policies = TWO_LIMITS.replace(r#""max":2"#, r#""max":1"#);
        let (rates, g) = gate_on_one_counter_per_shard(&policies);
        let principal = (0..)
            .map(|i| format!("p{i}"))
            .find(|p| {
                let keys = two_limit_keys(&policies, p);
                shard_of(&rates.hasher, &keys[0]) == shard_of(&rates.hasher, &keys[1])
            })
            .unwrap();

        let (explained, evaluated) = explain_then_evaluate(&g, &principal);
        let (code, reason) = refusal(&evaluated).expect("the second key finds no room");
        assert_eq!(code, RefuseCode::StoreUnavailable, "{reason}");
        assert_eq!(refusal(&explained), Some((code, reason)));
    }
}
