//! Connecting: URL parsing (standalone and cluster), the 5 s connect timeout, per-command
//! timeouts and reconnection.
//!
//! URLs:
//! - `redis://[user:pass@]host:port[/db]` (also `unix://`, `redis+unix://`): one server.
//! - `redis+cluster://[user:pass@]host:port,host:port,...`: a Redis Cluster, seeded from those
//!   nodes. Equivalently a `redis://` URL with [`ConnectOptions::cluster`] set.
//!
//! Reconnection has two layers. A standalone server sits behind the redis crate's
//! `ConnectionManager`, which reconnects after a dropped connection; a cluster connection
//! re-resolves nodes by itself. A command that finds its connection dropped (closed by the
//! server while idle, say) is sent once more on the new one ([`RedisConn::run`]). On top,
//! every connection [`RedisConn`] holds (the redis
//! crate's, and the direct one for script calls) sits in one `Rebuilt` slot, which counts
//! consecutive connection-level failures (including timeouts) and, after three, throws the
//! connection away so the next call builds a fresh one: a wedged connection can never outlive
//! the outage.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisFuture, ServerErrorKind, Value};

use crate::direct::{DirectConn, DirectTarget, Reply};
use crate::error::{RedisStoreError, Result};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive connection-level failures after which the connection is rebuilt from scratch.
const REBUILD_AFTER_FAILURES: u32 = 3;

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Treat a `redis://` URL (or a comma-separated list of them) as cluster seed nodes.
    pub cluster: bool,
    /// Give up connecting after this long (`redis connect timed out after 5s`).
    pub connect_timeout: Duration,
    /// Every command (script, publish) fails after this long; the gate then refuses.
    pub command_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            cluster: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }
}

/// Where to connect, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Single(String),
    /// Seed node URLs (`redis://host:port` each).
    Cluster(Vec<String>),
}

impl Target {
    pub fn parse(url: &str, force_cluster: bool) -> Result<Self> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let (userinfo, hosts) = match rest.rfind('@') {
                Some(i) => (&rest[..=i], &rest[i + 1..]),
                None => ("", rest),
            };
            let hosts = hosts.trim_end_matches('/');
            let nodes: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("redis://{userinfo}{h}"))
                .collect();
            if nodes.is_empty() {
                return Err(invalid_url(url, "no cluster nodes listed"));
            }
            for n in &nodes {
                redis::Client::open(n.as_str()).map_err(|e| invalid_url(url, e))?;
            }
            return Ok(Target::Cluster(nodes));
        }
        let known = ["redis://", "rediss://", "unix://", "redis+unix://"];
        if !known.iter().any(|s| url.starts_with(s)) {
            return Err(invalid_url(
                url,
                "expected redis://, rediss://, unix:// or redis+cluster://",
            ));
        }
        if force_cluster {
            let nodes: Vec<String> = url.split(',').map(|s| s.trim().to_owned()).collect();
            for n in &nodes {
                redis::Client::open(n.as_str()).map_err(|e| invalid_url(url, e))?;
            }
            return Ok(Target::Cluster(nodes));
        }
        redis::Client::open(url).map_err(|e| invalid_url(url, e))?;
        Ok(Target::Single(url.to_owned()))
    }

    /// The URLs a plain (non-cluster) connection may use: the server, or each seed node.
    pub fn node_urls(&self) -> Vec<String> {
        match self {
            Target::Single(u) => vec![u.clone()],
            Target::Cluster(nodes) => nodes.clone(),
        }
    }
}

fn invalid_url(url: &str, why: impl std::fmt::Display) -> RedisStoreError {
    RedisStoreError::InvalidArgument(format!("invalid redis url '{}': {why}", redact(url)))
}

/// The URL with any credentials replaced, for error messages.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    match rest.rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// A live connection handle (cheap to clone: both variants multiplex one socket per node).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// How a script call names its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptLoad {
    /// EVALSHA: the server has the script (the usual case).
    Cached,
    /// EVAL with the source, after the server answered NOSCRIPT (it caches it again).
    WithSource,
}

/// A connection built on first use and rebuilt when it is unusable: it broke (`usable` says
/// no) or failed `REBUILD_AFTER_FAILURES` times in a row. One of these holds the redis crate's
/// connection, another the direct one for script calls (`direct`).
struct Rebuilt<C> {
    conn: parking_lot::Mutex<Option<C>>,
    /// Single flight for (re)building, so an outage does not start one connect per call.
    building: tokio::sync::Mutex<()>,
    failures: AtomicU32,
}

impl<C: Clone> Rebuilt<C> {
    fn new(conn: Option<C>) -> Self {
        Self {
            conn: parking_lot::Mutex::new(conn),
            building: tokio::sync::Mutex::new(()),
            failures: AtomicU32::new(0),
        }
    }

    /// The connection, built by `build` if there is none usable; `closed` (the owner's
    /// `close()`) stops a rebuild, so nothing reconnects behind a closed store.
    async fn get<Fut>(
        &self,
        closed: &AtomicBool,
        usable: impl Fn(&C) -> bool,
        build: impl FnOnce() -> Fut,
    ) -> Result<C>
    where
        Fut: Future<Output = Result<C>>,
    {
        if let Some(c) = self.take_usable(&usable) {
            return Ok(c);
        }
        let _guard = self.building.lock().await;
        if let Some(c) = self.take_usable(&usable) {
            return Ok(c);
        }
        if closed.load(Ordering::Acquire) {
            return Err(RedisStoreError::Closed);
        }
        let conn = build().await?;
        let mut slot = self.conn.lock();
        // `close()` takes the slot under this lock after setting `closed`.
        if closed.load(Ordering::Acquire) {
            return Err(RedisStoreError::Closed);
        }
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// The connection unless it is unusable (an unusable one is dropped here).
    fn take_usable(&self, usable: impl Fn(&C) -> bool) -> Option<C> {
        let mut slot = self.conn.lock();
        if slot.as_ref().is_some_and(|c| !usable(c)) {
            slot.take();
        }
        slot.clone()
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    fn failed(&self) {
        if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= REBUILD_AFTER_FAILURES {
            self.failures.store(0, Ordering::Relaxed);
            self.conn.lock().take();
        }
    }

    fn drop_conn(&self) {
        self.conn.lock().take();
    }
}

/// The direct connection's target and slot.
struct DirectSlot {
    target: DirectTarget,
    conn: Rebuilt<Arc<DirectConn>>,
}

impl DirectSlot {
    async fn current(&self, closed: &AtomicBool) -> Result<Arc<DirectConn>> {
        self.conn
            .get(
                closed,
                |c| c.broken().is_none(),
                || async {
                    DirectConn::connect(&self.target)
                        .await
                        .map(Arc::new)
                        .map_err(|e| RedisStoreError::Unavailable(e.to_string()))
                },
            )
            .await
    }
}

enum Clients {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// One logical connection shared by a store: bounded commands, lazy rebuild, `close()`.
pub struct RedisConn {
    target: Target,
    clients: Clients,
    opts: ConnectOptions,
    slot: Rebuilt<Conn>,
    closed: AtomicBool,
    /// Script calls on a single server over TCP (see `script_ints`).
    direct: Option<DirectSlot>,
}

impl RedisConn {
    /// Connects and checks the server answers (PING), all within `opts.connect_timeout`.
    pub async fn connect(url: &str, opts: ConnectOptions) -> Result<Arc<Self>> {
        if opts.connect_timeout.is_zero() || opts.command_timeout.is_zero() {
            return Err(RedisStoreError::InvalidArgument(
                "connectTimeoutMs and commandTimeoutMs must be positive".into(),
            ));
        }
        let target = Target::parse(url, opts.cluster)?;
        let clients = match &target {
            Target::Single(u) => {
                Clients::Single(redis::Client::open(u.as_str()).map_err(|e| invalid_url(url, e))?)
            }
            Target::Cluster(nodes) => Clients::Cluster(Box::new(
                ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(opts.command_timeout)
                    .response_timeout(opts.command_timeout)
                    .retries(3)
                    .build()
                    .map_err(|e| invalid_url(url, e))?,
            )),
        };
        let direct = match &clients {
            Clients::Single(_) if !crate::speed_layers::on(crate::speed_layers::Layer::Direct) => {
                None
            }
            Clients::Single(client) => {
                DirectTarget::from_info(client.get_connection_info()).map(|target| DirectSlot {
                    target,
                    conn: Rebuilt::new(None),
                })
            }
            Clients::Cluster(_) => None,
        };
        let this = Arc::new(Self {
            direct,
            target,
            clients,
            opts: opts.clone(),
            slot: Rebuilt::new(None),
            closed: AtomicBool::new(false),
        });
        // A server that accepts but does not answer (black hole, paused) makes each attempt
        // time out; keep trying until the connect deadline so the error says what happened.
        // A refused connection or a server error fails at once.
        let first = async {
            loop {
                let attempt = async {
                    let mut conn = this.build_raw().await?;
                    redis::cmd("PING").query_async::<String>(&mut conn).await?;
                    let memory = match redis::cmd("INFO")
                        .arg("memory")
                        .query_async::<Value>(&mut conn)
                        .await
                    {
                        Ok(v) => Some(v),
                        // INFO disabled or not permitted (some managed Redis): nothing to check.
                        Err(e) if matches!(e.kind(), ErrorKind::Server(_)) => None,
                        Err(e) => return Err(e),
                    };
                    Ok::<_, redis::RedisError>((conn, memory))
                };
                match attempt.await {
                    Ok((conn, memory)) => {
                        if let Some(why) = memory.as_ref().and_then(eviction_problem) {
                            return Err(RedisStoreError::InvalidArgument(why));
                        }
                        *this.slot.conn.lock() = Some(conn);
                        return Ok(());
                    }
                    Err(e) if e.is_timeout() => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => return Err(RedisStoreError::from(e)),
                }
            }
        };
        match tokio::time::timeout(opts.connect_timeout, first).await {
            Ok(Ok(())) => Ok(this),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RedisStoreError::ConnectTimeout(opts.connect_timeout)),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    async fn build(&self) -> Result<Conn> {
        Ok(self.build_raw().await?)
    }

    async fn build_raw(&self) -> redis::RedisResult<Conn> {
        match &self.clients {
            Clients::Single(client) => {
                // Few, short retries: the caller's command timeout bounds the wait anyway, and
                // the next call tries again. No response timeout of the crate's own: `run`
                // bounds every command, and a second timer per command cost the JS thread a
                // registration in tokio's timer wheel on every call.
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.opts.command_timeout))
                    .set_response_timeout(None)
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(20))
                    .set_max_delay(Duration::from_millis(200));
                Ok(Conn::Single(
                    ConnectionManager::new_with_config(client.clone(), cfg).await?,
                ))
            }
            Clients::Cluster(client) => Ok(Conn::Cluster(client.get_async_connection().await?)),
        }
    }

    async fn current(&self) -> Result<Conn> {
        self.slot.get(&self.closed, |_| true, || self.build()).await
    }

    /// Runs one command (or script) with the command timeout. Connection-level failures count
    /// towards a rebuild; server errors (a script error, WRONGTYPE) do not.
    ///
    /// A command that finds its connection dropped is sent once more (`f` is called again), on
    /// the connection the redis crate rebuilds after that failure: its `ConnectionManager`
    /// notices a connection the server closed while idle (`timeout` in redis.conf, a proxy or
    /// load balancer, `CLIENT KILL`) only when a command fails on it, so without the second
    /// try the first call after every idle spell refuses although Redis is up. Both tries
    /// share the one command-timeout deadline. The retry is safe for what `f` sends here: a
    /// command that failed before reaching the server (the idle case) runs exactly once; one
    /// the server ran before the connection dropped under its reply runs twice, which for
    /// these commands either changes nothing (session init and revocation, recording or
    /// forgetting a scope, reads; a forget then reports the scope as not recorded) or counts a
    /// permit or hit twice, and a higher count only refuses sooner. A failure never becomes
    /// an answer the server did not give: the caller gets the second try's result, which is
    /// an error unless that command ran.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(RedisStoreError::Closed);
        }
        let work = async {
            let mut answer = f(self.current().await?).await;
            if answer.as_ref().is_err_and(found_the_connection_dropped) {
                answer = f(self.current().await?).await;
            }
            answer.map_err(|e| {
                if !matches!(e.kind(), ErrorKind::Server(_)) {
                    self.slot.failed();
                }
                if e.is_timeout() {
                    RedisStoreError::CommandTimeout(self.opts.command_timeout)
                } else {
                    RedisStoreError::from(e)
                }
            })
        };
        match tokio::time::timeout(self.opts.command_timeout, work).await {
            Ok(Ok(v)) => {
                self.slot.succeeded();
                Ok(v)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.slot.failed();
                Err(RedisStoreError::CommandTimeout(self.opts.command_timeout))
            }
        }
    }

    /// A script call answered by an array of integers (the rate-limit script). `call(load)`
    /// builds it; after NOSCRIPT it is sent once more with the source. On a single server
    /// over TCP it goes over the direct connection (`direct`), otherwise through the redis
    /// crate like every other command. Bounded by the command timeout either way.
    pub async fn script_ints(&self, call: impl Fn(ScriptLoad) -> Cmd) -> Result<Vec<i64>> {
        let Some(slot) = &self.direct else {
            let call = &call;
            return self
                .run(|mut c| async move {
                    match call(ScriptLoad::Cached).query_async(&mut c).await {
                        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                            call(ScriptLoad::WithSource).query_async(&mut c).await
                        }
                        answer => answer,
                    }
                })
                .await;
        };
        if self.closed.load(Ordering::Acquire) {
            return Err(RedisStoreError::Closed);
        }
        let work = async {
            let conn = slot.current(&self.closed).await?;
            let mut reply = conn
                .call(&call(ScriptLoad::Cached).get_packed_command())
                .await;
            if matches!(&reply, Ok(Reply::Error(e)) if e.starts_with("NOSCRIPT")) {
                reply = conn
                    .call(&call(ScriptLoad::WithSource).get_packed_command())
                    .await;
            }
            match reply {
                Ok(Reply::Ints(v)) => Ok(v),
                // A server error (say WRONGTYPE under our key): the connection is fine.
                Ok(Reply::Error(e)) => Err(RedisStoreError::Unavailable(e)),
                Ok(Reply::Status(s)) => Err(RedisStoreError::Protocol(s)),
                Err(why) => Err(RedisStoreError::Unavailable(why)),
            }
        };
        match tokio::time::timeout(self.opts.command_timeout, work).await {
            Ok(answer) => {
                if answer.is_ok() {
                    slot.conn.succeeded();
                }
                answer
            }
            Err(_) => {
                slot.conn.failed();
                Err(RedisStoreError::CommandTimeout(self.opts.command_timeout))
            }
        }
    }

    /// Opens the direct connection now (if this connection has one), so the first script
    /// call does not pay for it; a failure here is left to the first call to retry.
    pub async fn warm_up_scripts(&self) {
        if let Some(slot) = &self.direct {
            let _ =
                tokio::time::timeout(self.opts.connect_timeout, slot.current(&self.closed)).await;
        }
    }

    /// Drops the connection; every later call fails with `Closed`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.slot.drop_conn();
        if let Some(d) = &self.direct {
            d.conn.drop_conn();
        }
    }

    /// True for a Redis Cluster connection (a script may then touch one slot only).
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// True when a command failed because its connection was gone (closed by the server, reset,
/// or read to its end), so the redis crate reconnects and a second try may find Redis up. A
/// refused connection is not one: nothing listens, and trying again only doubles the wait.
fn found_the_connection_dropped(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() && !e.is_connection_refusal()
}

/// Why the server behind an `INFO memory` reply (one node's text, or a cluster's replies per
/// node) may lose kavach's keys, if it may: with `maxmemory` set and any policy but
/// `noeviction`, Redis evicts keys under memory pressure, and every kavach key has a TTL, so
/// even the `volatile-*` policies pick revoked sessions, revocation records and full rate
/// windows, after which replicas permit what they should refuse.
fn eviction_problem(info: &Value) -> Option<String> {
    let mut texts = Vec::new();
    collect_texts(info, &mut texts);
    texts.iter().find_map(|text| {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let maxmemory: u64 = field("maxmemory")?.parse().ok()?;
        let policy = field("maxmemory_policy")?;
        (maxmemory > 0 && policy != "noeviction").then(|| {
            format!(
                "redis has maxmemory {maxmemory} with maxmemory-policy '{policy}': under memory \
                 pressure it evicts revoked sessions, revocations and full rate windows, and \
                 replicas then permit what they should refuse; set `maxmemory-policy noeviction` \
                 (or `maxmemory 0`) on the server"
            )
        })
    })
}

fn collect_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => out.push(s.clone()),
        Value::Array(items) | Value::Set(items) => {
            items.iter().for_each(|i| collect_texts(i, out));
        }
        Value::Map(pairs) => pairs.iter().for_each(|(_, i)| collect_texts(i, out)),
        Value::Attribute { data, .. } => collect_texts(data, out),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn an_evicting_memory_policy_is_a_problem_and_noeviction_or_no_limit_is_not() {
        let info = |max: &str, policy: &str| {
            Value::BulkString(
                format!(
                    "# Memory\r\nused_memory:1024\r\nmaxmemory:{max}\r\n\
                     maxmemory_human:3M\r\nmaxmemory_policy:{policy}\r\n"
                )
                .into_bytes(),
            )
        };
        let why = eviction_problem(&info("3145728", "volatile-lru")).unwrap();
        assert!(why.contains("'volatile-lru'"), "{why}");
        assert!(why.contains("maxmemory-policy noeviction"), "{why}");
        assert!(eviction_problem(&info("3145728", "noeviction")).is_none());
        assert!(eviction_problem(&info("0", "allkeys-lru")).is_none());
        // A cluster answers per node; one evicting node is enough.
        let nodes = Value::Map(vec![
            (Value::SimpleString("a".into()), info("0", "noeviction")),
            (Value::SimpleString("b".into()), info("1000", "allkeys-lfu")),
        ]);
        assert!(eviction_problem(&nodes).unwrap().contains("'allkeys-lfu'"));
    }

    #[test]
    fn parses_standalone_and_cluster_urls() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6379", false).unwrap(),
            Target::Single("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            Target::parse("redis+cluster://127.0.0.1:7000,127.0.0.1:7001/", false).unwrap(),
            Target::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ])
        );
        assert_eq!(
            Target::parse("redis+cluster://u:pw@h:1", false).unwrap(),
            Target::Cluster(vec!["redis://u:pw@h:1".into()])
        );
        assert_eq!(
            Target::parse("redis://h:1", true).unwrap(),
            Target::Cluster(vec!["redis://h:1".into()])
        );
    }

    #[test]
    fn bad_urls_are_invalid_arguments_without_secrets() {
        for bad in ["http://h:1", "localhost:6379", "redis+cluster://", ""] {
            let err = Target::parse(bad, false).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{bad}");
            assert!(err.to_string().starts_with("invalid redis url '"), "{err}");
        }
        let err = Target::parse("http://user:secret@h:1", false).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
