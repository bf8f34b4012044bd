//! The few libuv functions the event-loop runtime needs, looked up in the running Node process
//! (Node exports libuv to addons). They are resolved at run time instead of linked, so the
//! addon still loads where one is missing: the runtime then stays off and `evaluateAsync`
//! keeps the thread-pool path (`mod.rs`).
//!
//! The function types, the handle-type values and `data_slot` below follow libuv 1.x, whose
//! ABI libuv keeps stable within the major version. `load` checks the running libuv against
//! that (`uv_version` major 1, handle sizes that fit a handle) and turns the runtime off
//! otherwise; `__test__/redis-event-loop.test.ts` `runs on this (main) thread` fails if the
//! check refuses the Node it runs on.

use std::ffi::{c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

/// `uv_loop_t` and `uv_handle_t` are only ever handled by pointer.
pub type Loop = c_void;
pub type Handle = c_void;
pub type PollCb = unsafe extern "C" fn(*mut Handle, c_int, c_int);
pub type TimerCb = unsafe extern "C" fn(*mut Handle);
pub type CloseCb = unsafe extern "C" fn(*mut Handle);

/// `uv_handle_type` values (uv.h, stable across libuv 1.x).
pub const UV_POLL: c_int = 8;
pub const UV_TIMER: c_int = 13;
/// `uv_poll_event`.
pub const UV_READABLE: c_int = 1;
/// The libuv major version whose ABI this file follows.
const UV_MAJOR: c_uint = 1;
/// Plausible handle sizes: room for the `data` pointer at least, and nowhere near the
/// `(size_t)-1` that `uv_handle_size` gives for a handle type it does not know.
const HANDLE_BYTES: std::ops::RangeInclusive<usize> = std::mem::size_of::<usize>()..=4096;

type VersionFn = unsafe extern "C" fn() -> c_uint;
type DefaultLoopFn = unsafe extern "C" fn() -> *mut Loop;
type HandleSizeFn = unsafe extern "C" fn(c_int) -> usize;
type PollInitFn = unsafe extern "C" fn(*mut Loop, *mut Handle, c_int) -> c_int;
type PollStartFn = unsafe extern "C" fn(*mut Handle, c_int, PollCb) -> c_int;
type PollStopFn = unsafe extern "C" fn(*mut Handle) -> c_int;
type CloseFn = unsafe extern "C" fn(*mut Handle, Option<CloseCb>);
type TimerInitFn = unsafe extern "C" fn(*mut Loop, *mut Handle) -> c_int;
type TimerStartFn = unsafe extern "C" fn(*mut Handle, TimerCb, u64, u64) -> c_int;
type TimerStopFn = unsafe extern "C" fn(*mut Handle) -> c_int;
type UnrefFn = unsafe extern "C" fn(*mut Handle);

pub struct Uv {
    pub default_loop: DefaultLoopFn,
    pub handle_size: HandleSizeFn,
    pub poll_init: PollInitFn,
    pub poll_start: PollStartFn,
    pub poll_stop: PollStopFn,
    pub close: CloseFn,
    pub timer_init: TimerInitFn,
    pub timer_start: TimerStartFn,
    pub timer_stop: TimerStopFn,
    pub unref: UnrefFn,
}

/// The table, or None when the process does not export libuv (or this is not Unix).
pub fn get() -> Option<&'static Uv> {
    static UV: OnceLock<Option<Uv>> = OnceLock::new();
    UV.get_or_init(load).as_ref()
}

#[cfg(unix)]
fn load() -> Option<Uv> {
    /// Resolves one symbol as the function pointer type the field expects.
    macro_rules! sym {
        ($name:literal as $ty:ty) => {{
            let name: &CStr = $name;
            // SAFETY: dlsym on the process's global scope with a NUL-terminated name.
            // Exercised by __test__/redis-event-loop.test.ts `runs on this (main) thread`.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            if p.is_null() {
                return None;
            }
            // SAFETY: the symbol is libuv's function of that name; its C signature (uv.h,
            // libuv 1.x) is the field's type.
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    let version = sym!(c"uv_version" as VersionFn);
    // SAFETY: uv_version takes no argument and returns the packed version number (same test).
    if unsafe { version() } >> 16 != UV_MAJOR {
        return None;
    }
    let uv = Uv {
        default_loop: sym!(c"uv_default_loop" as DefaultLoopFn),
        handle_size: sym!(c"uv_handle_size" as HandleSizeFn),
        poll_init: sym!(c"uv_poll_init" as PollInitFn),
        poll_start: sym!(c"uv_poll_start" as PollStartFn),
        poll_stop: sym!(c"uv_poll_stop" as PollStopFn),
        close: sym!(c"uv_close" as CloseFn),
        timer_init: sym!(c"uv_timer_init" as TimerInitFn),
        timer_start: sym!(c"uv_timer_start" as TimerStartFn),
        timer_stop: sym!(c"uv_timer_stop" as TimerStopFn),
        unref: sym!(c"uv_unref" as UnrefFn),
    };
    let fits = |kind| {
        // SAFETY: uv_handle_size is a pure lookup of a handle type's size (same test).
        let bytes = unsafe { (uv.handle_size)(kind) };
        HANDLE_BYTES.contains(&bytes)
    };
    (fits(UV_POLL) && fits(UV_TIMER)).then_some(uv)
}

#[cfg(not(unix))]
fn load() -> Option<Uv> {
    None
}

/// Zeroed, 8-aligned memory for one handle of `kind`.
pub fn handle_memory(uv: &Uv, kind: c_int) -> Box<[u64]> {
    // SAFETY: uv_handle_size is a pure lookup. Exercised by __test__/redis-event-loop.test.ts `runs on this (main) thread`.
    let bytes = unsafe { (uv.handle_size)(kind) };
    vec![0u64; bytes.div_ceil(8).max(1)].into_boxed_slice()
}

/// A handle of `kind` that is never freed: it lives as long as the process (the main
/// thread's loop; see `mod.rs`).
pub fn leak_handle(uv: &Uv, kind: c_int) -> *mut Handle {
    Box::leak(handle_memory(uv, kind)).as_mut_ptr().cast()
}

/// `uv_handle_t.data`, the first field of every handle (uv.h `UV_HANDLE_FIELDS`): the
/// user's pointer, which libuv never touches.
///
/// # Safety
/// `handle` points to a handle's memory.
pub unsafe fn data_slot(handle: *mut Handle) -> *mut *mut c_void {
    handle.cast()
}
