//! Invalidation broadcast over Redis pub/sub.
//!
//! `publish` sends one JSON message on the channel (default `kavach:invalidation`):
//! `{"target_kind":"session","target_id":"s-1","reason":"...","evaluator":"drift","origin":"<replica id>"}`.
//! A subscriber task per broadcaster receives every message on the channel (its own included:
//! local listeners hear a scope exactly once, through Redis, whoever published it) and calls the
//! registered listeners. When the subscription drops or stops answering its 1 s PING, it
//! reconnects with exponential backoff (50 ms doubling to 2 s), rotating through the cluster
//! seed nodes; a cluster propagates PUBLISH to every node, so any node will do.
//!
//! Pub/sub is fire-and-forget: a replica that is disconnected while a message is sent misses
//! it. So every scope is also recorded in Redis until its revocation TTL runs out
//! ([`crate::revocation_log`], one script records and publishes), and on every (re)subscribe the
//! broadcaster reads the log back: scopes it had not heard yet are delivered to its listeners,
//! and every live scope is kept in a local mirror ([`crate::known`]) handed to each listener
//! that subscribes later (a gate created after the revocation refuses it too). A session scope
//! is also written to the attached session store
//! ([`RedisBroadcaster::attach_session_store`]) before it is published.
//!
//! A scope Redis does not take (down, stalled past the command timeout) is kept
//! ([`crate::unsent`]) and published by the subscriber task once Redis answers again (after each
//! successful PING and each resubscribe), so an Invalidate issued during an outage still
//! reaches the other replicas; the failed publish's error says so.
//!
//! Lifting stays local: `gate.lift` undoes a revocation on that gate only (a replay after a
//! reconnect does not re-apply a scope this broadcaster already heard).
//! [`RedisBroadcaster::forget_scope`] removes a scope from the log so replicas that start or
//! reconnect later no longer hear it; otherwise it leaves the log when its TTL runs out.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kavach_core::invalidation::{InvalidationBroadcaster, ScopeListener};
use kavach_core::policy::identifier::excerpt;
use kavach_core::store::{SessionStore, StoreFuture};
use kavach_core::{InvalidationScope, ScopeKind};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::connect::{ConnectOptions, RedisConn};
use crate::error::{RedisStoreError, Result};
use crate::keys;
use crate::known::Known;
use crate::publisher::Publisher;
use crate::revocation_log::RevocationLog;

pub const DEFAULT_CHANNEL: &str = "kavach:invalidation";
const PING_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Default revocation TTL, the same as a gate's `invalidationTtlSeconds` default.
pub const DEFAULT_REVOCATION_TTL_SECONDS: u64 = 3600;

/// What a broadcaster shares with the other replicas: the channel, the key prefix of its
/// revocation log, and how long a published scope stays in that log.
#[derive(Debug, Clone)]
pub struct BroadcasterOptions {
    /// Pub/sub channel (default [`DEFAULT_CHANNEL`]).
    pub channel: Option<String>,
    /// Key prefix after `kavach:` for the revocation log (printable ASCII, no braces/spaces).
    pub prefix: Option<String>,
    /// How long a published scope is replayed to replicas that (re)subscribe. Match the
    /// gates' `invalidationTtlSeconds`.
    pub revocation_ttl_seconds: u64,
}

impl Default for BroadcasterOptions {
    fn default() -> Self {
        Self {
            channel: None,
            prefix: None,
            revocation_ttl_seconds: DEFAULT_REVOCATION_TTL_SECONDS,
        }
    }
}

/// The wire format (FORMATS-style: field names are part of the contract with other replicas).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireScope {
    pub target_kind: String,
    pub target_id: String,
    pub reason: String,
    pub evaluator: String,
    /// The publishing broadcaster's random id (diagnostics; every replica still applies it).
    pub origin: String,
    /// When the scope leaves the revocation log (unix ms on the Redis server's clock). Added by
    /// the publishing script; absent in hand-written messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

struct Listeners {
    list: RwLock<Vec<(u64, ScopeListener)>>,
    next_id: AtomicU64,
    received: AtomicU64,
    replayed: AtomicU64,
    subscribed: AtomicBool,
    known: Mutex<Known>,
    /// Redis server clock minus the local clock (ms), measured at each log read; turns a
    /// message's `expires_at_ms` into a local deadline.
    server_offset_ms: AtomicI64,
    /// Lifetime of a message without `expires_at_ms`.
    default_ttl: Duration,
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Listeners {
    fn new(default_ttl: Duration) -> Self {
        Self {
            list: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(0),
            received: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
            known: Mutex::new(Known::default()),
            server_offset_ms: AtomicI64::new(0),
            default_ttl,
        }
    }

    /// Delivered unless this broadcaster already heard exactly that message (a replay of
    /// something heard live, or a live message that a log read already delivered). An expired
    /// replayed message is dropped; an expired live one is still delivered (it is news).
    fn deliver(&self, payload: &str, live: bool) {
        // Whatever reaches the channel is quoted as an excerpt: anyone who can PUBLISH there
        // could otherwise write terminal escapes and forged lines into the service's stderr.
        let Ok(wire) = serde_json::from_str::<WireScope>(payload) else {
            eprintln!(
                "kavach: ignoring malformed invalidation message: {}",
                excerpt(payload)
            );
            return;
        };
        let Some(kind) = ScopeKind::parse(&wire.target_kind) else {
            eprintln!(
                "kavach: ignoring invalidation with unknown target_kind '{}'",
                excerpt(&wire.target_kind)
            );
            return;
        };
        let now = Instant::now();
        let remaining_ms = match wire.expires_at_ms {
            Some(at) => at.saturating_sub(
                unix_ms().saturating_add(self.server_offset_ms.load(Ordering::Relaxed)),
            ),
            None => i64::try_from(self.default_ttl.as_millis()).unwrap_or(i64::MAX),
        };
        let field = RevocationLog::field(&wire.target_kind, &wire.target_id);
        let scope = InvalidationScope {
            target_kind: kind,
            target_id: wire.target_id,
            reason: wire.reason,
            evaluator: wire.evaluator,
        };
        let deliver = match u64::try_from(remaining_ms) {
            Ok(ms) if ms > 0 => {
                let deadline = now + Duration::from_millis(ms);
                self.known
                    .lock()
                    .insert(field, payload, &scope, deadline, now)
            }
            // Already expired: nothing to remember, nothing to replay.
            _ => live,
        };
        if live {
            self.received.fetch_add(1, Ordering::Relaxed);
        }
        if !deliver {
            return;
        }
        if !live {
            self.replayed.fetch_add(1, Ordering::Relaxed);
        }
        // Clone the list so a listener may subscribe/unsubscribe without deadlocking. The
        // mirror was updated first, so a listener subscribing concurrently gets the scope
        // one way or the other.
        let listeners: Vec<ScopeListener> =
            self.list.read().iter().map(|(_, l)| l.clone()).collect();
        for l in listeners {
            call(&l, &scope);
        }
    }

    /// Reads the revocation log page by page and delivers what it holds (first connect and
    /// every resubscribe). Each page is one command within the command timeout, and the task
    /// yields between pages, so a large log neither outlasts a caller's deadline unnoticed nor
    /// holds up other work on the runtime. A page that fails is read again, up to
    /// `PAGE_ATTEMPTS` times in a row, from where the last good page ended.
    async fn catch_up(&self, log: &RevocationLog, conn: &RedisConn) -> Result<()> {
        const PAGE_ATTEMPTS: u32 = 3;
        let mut cursor = None;
        let mut failures = 0;
        loop {
            let page = match log.load_page(conn, cursor.as_ref()).await {
                Ok(page) => page,
                Err(e) => {
                    failures += 1;
                    if failures >= PAGE_ATTEMPTS || conn.is_closed() {
                        return Err(e);
                    }
                    continue;
                }
            };
            failures = 0;
            self.server_offset_ms
                .store(page.server_now_ms - unix_ms(), Ordering::Relaxed);
            for m in &page.messages {
                self.deliver(m, false);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
            tokio::task::yield_now().await;
        }
    }
}

fn call(l: &ScopeListener, scope: &InvalidationScope) {
    // A panicking listener must not kill the subscriber task for everyone else.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(scope))).is_err() {
        eprintln!("kavach: an invalidation listener panicked; continuing");
    }
}

pub struct RedisBroadcaster {
    publisher: Arc<Publisher>,
    channel: String,
    listeners: Arc<Listeners>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl RedisBroadcaster {
    /// Connects the publishing connection and the subscription, then reads the revocation log
    /// (all within the connect timeout); returns once the subscription is live, so nothing
    /// published afterwards is missed and nothing still recorded before is either.
    pub async fn connect(url: &str, channel: Option<&str>, opts: ConnectOptions) -> Result<Self> {
        let bopts = BroadcasterOptions {
            channel: channel.map(str::to_owned),
            ..BroadcasterOptions::default()
        };
        Self::connect_with(url, bopts, opts).await
    }

    /// [`Self::connect`] with a key prefix and revocation TTL.
    pub async fn connect_with(
        url: &str,
        bopts: BroadcasterOptions,
        opts: ConnectOptions,
    ) -> Result<Self> {
        let channel = bopts.channel.unwrap_or_else(|| DEFAULT_CHANNEL.to_owned());
        if channel.is_empty() {
            return Err(RedisStoreError::InvalidArgument(
                "channel must be a non-empty string".into(),
            ));
        }
        if bopts.revocation_ttl_seconds == 0 {
            return Err(RedisStoreError::InvalidArgument(
                "revocationTtlSeconds must be a positive integer".into(),
            ));
        }
        let prefix = keys::validate_prefix(bopts.prefix.as_deref())?;
        let log = RevocationLog::new(&prefix, &channel, bopts.revocation_ttl_seconds);
        let listeners = Arc::new(Listeners::new(Duration::from_secs(
            bopts.revocation_ttl_seconds,
        )));
        let started = Instant::now();
        let conn = RedisConn::connect(url, opts.clone()).await?;
        let urls = conn.target().node_urls();
        // Any node will do (a cluster forwards PUBLISH everywhere): take the first that answers.
        // Subscribe first, then read the log: a scope published in between is heard live,
        // found in the log, or both (the mirror drops the duplicate).
        let subscribe_any = async {
            let mut last = RedisStoreError::Unavailable("no node to subscribe to".into());
            for (i, url) in urls.iter().enumerate() {
                match subscribe_once(url, &channel).await {
                    Ok(ps) => {
                        listeners.catch_up(&log, &conn).await?;
                        return Ok((i, ps));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        let left = opts.connect_timeout.saturating_sub(started.elapsed());
        let (first_node, first) = match tokio::time::timeout(left, subscribe_any).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(RedisStoreError::ConnectTimeout(opts.connect_timeout)),
        };
        listeners.subscribed.store(true, Ordering::Release);
        let publisher = Arc::new(Publisher::new(
            conn,
            log,
            format!("{:016x}", keys::random_u64()),
        ));
        let task = tokio::spawn(run_subscriber(
            listeners.clone(),
            publisher.clone(),
            urls,
            first_node,
            channel.clone(),
            first,
            opts.command_timeout,
        ));
        Ok(Self {
            publisher,
            channel,
            listeners,
            task: Mutex::new(Some(task)),
        })
    }

    /// Session scopes published from now on are also written to this store (see module docs).
    pub fn attach_session_store(&self, store: Arc<dyn SessionStore>) {
        *self.publisher.session_store.write() = Some(store);
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// This broadcaster's replica id (the `origin` field of what it publishes).
    pub fn origin(&self) -> &str {
        &self.publisher.origin
    }

    /// Messages received and delivered so far (own included).
    pub fn received(&self) -> u64 {
        self.listeners.received.load(Ordering::Relaxed)
    }

    /// Scopes delivered from the revocation log (not heard live), so far.
    pub fn replayed(&self) -> u64 {
        self.listeners.replayed.load(Ordering::Relaxed)
    }

    /// The Redis hash holding the recorded scopes (field `<kind>:<id>` → JSON message).
    pub fn revocations_key(&self) -> &str {
        self.publisher.log.hash_key()
    }

    /// The sorted set indexing the recorded scopes by expiry (unix ms, Redis server clock).
    pub fn revocations_expiry_key(&self) -> &str {
        self.publisher.log.expiry_key()
    }

    /// Removes a scope from the revocation log (and this broadcaster's mirror), so replicas
    /// that start or reconnect later no longer hear it. Gates that already applied it keep it
    /// until their TTL runs out or `lift`. Returns whether it was recorded.
    pub async fn forget_scope(&self, kind: ScopeKind, target_id: &str) -> Result<bool> {
        let p = &self.publisher;
        if p.conn.is_closed() {
            return Err(RedisStoreError::Closed);
        }
        let field = RevocationLog::field(kind.as_str(), target_id);
        self.listeners.known.lock().remove(&field);
        // A kept copy published later would put the scope back in the log.
        p.forget(kind, target_id);
        p.log.forget(&p.conn, &field).await
    }

    /// True while the subscription is connected.
    pub fn is_subscribed(&self) -> bool {
        self.listeners.subscribed.load(Ordering::Acquire)
    }

    /// Publishes `scope` to every replica (see [`Publisher::publish`]): when Redis does not
    /// take it, the error says so and the subscriber task publishes it once Redis answers.
    pub async fn publish_scope(&self, scope: &InvalidationScope) -> Result<()> {
        self.publisher.publish(scope).await
    }

    /// Scopes whose publish Redis did not take, waiting for the subscriber task to publish them.
    pub fn unsent(&self) -> usize {
        self.publisher.unsent()
    }

    /// Stops the subscriber task and drops the connections. Idempotent.
    pub fn close(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
        self.listeners.subscribed.store(false, Ordering::Release);
        self.publisher.conn.close();
    }

    pub fn is_closed(&self) -> bool {
        self.publisher.conn.is_closed()
    }
}

impl Drop for RedisBroadcaster {
    fn drop(&mut self) {
        self.close();
    }
}

async fn subscribe_once(url: &str, channel: &str) -> Result<redis::aio::PubSub> {
    let client = redis::Client::open(url)?;
    let mut ps = client.get_async_pubsub().await?;
    ps.subscribe(channel).await?;
    Ok(ps)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one task, spawned from one place"
)]
async fn run_subscriber(
    listeners: Arc<Listeners>,
    publisher: Arc<Publisher>,
    urls: Vec<String>,
    first_node: usize,
    channel: String,
    first: redis::aio::PubSub,
    command_timeout: Duration,
) {
    let mut current = Some(first);
    let mut attempt: u32 = 0;
    let mut node = first_node;
    loop {
        if let Some(ps) = current.take() {
            attempt = 0;
            listeners.subscribed.store(true, Ordering::Release);
            let (mut sink, mut stream) = ps.split();
            let mut tick = tokio::time::interval(PING_EVERY);
            tick.reset();
            loop {
                tokio::select! {
                    msg = stream.next() => match msg {
                        Some(m) => match m.get_payload::<String>() {
                            Ok(p) => listeners.deliver(&p, true),
                            Err(e) => eprintln!("kavach: unreadable invalidation message: {e}"),
                        },
                        None => break,
                    },
                    _ = tick.tick() => {
                        let alive = tokio::time::timeout(command_timeout, sink.ping::<redis::Value>()).await;
                        if !matches!(alive, Ok(Ok(_))) {
                            break;
                        }
                        // Redis answers: what it did not take earlier goes out now.
                        publisher.retry_unsent().await;
                    }
                }
            }
            listeners.subscribed.store(false, Ordering::Release);
        }
        let delay = BACKOFF_MIN
            .saturating_mul(1u32 << attempt.min(6))
            .min(BACKOFF_MAX);
        tokio::time::sleep(delay).await;
        attempt = attempt.saturating_add(1);
        node = (node + 1) % urls.len().max(1);
        if let Some(url) = urls.get(node) {
            if let Ok(Ok(ps)) =
                tokio::time::timeout(command_timeout, subscribe_once(url, &channel)).await
            {
                // Subscribed again: catch up on what was published while we were away before
                // resuming live delivery (messages arriving meanwhile wait in the stream). The
                // log is read in pages, each within the command timeout, so its size does not
                // decide whether the catch-up can succeed. A replica that cannot read the log
                // is not caught up: drop and retry.
                match listeners.catch_up(&publisher.log, &publisher.conn).await {
                    Ok(()) => {
                        current = Some(ps);
                        publisher.retry_unsent().await;
                    }
                    Err(e) => eprintln!("kavach: reading the revocation log failed: {e}"),
                }
            }
        }
    }
}

impl InvalidationBroadcaster for RedisBroadcaster {
    fn publish<'a>(&'a self, scope: &'a InvalidationScope) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.publish_scope(scope).await.map_err(Into::into) })
    }

    /// Registers the listener, then hands it every scope still live (heard or replayed
    /// before it subscribed), so a gate created after a revocation refuses it too.
    fn subscribe(&self, listener: ScopeListener) -> u64 {
        let id = self.listeners.next_id.fetch_add(1, Ordering::Relaxed);
        self.listeners.list.write().push((id, listener.clone()));
        let live = self.listeners.known.lock().live(Instant::now());
        for scope in &live {
            call(&listener, scope);
        }
        id
    }

    fn unsubscribe(&self, id: u64) {
        self.listeners.list.write().retain(|(i, _)| *i != id);
    }

    fn subscriber_count(&self) -> usize {
        self.listeners.list.read().len()
    }

    fn is_in_process(&self) -> bool {
        false
    }
}
