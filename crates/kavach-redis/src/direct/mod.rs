//! A lean pipelined connection for the rate-limit script on a single Redis server over TCP.
//!
//! Why: the redis crate's multiplexed connection hands every command to a pipeline task
//! through a channel, which writes it, reads the reply and answers through a oneshot; at
//! concurrency 1 that machinery costs about 13 µs of a call's latency (EVALSHA on one key from
//! a current-thread tokio runtime: 76.7-77.1 µs p50 through `ConnectionManager`, 62.5-64.1 µs
//! writing the packed command to a raw `TcpStream`). Here the caller writes its command
//! itself, under a lock that keeps writes and the queue of waiting callers in the same order,
//! and one reader per connection parses replies and answers the callers in that order.
//!
//! On the JS thread the host event loop reads the socket instead of a tokio task
//! (`loop_io.rs`, through `loop_hooks`); elsewhere a tokio task does.
//!
//! Only what the script needs: RESP2, replies that are integer arrays or errors
//! (`resp.rs`), `AUTH`/`SELECT` from the URL. Anything unexpected breaks the connection:
//! every waiting caller gets an error (a refusal) and the owner (`connect.rs`) builds a new one
//! for the next call. Other URLs (TLS, Unix sockets, RESP3) keep the redis crate's
//! connection.

mod loop_io;
mod resp;

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use redis::{ConnectionAddr, ConnectionInfo, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use loop_io::LoopIo;
pub use resp::Reply;

/// Where a direct connection goes, read from a URL the redis crate parsed; None for anything
/// this module does not speak (TLS, Unix sockets, RESP3). No `Debug`: it holds the password.
pub struct DirectTarget {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

impl DirectTarget {
    pub fn from_info(info: &ConnectionInfo) -> Option<Self> {
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return None;
        };
        let settings = info.redis_settings();
        if settings.protocol() != ProtocolVersion::RESP2 {
            return None;
        }
        Some(Self {
            host: host.clone(),
            port: *port,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
        })
    }
}

/// Callers waiting for replies, oldest first, and why the connection broke (if it did).
#[derive(Default)]
struct Waiting {
    queue: VecDeque<oneshot::Sender<Reply>>,
    broken: Option<String>,
    /// Loop-read connections: bytes the socket did not take yet, in order (`loop_io.rs`).
    out: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<Waiting>,
}

impl Shared {
    /// Marks the connection broken; every waiting caller's receiver fails.
    fn break_with(&self, why: String) {
        let mut w = self.waiting.lock();
        w.broken.get_or_insert(why);
        w.queue.clear();
    }

    fn broken(&self) -> Option<String> {
        self.waiting.lock().broken.clone()
    }
}

pub struct DirectConn {
    io: Io,
    shared: Arc<Shared>,
}

/// Who reads the socket.
enum Io {
    /// A tokio task (`read_replies`); callers write through the lock.
    Tokio {
        write: tokio::sync::Mutex<OwnedWriteHalf>,
        reader: AbortHandle,
    },
    /// The host event loop (`loop_io.rs`).
    Loop(LoopIo),
}

impl Drop for DirectConn {
    fn drop(&mut self) {
        if let Io::Tokio { reader, .. } = &self.io {
            reader.abort();
        }
    }
}

impl DirectConn {
    /// Connects and runs the URL's handshake (`AUTH`, `SELECT`). The caller bounds the time.
    pub async fn connect(target: &DirectTarget) -> std::io::Result<Self> {
        let mut stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
        stream.set_nodelay(true)?;
        let mut buf = Vec::new();
        if let Some(password) = &target.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &target.username {
                auth.arg(user);
            }
            auth.arg(password);
            handshake(&mut stream, &mut buf, &auth.get_packed_command(), "AUTH").await?;
        }
        if target.db != 0 {
            let select = redis::cmd("SELECT").arg(target.db).get_packed_command();
            handshake(&mut stream, &mut buf, &select, "SELECT").await?;
        }
        let shared = Arc::new(Shared::default());
        let (stream, buf) = match LoopIo::start(stream, buf, &shared)? {
            Ok(io) => {
                return Ok(Self {
                    io: Io::Loop(io),
                    shared,
                })
            }
            Err(back) => back,
        };
        let (read, write) = stream.into_split();
        let reader = tokio::spawn(read_replies(read, buf, shared.clone())).abort_handle();
        Ok(Self {
            io: Io::Tokio {
                write: tokio::sync::Mutex::new(write),
                reader,
            },
            shared,
        })
    }

    /// Why the connection can no longer be used, if it can't.
    pub fn broken(&self) -> Option<String> {
        self.shared.broken()
    }

    /// Sends one packed command and waits for its reply. Errors are connection-level; a
    /// server error is `Ok(Reply::Error)`.
    pub async fn call(&self, packed: &[u8]) -> Result<Reply, String> {
        let write = match &self.io {
            Io::Tokio { write, .. } => write,
            Io::Loop(io) => {
                let answer = {
                    let mut w = self.shared.waiting.lock();
                    if let Some(why) = &w.broken {
                        return Err(why.clone());
                    }
                    let (tx, rx) = oneshot::channel();
                    w.queue.push_back(tx);
                    if let Err(why) = io.send(packed, &mut w, &self.shared) {
                        w.broken.get_or_insert(why.clone());
                        w.queue.clear();
                        return Err(why);
                    }
                    rx
                };
                return self.answer(answer).await;
            }
        };
        let answer = {
            let mut write = write.lock().await;
            let (tx, rx) = oneshot::channel();
            {
                let mut w = self.shared.waiting.lock();
                if let Some(why) = &w.broken {
                    return Err(why.clone());
                }
                w.queue.push_back(tx);
            }
            // Dropped before the command is fully written (the caller timed out): the next
            // command would follow half of this one, so the connection is done.
            let guard = BreakUnlessWritten(Some(&self.shared));
            if let Err(e) = write.write_all(packed).await {
                self.shared.break_with(format!("write failed: {e}"));
                return Err(format!("write failed: {e}"));
            }
            guard.written();
            rx
        };
        self.answer(answer).await
    }

    async fn answer(&self, rx: oneshot::Receiver<Reply>) -> Result<Reply, String> {
        rx.await.map_err(|_| {
            self.shared
                .broken()
                .unwrap_or_else(|| "connection closed".into())
        })
    }
}

struct BreakUnlessWritten<'a>(Option<&'a Shared>);

impl BreakUnlessWritten<'_> {
    fn written(mut self) {
        self.0 = None;
    }
}

impl Drop for BreakUnlessWritten<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0 {
            shared.break_with("a command was cut off mid-write".into());
        }
    }
}

/// Sends a handshake command and expects `+OK`.
async fn handshake(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    packed: &[u8],
    what: &str,
) -> std::io::Result<()> {
    stream.write_all(packed).await?;
    loop {
        match resp::parse(buf).map_err(std::io::Error::other)? {
            Some((reply, used)) => {
                buf.drain(..used);
                return match reply {
                    Reply::Status(_) => Ok(()),
                    Reply::Error(e) => Err(std::io::Error::other(format!("{what} failed: {e}"))),
                    Reply::Ints(_) => {
                        Err(std::io::Error::other(format!("{what}: unexpected reply")))
                    }
                };
            }
            None => {
                if stream.read_buf(buf).await? == 0 {
                    return Err(std::io::Error::other("connection closed during handshake"));
                }
            }
        }
    }
}

/// The connection's reader on tokio: answers waiting callers in order until the connection
/// ends.
async fn read_replies(mut read: OwnedReadHalf, mut buf: Vec<u8>, shared: Arc<Shared>) {
    let why = loop {
        if let Err(why) = answer_replies(&mut buf, &shared) {
            break why;
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => break "connection closed by the server".to_owned(),
            Ok(_) => {}
            Err(e) => break format!("read failed: {e}"),
        }
    };
    shared.break_with(why);
}

/// Answers the waiting callers, in order, with every complete reply in `buf` (and removes
/// those bytes). An error means the connection is no longer usable.
fn answer_replies(buf: &mut Vec<u8>, shared: &Shared) -> Result<(), String> {
    let mut used = 0;
    let outcome = loop {
        match resp::parse(&buf[used..]) {
            Ok(Some((Reply::Status(s), _))) => break Err(format!("unexpected status reply '{s}'")),
            Ok(Some((reply, n))) => {
                used += n;
                let Some(tx) = shared.waiting.lock().queue.pop_front() else {
                    break Err("a reply nobody asked for".to_owned());
                };
                // A caller that gave up (timed out) dropped its receiver: its reply is read
                // and discarded, and the order holds for the rest.
                let _ = tx.send(reply);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(format!("unreadable reply: {e}")),
        }
    };
    buf.drain(..used);
    outcome
}
