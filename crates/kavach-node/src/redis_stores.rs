//! Redis-backed stores for replicas: `RedisRateLimitStore`, `RedisSessionStore`,
//! `RedisInvalidationBroadcaster`. Each is created by an async `connect(url, opts)` (the
//! connection is made on the tokio runtime; failures reject with a coded error) and handed to
//! a gate through `GateOptions`; `close()` drops its connections (and the subscription).

use std::sync::Arc;
use std::time::Duration;

use kavach_core::invalidation::InvalidationBroadcaster;
use kavach_core::store::{RateLimitStore, SessionStore};
use kavach_core::InvalidationScope;
use kavach_redis::{ConnectOptions, RedisStoreError};
use napi::bindgen_prelude::{ClassInstance, FromNapiValue, PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::context::scope_target;
use crate::error::{invalid_argument, settle_error, to_js, Result};
use crate::event_loop::EventLoopRuntime;

/// Connection options shared by the three Redis classes.
#[napi(object, object_to_js = false)]
pub struct RedisConnectOptions {
    /// Key prefix after `kavach:` (keys are `kavach:<prefix>:rl:{...}`); printable ASCII, no
    /// braces or spaces.
    pub prefix: Option<String>,
    /// Treat the URL as Redis Cluster seed nodes (same as a `redis+cluster://` URL).
    /// @default false
    pub cluster: Option<bool>,
    /// Give up connecting after this many milliseconds.
    /// @default 5000
    pub connect_timeout_ms: Option<f64>,
    /// Every Redis command fails (and the gate refuses) after this many milliseconds.
    /// @default 2000
    pub command_timeout_ms: Option<f64>,
}

#[napi(object, object_to_js = false)]
pub struct RedisSessionStoreOptions {
    /// How long an idle session is kept, refreshed on every use (an integer, 1 … 4294967295).
    pub ttl_seconds: f64,
    pub prefix: Option<String>,
    /// @default false
    pub cluster: Option<bool>,
    /// @default 5000
    pub connect_timeout_ms: Option<f64>,
    /// @default 2000
    pub command_timeout_ms: Option<f64>,
}

#[napi(object, object_to_js = false)]
pub struct RedisBroadcasterOptions {
    /// Pub/sub channel shared by every replica.
    /// @default 'kavach:invalidation'
    pub channel: Option<String>,
    /// Key prefix after `kavach:` for the revocation log
    /// (`kavach:<prefix>:revocations:{<channel>}`); printable ASCII, no braces or spaces.
    pub prefix: Option<String>,
    /// How long a published scope stays in the revocation log and is replayed to replicas
    /// that start or reconnect later (an integer, 1 … 4294967295). Match the gates'
    /// `invalidationTtlSeconds`.
    /// @default 3600
    pub revocation_ttl_seconds: Option<f64>,
    /// @default false
    pub cluster: Option<bool>,
    /// @default 5000
    pub connect_timeout_ms: Option<f64>,
    /// @default 2000
    pub command_timeout_ms: Option<f64>,
}

fn connect_options(
    cluster: Option<bool>,
    connect_ms: Option<f64>,
    command_ms: Option<f64>,
) -> Result<ConnectOptions> {
    let mut o = ConnectOptions {
        cluster: cluster.unwrap_or(false),
        ..ConnectOptions::default()
    };
    if let Some(ms) = connect_ms {
        o.connect_timeout = timeout_ms("connectTimeoutMs", ms)?;
    }
    if let Some(ms) = command_ms {
        o.command_timeout = timeout_ms("commandTimeoutMs", ms)?;
    }
    Ok(o)
}

/// Longest Redis timeout accepted: 10 minutes.
const MAX_TIMEOUT_MS: u32 = 600_000;

/// Longest session or revocation TTL accepted: 2^32 - 1 seconds (about 136 years).
const MAX_TTL_SECONDS: u32 = u32::MAX;

/// An integer option from 1 to `max`. Every integer option is read as a JS number and checked
/// here, never converted by napi as `u32`: that conversion wraps -1 to 4294967295 and 2^32 + 5
/// to 5, and truncates 1.5 to 1, so a wrong value would be honoured as another one.
fn whole_number(name: &str, v: f64, max: u32, unit: &str) -> Result<u32> {
    if v.fract() == 0.0 && (1.0..=f64::from(max)).contains(&v) {
        // Exact: a whole number within u32.
        Ok(v as u32)
    } else {
        Err(invalid_argument(format!(
            "{name} must be an integer from 1 to {max} ({unit}), got {v}"
        )))
    }
}

/// A Redis timeout: a whole number of milliseconds from 1 to 600,000.
fn timeout_ms(name: &str, ms: f64) -> Result<Duration> {
    whole_number(name, ms, MAX_TIMEOUT_MS, "milliseconds")
        .map(|ms| Duration::from_millis(ms.into()))
}

/// A TTL: a whole number of seconds from 1 to 4294967295.
fn ttl_seconds(name: &str, seconds: f64) -> Result<u64> {
    whole_number(name, seconds, MAX_TTL_SECONDS, "seconds").map(u64::from)
}

fn js_err(e: &RedisStoreError) -> crate::error::JsErr {
    to_js(e.code(), e)
}

/// Where a store operation runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunOn {
    /// napi's multi-thread runtime.
    ThreadPool,
    /// The JS thread's event-loop runtime when there is one (`event_loop`), else the thread
    /// pool. For the rate and session stores' connects: their sockets then belong to the loop
    /// the hot path runs on. The promise still settles through napi's runtime (connects are
    /// rare).
    EventLoop,
}

/// Runs `fut` on tokio and settles the promise with `done(value)`, or rejects with the coded
/// error (`err.code` survives the async boundary through `settle_error`).
fn spawn_coded<'env, T, V, F>(
    env: &'env Env,
    on: RunOn,
    fut: F,
    done: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: napi::bindgen_prelude::ToNapiValue,
    F: std::future::Future<Output = std::result::Result<T, RedisStoreError>> + Send + 'static,
{
    type Boxed<T> = std::pin::Pin<
        Box<dyn std::future::Future<Output = std::result::Result<T, RedisStoreError>> + Send>,
    >;
    let event_loop = match on {
        RunOn::EventLoop => EventLoopRuntime::current(env),
        RunOn::ThreadPool => None,
    };
    let fut: Boxed<T> = match event_loop {
        Some(rt) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            rt.spawn(async move {
                let _ = tx.send(fut.await);
            });
            Box::pin(async move {
                rx.await.unwrap_or_else(|_| {
                    Err(RedisStoreError::Unavailable(
                        "connect task ended without a result".into(),
                    ))
                })
            })
        }
        None => Box::pin(fut),
    };
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, r| match r {
        Ok(v) => Ok(done(v)),
        Err(e) => Err(settle_error(env, js_err(&e))),
    })
    .map_err(|e| to_js(crate::error::codes::INTERNAL, e.reason))
}

/// Sliding-window rate limits shared by every replica (one atomic Lua script per hit, on the
/// Redis server's clock).
#[napi]
pub struct RedisRateLimitStore {
    inner: Arc<kavach_redis::RedisRateLimitStore>,
}

#[napi]
impl RedisRateLimitStore {
    /// Connect (fails within `connectTimeoutMs`, default 5 s: `redis connect timed out after 5s`).
    /// URL: `redis://host:port` or `redis+cluster://host:port,host:port`.
    #[napi(catch_unwind, ts_return_type = "Promise<RedisRateLimitStore>")]
    pub fn connect<'env>(
        env: &'env Env,
        url: String,
        opts: Option<RedisConnectOptions>,
    ) -> Result<PromiseRaw<'env, RedisRateLimitStore>> {
        let (prefix, o) = match opts {
            Some(o) => (
                o.prefix,
                connect_options(o.cluster, o.connect_timeout_ms, o.command_timeout_ms)?,
            ),
            None => (None, ConnectOptions::default()),
        };
        spawn_coded(
            env,
            RunOn::EventLoop,
            async move { kavach_redis::RedisRateLimitStore::connect(&url, prefix.as_deref(), o).await },
            |s| RedisRateLimitStore { inner: Arc::new(s) },
        )
    }

    /// The Redis key holding the window for a gate rate-limit key (for inspection).
    #[napi(catch_unwind)]
    pub fn key_for(&self, key: String) -> String {
        self.inner.key_for(&key)
    }

    /// Drop the connection; gates using this store refuse from then on.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close();
    }

    #[napi(catch_unwind, getter)]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl RedisRateLimitStore {
    pub(crate) fn as_core(&self) -> Arc<dyn RateLimitStore> {
        self.inner.clone()
    }
}

/// Session state (start, origin IP/geo/device, action count, revocation) shared by every
/// replica; each update is one atomic Lua script.
#[napi]
pub struct RedisSessionStore {
    inner: Arc<kavach_redis::RedisSessionStore>,
}

#[napi]
impl RedisSessionStore {
    #[napi(catch_unwind, ts_return_type = "Promise<RedisSessionStore>")]
    pub fn connect<'env>(
        env: &'env Env,
        url: String,
        opts: RedisSessionStoreOptions,
    ) -> Result<PromiseRaw<'env, RedisSessionStore>> {
        let ttl = ttl_seconds("ttlSeconds", opts.ttl_seconds)?;
        let o = connect_options(
            opts.cluster,
            opts.connect_timeout_ms,
            opts.command_timeout_ms,
        )?;
        let prefix = opts.prefix;
        spawn_coded(
            env,
            RunOn::EventLoop,
            async move {
                kavach_redis::RedisSessionStore::connect(&url, ttl, prefix.as_deref(), o).await
            },
            |s| RedisSessionStore { inner: Arc::new(s) },
        )
    }

    /// The Redis key (a hash) holding a session's state (for inspection).
    #[napi(catch_unwind)]
    pub fn key_for(&self, session_id: String) -> String {
        self.inner.key_for(&session_id)
    }

    #[napi(catch_unwind, getter)]
    pub fn ttl_seconds(&self) -> u32 {
        u32::try_from(self.inner.ttl_seconds()).unwrap_or(u32::MAX)
    }

    /// Mark a session revoked in Redis (every replica refuses it on its next evaluation).
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn invalidate<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        reason: String,
    ) -> Result<PromiseRaw<'env, ()>> {
        if session_id.is_empty() {
            return Err(invalid_argument("sessionId must be a non-empty string"));
        }
        let inner = self.inner.clone();
        spawn_coded(
            env,
            RunOn::ThreadPool,
            async move { inner.revoke(&session_id, &reason).await },
            |()| (),
        )
    }

    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close();
    }

    #[napi(catch_unwind, getter)]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl RedisSessionStore {
    pub(crate) fn as_core(&self) -> Arc<dyn SessionStore> {
        self.inner.clone()
    }
}

/// Invalidation broadcast over Redis pub/sub: every replica (this one included) hears every
/// scope. Reconnects with backoff after a drop; each scope is also kept in a revocation log
/// for its TTL and replayed on every (re)subscribe, so a replica that was away or started
/// later still hears it.
#[napi]
pub struct RedisInvalidationBroadcaster {
    inner: Arc<kavach_redis::RedisBroadcaster>,
}

#[napi]
impl RedisInvalidationBroadcaster {
    /// Resolves once the subscription is live and the revocation log has been read: scopes
    /// published earlier (still within their TTL) are handed to every listener that
    /// subscribes, so a gate created now refuses them too.
    #[napi(catch_unwind, ts_return_type = "Promise<RedisInvalidationBroadcaster>")]
    pub fn connect<'env>(
        env: &'env Env,
        url: String,
        opts: Option<RedisBroadcasterOptions>,
    ) -> Result<PromiseRaw<'env, RedisInvalidationBroadcaster>> {
        let (b, o) = match opts {
            Some(o) => (
                kavach_redis::BroadcasterOptions {
                    channel: o.channel,
                    prefix: o.prefix,
                    revocation_ttl_seconds: o
                        .revocation_ttl_seconds
                        .map(|s| ttl_seconds("revocationTtlSeconds", s))
                        .transpose()?
                        .unwrap_or(kavach_redis::DEFAULT_REVOCATION_TTL_SECONDS),
                },
                connect_options(o.cluster, o.connect_timeout_ms, o.command_timeout_ms)?,
            ),
            None => (
                kavach_redis::BroadcasterOptions::default(),
                ConnectOptions::default(),
            ),
        };
        spawn_coded(
            env,
            RunOn::ThreadPool,
            async move { kavach_redis::RedisBroadcaster::connect_with(&url, b, o).await },
            |b| RedisInvalidationBroadcaster { inner: Arc::new(b) },
        )
    }

    /// Publish a scope to every replica, and record it in the revocation log for
    /// `revocationTtlSeconds` so a replica that is disconnected or not started yet hears it
    /// when it (re)subscribes. A session scope is first written to the attached session store
    /// (`attachSessionStore`) as well.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn publish<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "'session' | 'principal' | 'role'")] target_kind: String,
        target_id: String,
        reason: String,
        evaluator: Option<String>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let kind = scope_target(&target_kind, &target_id)?;
        let scope = InvalidationScope {
            target_kind: kind,
            target_id,
            reason,
            evaluator: evaluator.unwrap_or_else(|| "manual".into()),
        };
        let inner = self.inner.clone();
        spawn_coded(
            env,
            RunOn::ThreadPool,
            async move { inner.publish_scope(&scope).await },
            |()| (),
        )
    }

    /// Remove a scope from the revocation log, so replicas that start or reconnect from now
    /// on no longer hear it. Gates that already applied it keep refusing until their
    /// `invalidationTtlSeconds` runs out or `gate.lift(scope)` (lifting is local to a gate).
    /// Resolves to whether the scope was recorded.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn forget<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "'session' | 'principal' | 'role'")] target_kind: String,
        target_id: String,
    ) -> Result<PromiseRaw<'env, bool>> {
        let kind = scope_target(&target_kind, &target_id)?;
        let inner = self.inner.clone();
        spawn_coded(
            env,
            RunOn::ThreadPool,
            async move { inner.forget_scope(kind, &target_id).await },
            |b| b,
        )
    }

    /// The Redis hash holding the revocation log (field `<kind>:<id>` → the JSON message).
    #[napi(catch_unwind, getter)]
    pub fn revocations_key(&self) -> String {
        self.inner.revocations_key().to_owned()
    }

    /// Scopes this broadcaster delivered from the revocation log rather than live.
    #[napi(catch_unwind, getter)]
    pub fn replayed_count(&self) -> u32 {
        u32::try_from(self.inner.replayed()).unwrap_or(u32::MAX)
    }

    /// Scopes whose publish Redis did not take (down or stalled), kept until the broadcaster
    /// publishes them once Redis answers (after its next successful PING or resubscribe).
    #[napi(catch_unwind, getter)]
    pub fn unsent_count(&self) -> u32 {
        u32::try_from(self.inner.unsent()).unwrap_or(u32::MAX)
    }

    /// Also write revoked sessions to this store when publishing (see `publish`).
    #[napi(catch_unwind)]
    pub fn attach_session_store(&self, store: &RedisSessionStore) {
        self.inner.attach_session_store(store.as_core());
    }

    /// Listeners registered on this broadcaster in this process (gates and
    /// `spawnInvalidationListener`).
    #[napi(catch_unwind, getter)]
    pub fn subscriber_count(&self) -> u32 {
        u32::try_from(self.inner.subscriber_count()).unwrap_or(u32::MAX)
    }

    #[napi(catch_unwind, getter)]
    pub fn channel(&self) -> String {
        self.inner.channel().to_owned()
    }

    /// This replica's id: the `origin` field of the JSON it publishes.
    #[napi(catch_unwind, getter)]
    pub fn origin(&self) -> String {
        self.inner.origin().to_owned()
    }

    /// True while the pub/sub subscription is connected.
    #[napi(catch_unwind, getter)]
    pub fn is_subscribed(&self) -> bool {
        self.inner.is_subscribed()
    }

    /// Stop the subscription and drop the connections. Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close();
    }

    #[napi(catch_unwind, getter)]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl RedisInvalidationBroadcaster {
    pub(crate) fn as_core(&self) -> Arc<dyn InvalidationBroadcaster> {
        self.inner.clone()
    }
}

// --- downcasts for `GateOptions` / `spawnInvalidationListener` (class type tags are checked) ---

fn downcast<'a, T: 'a + napi::bindgen_prelude::MaybeTypeTag>(
    v: &Unknown<'a>,
) -> Option<ClassInstance<'a, T>> {
    let raw = v.value();
    // SAFETY: `raw` is a live value of the current call; `from_napi_value` checks the napi
    // type tag before unwrapping, so a foreign object is an error, not a bad cast.
    unsafe { ClassInstance::<T>::from_napi_value(raw.env, raw.value) }.ok()
}

/// `Some` when `v` is a `RedisRateLimitStore`.
pub(crate) fn rate_store_from_unknown(v: &Unknown<'_>) -> Option<Arc<dyn RateLimitStore>> {
    downcast::<RedisRateLimitStore>(v).map(|s| s.as_core())
}

/// `Some` when `v` is a `RedisSessionStore`.
pub(crate) fn session_store_from_unknown(v: &Unknown<'_>) -> Option<Arc<dyn SessionStore>> {
    downcast::<RedisSessionStore>(v).map(|s| s.as_core())
}

/// `Some` when `v` is a `RedisInvalidationBroadcaster`.
pub(crate) fn broadcaster_from_unknown(
    v: &Unknown<'_>,
) -> Option<Arc<dyn InvalidationBroadcaster>> {
    downcast::<RedisInvalidationBroadcaster>(v).map(|b| b.as_core())
}
