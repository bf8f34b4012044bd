//! libuv watches the rate-limit script's Redis socket itself, level-triggered, so a reply can
//! never sit unread while the JS thread waits for the in-flight timer.
//!
//! Why: libuv otherwise learns of the reply only through the runtime's epoll descriptor,
//! which is edge-triggered inside. Every tick ends with tokio polling that descriptor once
//! without waiting (tokio 1.54 does after a park hook left work). When the reply lands
//! before that last poll (the JS thread was preempted after writing the command, say by
//! the Redis server waking on the same core), the poll takes the event, queues the reader
//! task and the tick ends: the descriptor is quiet, and the verdict waited for the 1 ms timer.
//! At concurrency 1 on the 2-vCPU AMD VM that hit 14 to 417 calls in 15,000 (up to 40 µs on
//! the mean latency). A socket with unread bytes keeps this watch firing until the reader
//! has read them.
//!
//! The watch holds a duplicate of the socket's descriptor, closed only once both the
//! connection and the stopped handle are gone: the connection may be dropped on any thread,
//! and libuv must never be left watching a descriptor number that was closed and reused.
//! When the connection's reader ends (the server closed it, it broke, or it was dropped), the
//! guard shuts the socket down (through the duplicate), which makes it readable (end of
//! file); the callback then sees the guard gone, stops the watch and frees it. After a watch error the handle stops and goes; the guard closes the duplicate.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
        // SAFETY: the duplicate is ours alone, and nothing uses it any more.
        unsafe { libc::close(self.fd) };
    }
}

/// What the connection keeps (kavach-redis `SocketWatch`).
struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: `fd` stays open while this guard holds `Shared`.
        unsafe { libc::shutdown(self.0.fd, libc::SHUT_RDWR) };
        self.0.dropped.store(true, Ordering::Release);
    }
}

/// What the handle's `data` points to.
struct Watch {
    shared: Arc<Shared>,
    /// The handle itself (freed with this, after `on_close`).
    _memory: Box<[u64]>,
}

/// kavach-redis `SocketWatcher`: watches `fd` when this thread runs the event-loop runtime
/// and is inside one of its ticks (so the connection belongs to that runtime).
pub fn watch_socket(fd: c_int) -> Option<kavach_redis::SocketWatch> {
    let rt = EventLoopRuntime::if_ticking()?;
    let uv = rt.uv;
    // SAFETY: duplicating a descriptor the caller holds open.
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
    // SAFETY: a fresh handle on this (the JS) thread's default loop; the callback runs on
    // this thread. The handle is unreferenced: it never keeps the process alive. On failure
    // before start, the handle was never active and its memory can simply go.
    unsafe {
        if (uv.poll_init)((uv.default_loop)(), handle, dup) != 0 {
            return None;
        }
        *uv::data_slot(handle) = Box::into_raw(Box::new(Watch {
            shared: shared.clone(),
            _memory: memory,
        }))
        .cast::<c_void>();
        (uv.unref)(handle);
        if (uv.poll_start)(handle, uv::UV_READABLE, on_socket) != 0 {
            (uv.close)(handle, Some(on_close));
            return None;
        }
    }
    Some(Box::new(Guard(shared)))
}

unsafe extern "C" fn on_socket(handle: *mut uv::Handle, status: c_int, _events: c_int) {
    // SAFETY: `data` was set to a live `Watch` before the watch started; it is freed only in
    // `on_close`, after the watch is stopped.
    let watch = unsafe { &*(*uv::data_slot(handle)).cast::<Watch>() };
    if status < 0 || watch.shared.dropped.load(Ordering::Acquire) {
        if let Some(uv) = uv::get() {
            // SAFETY: an active poll handle of this thread's loop, stopped and closed once
            // (`on_close` frees it; libuv calls no callback of a closing handle).
            unsafe {
                (uv.poll_stop)(handle);
                (uv.close)(handle, Some(on_close));
            }
        }
        return;
    }
    super::tick_for_socket(watch.shared.fd);
}

unsafe extern "C" fn on_close(handle: *mut uv::Handle) {
    // SAFETY: the pointer set in `watch_socket`, taken back once; the handle is closed, so
    // libuv no longer uses its memory (`Watch::_memory`). The duplicate closes with the last
    // holder of `Shared`.
    drop(unsafe { Box::from_raw((*uv::data_slot(handle)).cast::<Watch>()) });
}
