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
//! it. So a session scope is also written to the attached session store
//! ([`RedisBroadcaster::attach_session_store`]) before it is published, and a replica that
//! missed the message still finds the session marked invalidated when it loads it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kavach_core::invalidation::{InvalidationBroadcaster, ScopeListener};
use kavach_core::store::{SessionStore, StoreFuture};
use kavach_core::{InvalidationScope, ScopeKind};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::connect::{ConnectOptions, RedisConn};
use crate::error::{RedisStoreError, Result};
use crate::keys;

pub const DEFAULT_CHANNEL: &str = "kavach:invalidation";
const PING_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The wire format (FORMATS-style: field names are part of the contract with other replicas).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireScope {
    pub target_kind: String,
    pub target_id: String,
    pub reason: String,
    pub evaluator: String,
    /// The publishing broadcaster's random id (diagnostics; every replica still applies it).
    pub origin: String,
}

#[derive(Default)]
struct Listeners {
    list: RwLock<Vec<(u64, ScopeListener)>>,
    next_id: AtomicU64,
    received: AtomicU64,
    subscribed: AtomicBool,
}

impl Listeners {
    fn deliver(&self, payload: &str) {
        let Ok(wire) = serde_json::from_str::<WireScope>(payload) else {
            eprintln!("kavach: ignoring malformed invalidation message: {payload:.200}");
            return;
        };
        let Some(kind) = ScopeKind::parse(&wire.target_kind) else {
            eprintln!(
                "kavach: ignoring invalidation with unknown target_kind '{}'",
                wire.target_kind
            );
            return;
        };
        let scope = InvalidationScope {
            target_kind: kind,
            target_id: wire.target_id,
            reason: wire.reason,
            evaluator: wire.evaluator,
        };
        self.received.fetch_add(1, Ordering::Relaxed);
        // Clone the list so a listener may subscribe/unsubscribe without deadlocking.
        let listeners: Vec<ScopeListener> =
            self.list.read().iter().map(|(_, l)| l.clone()).collect();
        for l in listeners {
            // A panicking listener must not kill the subscriber task for everyone else.
            let scope = &scope;
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(scope))).is_err() {
                eprintln!("kavach: an invalidation listener panicked; continuing");
            }
        }
    }
}

pub struct RedisBroadcaster {
    conn: Arc<RedisConn>,
    channel: String,
    origin: String,
    listeners: Arc<Listeners>,
    session_store: RwLock<Option<Arc<dyn SessionStore>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl RedisBroadcaster {
    /// Connects the publishing connection and the subscription (both within the connect
    /// timeout); returns once the subscription is live, so nothing published afterwards is
    /// missed.
    pub async fn connect(url: &str, channel: Option<&str>, opts: ConnectOptions) -> Result<Self> {
        let channel = channel.unwrap_or(DEFAULT_CHANNEL).to_owned();
        if channel.is_empty() {
            return Err(RedisStoreError::InvalidArgument(
                "channel must be a non-empty string".into(),
            ));
        }
        let conn = RedisConn::connect(url, opts.clone()).await?;
        let urls = conn.target().node_urls();
        // Any node will do (a cluster forwards PUBLISH everywhere): take the first that answers.
        let subscribe_any = async {
            let mut last = RedisStoreError::Unavailable("no node to subscribe to".into());
            for (i, url) in urls.iter().enumerate() {
                match subscribe_once(url, &channel).await {
                    Ok(ps) => return Ok((i, ps)),
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        let (first_node, first) =
            match tokio::time::timeout(opts.connect_timeout, subscribe_any).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(RedisStoreError::ConnectTimeout(opts.connect_timeout)),
            };
        let listeners = Arc::new(Listeners::default());
        listeners.subscribed.store(true, Ordering::Release);
        let task = tokio::spawn(run_subscriber(
            listeners.clone(),
            urls,
            first_node,
            channel.clone(),
            first,
            opts.command_timeout,
        ));
        Ok(Self {
            conn,
            channel,
            origin: format!("{:016x}", keys::random_u64()),
            listeners,
            session_store: RwLock::new(None),
            task: Mutex::new(Some(task)),
        })
    }

    /// Session scopes published from now on are also written to this store (see module docs).
    pub fn attach_session_store(&self, store: Arc<dyn SessionStore>) {
        *self.session_store.write() = Some(store);
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// This broadcaster's replica id (the `origin` field of what it publishes).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Messages received and delivered so far (own included).
    pub fn received(&self) -> u64 {
        self.listeners.received.load(Ordering::Relaxed)
    }

    /// True while the subscription is connected.
    pub fn is_subscribed(&self) -> bool {
        self.listeners.subscribed.load(Ordering::Acquire)
    }

    pub async fn publish_scope(&self, scope: &InvalidationScope) -> Result<()> {
        if self.conn.is_closed() {
            return Err(RedisStoreError::Closed);
        }
        let store = self.session_store.read().clone();
        if let (ScopeKind::Session, Some(store)) = (scope.target_kind, store) {
            store
                .invalidate(&scope.target_id, &scope.reason)
                .await
                .map_err(|e| RedisStoreError::Unavailable(e.0))?;
        }
        let payload = serde_json::to_string(&WireScope {
            target_kind: scope.target_kind.as_str().to_owned(),
            target_id: scope.target_id.clone(),
            reason: scope.reason.clone(),
            evaluator: scope.evaluator.clone(),
            origin: self.origin.clone(),
        })
        .map_err(|e| RedisStoreError::InvalidArgument(e.to_string()))?;
        let channel = &self.channel;
        let _: i64 = self
            .conn
            .run(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(&payload)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Stops the subscriber task and drops the connections. Idempotent.
    pub fn close(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
        self.listeners.subscribed.store(false, Ordering::Release);
        self.conn.close();
    }

    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
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

async fn run_subscriber(
    listeners: Arc<Listeners>,
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
                            Ok(p) => listeners.deliver(&p),
                            Err(e) => eprintln!("kavach: unreadable invalidation message: {e}"),
                        },
                        None => break,
                    },
                    _ = tick.tick() => {
                        let alive = tokio::time::timeout(command_timeout, sink.ping::<redis::Value>()).await;
                        if !matches!(alive, Ok(Ok(_))) {
                            break;
                        }
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
                current = Some(ps);
            }
        }
    }
}

impl InvalidationBroadcaster for RedisBroadcaster {
    fn publish<'a>(&'a self, scope: &'a InvalidationScope) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.publish_scope(scope).await.map_err(Into::into) })
    }

    fn subscribe(&self, listener: ScopeListener) -> u64 {
        let id = self.listeners.next_id.fetch_add(1, Ordering::Relaxed);
        self.listeners.list.write().push((id, listener));
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
