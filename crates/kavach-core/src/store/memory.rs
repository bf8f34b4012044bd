//! In-process stores: sharded `parking_lot` maps, bounded, idle entries dropped. Every call
//! completes without I/O, so gates using them can evaluate synchronously. When full of live
//! entries they refuse new keys (an error, which the gate turns into a Refuse) rather than
//! evict live state: evicting a live counter or a revoked session would fail open.

use std::collections::VecDeque;
use std::sync::Arc;

use ahash::{AHashMap, RandomState};
use parking_lot::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::session::{SessionSeed, SessionState};

use super::{RateHit, RateLimitStore, SessionStore, StoreError, StoreFuture};

const SHARDS: usize = 16;
/// How often (by the store's clock) a shard is swept for idle entries even when not full.
const SWEEP_EVERY_MS: i64 = 60_000;

fn shard_of(hasher: &RandomState, key: &str) -> usize {
    // The modulo keeps the value below SHARDS, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let i = (hasher.hash_one(key) % SHARDS as u64) as usize;
    i
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
}

#[derive(Debug, Default)]
struct RateShard {
    keys: AHashMap<String, Window>,
    next_sweep_ms: i64,
}

/// Sliding-window counters, bounded per key (`max + 1` timestamps) and in number of keys.
pub struct MemoryRateLimitStore {
    shards: Vec<Mutex<RateShard>>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    max_keys_per_shard: usize,
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

    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_capacity(clock, Self::DEFAULT_MAX_KEYS)
    }

    /// `max_keys` live counters at most (rounded up to a multiple of the shard count).
    pub fn with_capacity(clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(RateShard::default()))
                .collect(),
            hasher: RandomState::new(),
            clock,
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// Keys currently held (idle ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().keys.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let mut shard = self.shards[shard_of(&self.hasher, key)].lock();
        let full = shard.keys.len() >= self.max_keys_per_shard;
        if (full || now >= shard.next_sweep_ms) && !shard.keys.contains_key(key) {
            sweep(&mut shard, now);
            if shard.keys.len() >= self.max_keys_per_shard {
                return Err(StoreError(format!(
                    "in-process rate limit store is full ({} live keys per shard)",
                    self.max_keys_per_shard
                )));
            }
        }
        let entry = shard.keys.entry(key.to_owned()).or_insert_with(|| Window {
            hits: VecDeque::new(),
            window_ms: window,
        });
        entry.window_ms = window;
        let cutoff = now.saturating_sub(window);
        while entry.hits.front().is_some_and(|&t| t <= cutoff) {
            entry.hits.pop_front();
        }
        entry.hits.push_back(now);
        {
            // Plain `hit` (no max) is still bounded: beyond the largest limit the language
            // allows, exact counts stop mattering.
            let max = max.unwrap_or(crate::policy::schema::RATE_LIMIT_MAX);
            let keep = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
            while entry.hits.len() > keep {
                entry.hits.pop_front();
            }
        }
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
        Ok(RateHit {
            count,
            frees_in_ms: u64::try_from(frees_at.saturating_sub(now)).unwrap_or(0),
        })
    }
}

impl MemoryRateLimitStore {
    /// What `record(key, window_ms, Some(max))` would return now, changing nothing.
    pub fn peek(&self, key: &str, window_ms: u64, max: u64) -> RateHit {
        let now = self.clock.now_ms();
        let window = i64::try_from(window_ms).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(window);
        let shard = self.shards[shard_of(&self.hasher, key)].lock();
        let mut hits: VecDeque<i64> = shard
            .keys
            .get(key)
            .map(|w| w.hits.iter().copied().filter(|&t| t > cutoff).collect())
            .unwrap_or_default();
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
        RateHit {
            count,
            frees_in_ms: u64::try_from(frees_at.saturating_sub(now)).unwrap_or(0),
        }
    }
}

/// Drops keys whose newest hit has left its window; schedules the next sweep.
fn sweep(shard: &mut RateShard, now: i64) {
    shard.keys.retain(|_, w| {
        w.hits
            .back()
            .is_some_and(|&t| t > now.saturating_sub(w.window_ms))
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
        ready(Ok(self.peek(key, window_ms, max)))
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

#[derive(Debug, Default)]
struct SessionShard {
    sessions: AHashMap<String, SessionEntry>,
    next_sweep_ms: i64,
}

/// Session state, bounded in number; sessions idle longer than the TTL expire.
pub struct MemorySessionStore {
    shards: Vec<Mutex<SessionShard>>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    idle_ttl_ms: i64,
    max_per_shard: usize,
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
    pub const DEFAULT_IDLE_TTL_SECONDS: i64 = 3600;

    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_limits(
            clock,
            Self::DEFAULT_MAX_SESSIONS,
            Self::DEFAULT_IDLE_TTL_SECONDS,
        )
    }

    pub fn with_limits(clock: Arc<dyn Clock>, max_sessions: usize, idle_ttl_seconds: i64) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(SessionShard::default()))
                .collect(),
            hasher: RandomState::new(),
            clock,
            idle_ttl_ms: idle_ttl_seconds.max(1).saturating_mul(1000),
            max_per_shard: max_sessions.div_ceil(SHARDS).max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().sessions.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    fn expired(&self, e: &SessionEntry, now: i64) -> bool {
        outlived(e, now, self.idle_ttl_ms)
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
            shard.sessions.remove(id);
            if shard.sessions.len() >= self.max_per_shard || now >= shard.next_sweep_ms {
                shard.sessions.retain(|_, e| !outlived(e, now, ttl));
                shard.next_sweep_ms = now.saturating_add(SWEEP_EVERY_MS);
            }
            if shard.sessions.len() >= self.max_per_shard {
                return Err(StoreError(format!(
                    "in-process session store is full ({} live sessions per shard)",
                    self.max_per_shard
                )));
            }
            shard.sessions.insert(
                id.to_owned(),
                SessionEntry {
                    state: seed(now),
                    last_seen_ms: now,
                },
            );
        }
        let entry = shard.sessions.get_mut(id).ok_or_else(|| {
            StoreError(format!("session '{id}' vanished from the in-process store"))
        })?;
        entry.last_seen_ms = now;
        Ok(f(entry))
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
    ) -> StoreFuture<'a, Option<u64>> {
        ready(self.with_entry(session_id, fresh, |e| match limit {
            Some(l) if e.state.action_count >= l => None,
            _ => {
                e.state.action_count += 1;
                Some(e.state.action_count)
            }
        }))
    }

    fn invalidate<'a>(&'a self, session_id: &'a str, reason: &'a str) -> StoreFuture<'a, ()> {
        ready(self.with_entry(session_id, fresh, |e| {
            e.state.invalidated = Some(reason.to_owned());
        }))
    }

    fn peek<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionState>> {
        ready(Ok(self.get(session_id)))
    }

    fn is_in_process(&self) -> bool {
        true
    }
}
