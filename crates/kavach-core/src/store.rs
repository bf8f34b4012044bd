//! Store traits. In-process implementations live next to them; the Redis ones live in
//! `kavach-redis`. Every method returns a boxed future so one async pipeline serves both:
//! in-memory futures are ready at once, so the sync `evaluate()` polls the pipeline a single
//! time; network stores need `evaluate_async()`.

use std::future::Future;
use std::pin::Pin;

use thiserror::Error;

use crate::session::{SessionSeed, SessionState};

pub mod memory;

/// A store that could not answer. During evaluation this becomes a Refuse, never a Permit.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct StoreError(pub String);

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The result of recording one hit in a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHit {
    /// Hits inside the window, this one included.
    pub count: u64,
    /// Milliseconds until the oldest hit in the window leaves it (when a slot frees up).
    pub frees_in_ms: u64,
}

pub trait RateLimitStore: Send + Sync {
    /// Atomically record one hit for `key` at the store's notion of now and count the hits in
    /// the last `window_ms` milliseconds.
    fn hit<'a>(&'a self, key: &'a str, window_ms: u64) -> StoreFuture<'a, RateHit>;
    /// Like `hit`, for a limit of `max` hits per window: the gate calls this one. A store may
    /// keep only `max + 1` timestamps per key (enough to judge the limit) and report in
    /// `frees_in_ms` the time until one more hit would be within `max` again. A hit that is
    /// under `max` even counting hits that have expired may report that upper bound as its
    /// `count` and 0 as `frees_in_ms` (the Redis store does, to skip reading the window): the
    /// count is exact whenever it is `max` or more. The default delegates to `hit`.
    fn hit_bounded<'a>(
        &'a self,
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        let _ = max;
        self.hit(key, window_ms)
    }
    /// What `hit_bounded` would return now, without recording the hit (`gate.explain`): the
    /// same count, or the same error where `hit_bounded` would fail (a store at its bound).
    /// Stores that cannot read a window without counting keep this default, an error.
    fn peek_bounded<'a>(
        &'a self,
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        let _ = (key, window_ms, max);
        Box::pin(std::future::ready(Err(StoreError(
            "this rate-limit store cannot be read without counting".into(),
        ))))
    }
    /// `peek_bounded` for a key that `evaluate` records after the keys of `earlier` (the rate
    /// limits read before it in the same evaluation, in order, each with its own key): what
    /// `hit_bounded` would return once those hits are recorded, changing nothing. A bounded
    /// store counts the room the earlier keys take (a shard with room for one new counter
    /// fails the second; `MemoryRateLimitStore::peek_after` names what it does not follow).
    /// The default ignores `earlier`, right for a store where one key's answer never depends
    /// on other keys (the Redis store).
    fn peek_bounded_after<'a>(
        &'a self,
        earlier: &'a [RateProbe],
        key: &'a str,
        window_ms: u64,
        max: u64,
    ) -> StoreFuture<'a, RateHit> {
        let _ = earlier;
        self.peek_bounded(key, window_ms, max)
    }
    /// True when every call completes without I/O (lets the gate offer sync `evaluate`).
    fn is_in_process(&self) -> bool;
}

/// A rate-limit read of one evaluation: the arguments of its `hit_bounded` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateProbe {
    pub key: String,
    pub window_ms: u64,
    pub max: u64,
}

/// What [`SessionStore::try_record_permit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Counted: the session's new count of permitted actions.
    Counted(u64),
    /// The limit was already reached: nothing counted.
    CapReached,
    /// The session is marked invalidated (by another evaluation, another gate or `revoke`),
    /// possibly after this evaluation loaded it: nothing counted. Checked in the same atomic
    /// step as the count, so no permit is recorded for a session once it is invalidated.
    Invalidated,
}

pub trait SessionStore: Send + Sync {
    /// The session's state, created from `seed` the first time the id is seen.
    fn load_or_init<'a>(
        &'a self,
        session_id: &'a str,
        seed: &'a SessionSeed,
    ) -> StoreFuture<'a, SessionState>;
    /// Atomically count one permitted action unless the session was invalidated or `limit`
    /// permitted actions were already counted (then nothing is counted).
    fn try_record_permit<'a>(
        &'a self,
        session_id: &'a str,
        limit: Option<u64>,
    ) -> StoreFuture<'a, Recorded>;
    /// Mark the session revoked (kept until the session expires).
    fn invalidate<'a>(&'a self, session_id: &'a str, reason: &'a str) -> StoreFuture<'a, ()>;
    /// The state `load_or_init` would return, without creating or touching the session
    /// (`gate.explain`): the stored state, or the revoked state the store would give an id it
    /// no longer holds (a store at its bound that keeps revocations of evicted sessions);
    /// `None` when `load_or_init` would start the session from its seed. Stores that cannot
    /// read without side effects keep this default, an error.
    fn peek<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionState>> {
        let _ = session_id;
        Box::pin(std::future::ready(Err(StoreError(
            "this session store cannot be read without recording the session".into(),
        ))))
    }
    fn is_in_process(&self) -> bool;
}
