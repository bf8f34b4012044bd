//! Hooks through which a host event loop can own this crate's hot path on its own thread: the
//! Node binding (kavach-node `event_loop`) reads the rate-limit script's socket from libuv and
//! polls the evaluations waiting on it itself, with no tokio tick per reply.
//!
//! Without hooks (plain Rust, the crate's tests, any thread other than the host loop's) every
//! connection is tokio's and every task is a tokio task.

use std::ffi::c_int;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// Kept alive as long as a loop-read connection; dropped (on any thread) with it.
pub type SocketWatch = Box<dyn Send + Sync>;

/// Reads what a socket has ready and answers the callers waiting on it. Returns false once the
/// connection has ended or broken: the watch then stops.
pub type OnReadable = Arc<dyn Fn() -> bool + Send + Sync>;

/// A task for the host loop.
pub type LoopTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What the host loop provides.
pub struct LoopHooks {
    /// Called on the thread that made a direct connection, with its (non-blocking) socket.
    /// `Some` when this thread's loop takes the socket's reads: it calls `on_readable` on
    /// this thread whenever the socket is readable, until that returns false or the watch is
    /// dropped. `None` leaves the connection to tokio.
    pub watch_socket: fn(c_int, OnReadable) -> Option<SocketWatch>,
    /// Runs `task` on this thread's loop, or gives it back when this thread has none.
    pub spawn_local: fn(LoopTask) -> Result<(), LoopTask>,
}

static HOOKS: OnceLock<LoopHooks> = OnceLock::new();

/// Installs the process's hooks (the first call wins).
pub fn set_loop_hooks(hooks: LoopHooks) {
    let _ = HOOKS.set(hooks);
}

pub(crate) fn hooks() -> Option<&'static LoopHooks> {
    HOOKS.get()
}

/// Runs `task` on this thread's host loop if it has one, else as a tokio task.
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    let task: LoopTask = Box::pin(task);
    let task = match hooks() {
        Some(h) => match (h.spawn_local)(task) {
            Ok(()) => return,
            Err(task) => task,
        },
        None => task,
    };
    tokio::spawn(task);
}
