//! libuv reads the rate-limit script's Redis socket itself (kavach-redis `loop_hooks`): when
//! the socket is readable, the connection's reader reads the reply and answers the waiting
//! callers, and the evaluations that wakes are polled right away (`local_tasks.rs`), with no
//! tokio tick in between.
//!
//! Why: read by a tokio task, each reply would cost a tick, and libuv would learn of it only
//! through the runtime's epoll descriptor (edge-triggered inside, and drained by every tick's
//! last driver poll): a reply landing before that poll (the JS thread preempted right after
//! writing the command) would wait for the 1 ms in-flight timer. The watch is
//! level-triggered: a reply not read yet keeps it firing (figures in docs/ARCHITECTURE.md).
//!
//! The watch holds a duplicate of the socket's descriptor, closed only once both the
//! connection and the stopped handle are gone: the connection may be dropped on any thread,
//! and libuv must never be left watching a descriptor number that was closed and reused.
//! When the connection goes, the guard shuts the socket down (through the duplicate), which
//! makes it readable (end of file); the callback then sees the guard gone, lets the reader
//! fail whoever still waits, stops the watch and frees it. It also stops when the reader
//! reports the connection over, or after a watch error.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kavach_redis::loop_hooks::OnReadable;

use super::{uv, EventLoopRuntime};

/// Shared by the connection's guard (any thread) and the libuv handle (the JS thread); the
/// last of the two to go closes the duplicate.
struct Shared {
    /// The duplicate descriptor libuv watches.
    fd: c_int,
    /// The connection is gone: stop watching.
    dropped: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the duplicate is ours alone, and nothing uses it any more. Exercised by
        // redis-event-loop.test.ts `connections killed again and again` (no descriptor left behind).
        unsafe { libc::close(self.fd) };
    }
}

thread_local! {
    /// The readers of this thread's live watches, by handle address (`read_now`).
    static READERS: RefCell<Vec<(usize, OnReadable)>> = const { RefCell::new(Vec::new()) };
}

/// Reads whatever replies are already in on every watched socket, without waiting for libuv to
/// report them (`EventLoopRuntime::run_now`). A socket that is over is left to its callback,
/// which stops the watch.
pub fn read_now() {
    let readers: Vec<OnReadable> =
        READERS.with(|r| r.borrow().iter().map(|(_, f)| f.clone()).collect());
    for reader in readers {
        reader();
    }
}

/// What the connection keeps (kavach-redis `SocketWatch`).
struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: `fd` stays open while this guard holds `Shared`. Exercised by
        // redis-event-loop.test.ts `connections killed again and again`.
        unsafe { libc::shutdown(self.0.fd, libc::SHUT_RDWR) };
        self.0.dropped.store(true, Ordering::Release);
    }
}

/// What the handle's `data` points to.
struct Watch {
    shared: Arc<Shared>,
    reader: OnReadable,
    /// The handle itself (freed with this, after `on_close`).
    _memory: Box<[u64]>,
}

/// kavach-redis `LoopHooks::watch_socket`: watches `fd` when this thread runs the event-loop
/// runtime and is running it now (so the connection belongs to that runtime).
pub fn watch_socket(
    fd: c_int,
    reader: OnReadable,
) -> Option<kavach_redis::loop_hooks::SocketWatch> {
    if !kavach_redis::speed_layers::on(kavach_redis::speed_layers::Layer::SocketWatch) {
        return None;
    }
    let rt = EventLoopRuntime::if_active()?;
    let uv = rt.uv;
    // SAFETY: duplicating a descriptor the caller holds open. Exercised by every Redis
    // evaluateAsync test on the main thread (redis-event-loop.test.ts `16 chains of 300 awaited evaluations`).
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return None;
    }
    let shared = Arc::new(Shared {
        fd: dup,
        dropped: AtomicBool::new(false),
    });
    let mut memory = uv::handle_memory(uv, uv::UV_POLL);
    let handle: *mut uv::Handle = memory.as_mut_ptr().cast();
    // SAFETY: a fresh, unreferenced handle on this (JS) thread's loop, callback on this thread;
    // a handle that fails before start was never active, so its memory can go. Test:
    // redis-event-loop.test.ts `16 chains of 300 awaited evaluations`.
    unsafe {
        if (uv.poll_init)((uv.default_loop)(), handle, dup) != 0 {
            return None;
        }
        *uv::data_slot(handle) = Box::into_raw(Box::new(Watch {
            shared: shared.clone(),
            reader: reader.clone(),
            _memory: memory,
        }))
        .cast::<c_void>();
        (uv.unref)(handle);
        if (uv.poll_start)(handle, uv::UV_READABLE, on_socket) != 0 {
            (uv.close)(handle, Some(on_close));
            return None;
        }
    }
    READERS.with(|r| r.borrow_mut().push((handle as usize, reader)));
    Some(Box::new(Guard(shared)))
}

unsafe extern "C" fn on_socket(handle: *mut uv::Handle, status: c_int, _events: c_int) {
    // SAFETY: `data` was set to a live `Watch` before the watch started; it is freed only in
    // `on_close`, after the watch is stopped. Exercised by redis-event-loop.test.ts
    // `16 chains of 300 awaited evaluations` (reads) and `connections killed again and again`.
    let watch = unsafe { &*(*uv::data_slot(handle)).cast::<Watch>() };
    let dropped = watch.shared.dropped.load(Ordering::Acquire);
    // A panic in the reader must not unwind into C (the panic hook reports it); the watch
    // then stops, and the connection's callers time out.
    let open = status >= 0
        && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (watch.reader)()))
            .unwrap_or(false);
    if !open || dropped {
        if let Some(uv) = uv::get() {
            // SAFETY: an active poll handle of this thread's loop, stopped and closed once
            // (`on_close` frees it; libuv calls no callback of a closing handle). Exercised
            // by __test__/redis-event-loop.test.ts `connections killed again and again`.
            unsafe {
                (uv.poll_stop)(handle);
                (uv.close)(handle, Some(on_close));
            }
        }
    }
    super::after_socket_read();
}

unsafe extern "C" fn on_close(handle: *mut uv::Handle) {
    let _ = READERS.try_with(|r| r.borrow_mut().retain(|(h, _)| *h != handle as usize));
    // SAFETY: the pointer set in `watch_socket`, taken back once; the handle is closed, so libuv
    // no longer uses its memory. Test: redis-event-loop.test.ts `connections killed again and
    // again` (the killed ones leave no descriptor behind; the dup closes with `Shared`).
    drop(unsafe { Box::from_raw((*uv::data_slot(handle)).cast::<Watch>()) });
}
