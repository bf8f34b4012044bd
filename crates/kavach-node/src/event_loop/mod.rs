//! A tokio runtime driven by Node's own event loop, for `evaluateAsync` on gates whose only
//! slow step is Redis I/O.
//!
//! Why: on the multi-thread runtime each evaluation crosses threads twice (the JS thread
//! wakes a tokio worker to send the script; the worker wakes the JS thread with the verdict),
//! and at concurrency 1 those two wake-ups cost about as much as the Redis round trip. Here a
//! current-thread runtime lives on the JS thread: libuv watches the runtime's epoll
//! descriptor (`poll_fd.rs`) and runs the runtime whenever a socket it owns turns readable,
//! the way a JS Redis client works. The script is written during the JS call that submitted
//! it, and the reply is read on the JS thread. docs/ARCHITECTURE.md describes the whole path
//! and what it relies on (tokio 1.54.1's park, pinned in Cargo.toml; finding the runtime's
//! epoll descriptor, `poll_fd.rs`; libuv, `uv.rs`).
//!
//! The evaluations themselves are not tokio tasks: `local_tasks.rs` polls them on this thread,
//! and libuv reads the rate-limit script's socket itself (`socket_watch.rs`), so an evaluation
//! at concurrency 1 runs without a single tokio tick. Ticks still drive everything else on
//! this runtime (connects, timers, the redis crate's connections).
//!
//! A "tick" runs the runtime until it is idle: every ready task, and the I/O driver without
//! blocking, until the driver reports nothing new (the `on_thread_park` hook sees the epoll
//! descriptor quiet and wakes the tick's future, which then finishes). The JS thread never
//! blocks in here. Timers (command timeouts, reconnect backoff) are not on the epoll
//! descriptor, so while tracked work is in flight a 1 ms libuv timer ticks as well; it also
//! picks up any task woken by I/O that raced in during a tick's last look.
//!
//! Only on the main thread (the default libuv loop, which lives as long as the process), only
//! on Linux, and only when the libuv symbols resolve; otherwise `current()` is None and
//! callers use the multi-thread runtime. The runtime is never dropped: its sockets and tasks
//! end with the process (stores' `close()` releases connections earlier).

mod local_tasks;
mod poll_fd;
mod socket_watch;
mod uv;

use local_tasks::LocalTasks;

use poll_fd::RawFd;

use std::cell::{Cell, OnceCell};
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use kavach_redis::speed_layers::{self, Layer};
use napi::{sys, Env};
use parking_lot::Mutex;
use tokio::runtime::{Builder, Runtime};

/// Safety net: a tick ends after this many driver polls with events waiting, even if the
/// descriptor never quiets (the rest waits for libuv's next callback).
const MAX_BUSY_PARKS_PER_TICK: u32 = 256;
/// Timer period while tracked work is in flight (see the module docs).
const IN_FLIGHT_TICK_MS: u64 = 1;

thread_local! {
    static CURRENT: OnceCell<Option<Rc<EventLoopRuntime>>> = const { OnceCell::new() };
}

pub struct EventLoopRuntime {
    rt: Runtime,
    uv: &'static uv::Uv,
    timer: *mut uv::Handle,
    timer_on: Cell<bool>,
    ticking: Cell<bool>,
    settle: Arc<Settle>,
    /// Tracked tasks (`spawn`, and every local task) not finished yet.
    in_flight: Arc<AtomicUsize>,
    /// Evaluations, polled outside tokio's scheduler.
    tasks: LocalTasks,
}

/// Shared with the park hook: whether the driver went quiet, and the tick future's waker.
struct Settle {
    poll_fd: RawFd,
    idle: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// The tick's first park may take the descriptor as readable: libuv just said so.
    assume_readable: AtomicBool,
    /// Parks in this tick that found the descriptor readable.
    busy_parks: AtomicU32,
}

impl Settle {
    /// The runtime is about to park: no task is ready. It must not block the JS thread.
    ///
    /// If the descriptor has events waiting, the tick future is woken but not marked idle:
    /// tokio then polls the driver without waiting and runs whatever the events wake.
    /// Otherwise the runtime is idle: the tick future is woken and marked idle, tokio polls
    /// the driver once more without waiting (tokio 1.54.1, pinned in Cargo.toml, always does
    /// after a park hook left work), and the future ends the tick. The readiness check is a
    /// zero-timeout `poll` of the descriptor.
    fn on_park(&self) {
        let readable =
            self.assume_readable.swap(false, Ordering::AcqRel) || poll_fd::readable(self.poll_fd);
        if readable && self.busy_parks.fetch_add(1, Ordering::AcqRel) < MAX_BUSY_PARKS_PER_TICK {
            // Waking the tick future from inside the runtime sets a flag (no eventfd write):
            // tokio then polls the driver without waiting, and the future, not idle, waits on.
            // Without a waker (not expected: the future is polled before any park), a no-op
            // task does the same, so the runtime never parks with a wait.
            match self.waker.lock().as_ref() {
                Some(w) => w.wake_by_ref(),
                None => drop(tokio::spawn(async {})),
            }
            return;
        }
        // Idle, or busy for too long: end the tick (libuv calls again if work is left).
        self.idle.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }
}

impl EventLoopRuntime {
    /// The JS thread's event-loop runtime, created on first use; None off the main thread or
    /// where it is unsupported (see the module docs).
    pub fn current(env: &Env) -> Option<Rc<Self>> {
        if !speed_layers::on(Layer::EventLoop) {
            return None;
        }
        CURRENT.with(|c| c.get_or_init(|| Self::create(env).map(Rc::new)).clone())
    }

    /// This thread's runtime, if it exists and is running something now, a tick or its local
    /// tasks (so that whatever is being built now belongs to it). Never creates it.
    fn if_active() -> Option<Rc<Self>> {
        CURRENT
            .try_with(|c| c.get().cloned().flatten())
            .ok()
            .flatten()
            .filter(|rt| rt.ticking.get() || rt.tasks.polling())
    }

    fn create(env: &Env) -> Option<Self> {
        let uv = uv::get()?;
        let mut lp: *mut sys::uv_loop_s = std::ptr::null_mut();
        // SAFETY: a live env on its own thread. Exercised by __test__/redis-event-loop.test.ts `runs on this (main) thread`.
        let status = unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut lp) };
        // SAFETY: uv_default_loop only returns a pointer (same test).
        if status != sys::Status::napi_ok
            || lp.is_null()
            || lp.cast() != unsafe { (uv.default_loop)() }
        {
            return None;
        }
        let settle_slot: Arc<Mutex<Option<Arc<Settle>>>> = Arc::new(Mutex::new(None));
        let hook_slot = settle_slot.clone();
        let (rt, poll_fd) = poll_fd::build_with_poll_fd(|| {
            Builder::new_current_thread()
                .enable_all()
                .on_thread_park(move || {
                    if let Some(s) = hook_slot.lock().as_ref() {
                        s.on_park();
                    }
                })
                .build()
                .ok()
        })?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let settle = Arc::new(Settle {
            poll_fd,
            idle: AtomicBool::new(false),
            waker: Mutex::new(None),
            assume_readable: AtomicBool::new(false),
            busy_parks: AtomicU32::new(0),
        });
        *settle_slot.lock() = Some(settle.clone());
        let tasks = LocalTasks::new(rt.handle().clone(), in_flight.clone());
        let this = Self {
            rt,
            uv,
            timer: uv::leak_handle(uv, uv::UV_TIMER),
            timer_on: Cell::new(false),
            ticking: Cell::new(false),
            settle,
            in_flight,
            tasks,
        };
        if !this.verify_poll_fd() {
            return None;
        }
        // Direct Redis connections made on this runtime are read by libuv (`socket_watch.rs`),
        // and the rate-limit drains they need run as local tasks.
        kavach_redis::set_loop_hooks(kavach_redis::LoopHooks {
            watch_socket: socket_watch::watch_socket,
            spawn_local,
        });
        let poll = uv::leak_handle(uv, uv::UV_POLL);
        // SAFETY: fresh, unreferenced handles on this (JS) thread's loop; callbacks run only here
        // and never keep the process alive. Tests: redis-event-loop.test.ts `runs on this (main)
        // thread`, and `connections killed again and again` (the idle loop exits).
        unsafe {
            if (uv.timer_init)(lp.cast(), this.timer) != 0
                || (uv.poll_init)(lp.cast(), poll, poll_fd) != 0
            {
                return None;
            }
            (uv.unref)(this.timer);
            (uv.unref)(poll);
            if (uv.poll_start)(poll, uv::UV_READABLE, on_readable) != 0 {
                return None;
            }
        }
        Some(this)
    }

    /// Checks that the descriptor found is this runtime's: a task spawned from outside wakes
    /// the runtime through its registered waker, which must make the descriptor readable.
    fn verify_poll_fd(&self) -> bool {
        self.rt.spawn(async {});
        let ok = poll_fd::readable(self.settle.poll_fd);
        self.tick(false, false);
        ok && !poll_fd::readable(self.settle.poll_fd)
    }

    /// Spawns a tracked task (kept ticking by the timer until it finishes). It starts at the
    /// next tick; callers that want it started now call `tick`.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let guard = InFlight::new(&self.in_flight);
        self.rt.spawn(async move {
            let _guard = guard;
            task.await;
        });
        self.sync_timer();
    }

    /// Starts `tasks` as local tasks and polls them: everything they can do without waiting
    /// (build the Redis call, write it) happens before this returns, and so do verdicts that
    /// need no I/O.
    pub fn run_now<F>(&self, tasks: Vec<F>)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Evaluations already waiting on Redis: their replies may be in, and reading them now
        // lets their drains send the next call while JS goes on submitting.
        if !speed_layers::on(Layer::LocalTasks) {
            for t in tasks {
                self.spawn(t);
            }
            self.tick(false, true);
            return;
        }
        let others = self.in_flight.load(Ordering::Acquire) > 0;
        for t in tasks {
            self.tasks.spawn(Box::pin(t));
        }
        if !self.ticking.get() {
            if others {
                socket_watch::read_now();
            }
            self.run_local(true);
        }
    }

    /// Polls the local tasks that are ready and hands finished verdicts to JS. `in_js`:
    /// called during a JS call rather than from a libuv callback (`dispatch::deliver`).
    fn run_local(&self, in_js: bool) {
        self.tasks.run_ready(&self.rt);
        crate::dispatch::deliver(in_js);
        self.sync_timer();
    }

    /// Runs the runtime until nothing is ready (see the module docs), from a libuv callback,
    /// then the local tasks it woke. Never blocks.
    /// `readable`: libuv reported the descriptor readable (not the in-flight timer); the
    /// descriptor is then known to have events (see `Settle`).
    /// `in_js`: called during a JS call (see `run_local`).
    fn tick(&self, readable: bool, in_js: bool) {
        if self.ticking.get() || self.tasks.polling() {
            return;
        }
        self.ticking.set(true);
        let settle = self.settle.clone();
        settle.idle.store(false, Ordering::Release);
        settle.assume_readable.store(readable, Ordering::Release);
        settle.busy_parks.store(0, Ordering::Release);
        self.rt.block_on(poll_fn(|cx| {
            if settle.idle.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            *settle.waker.lock() = Some(cx.waker().clone());
            Poll::Pending
        }));
        self.ticking.set(false);
        self.run_local(in_js);
    }

    /// Starts the in-flight timer when tracked work appears, stops it when none is left.
    fn sync_timer(&self) {
        let want = self.in_flight.load(Ordering::Acquire) > 0;
        if want == self.timer_on.get() {
            return;
        }
        // SAFETY: the timer was initialized on this thread's loop in `create`. Exercised by
        // redis-event-loop.test.ts `timers and I/O keep running while evaluations wait`.
        unsafe {
            if want {
                (self.uv.timer_start)(self.timer, on_timer, IN_FLIGHT_TICK_MS, IN_FLIGHT_TICK_MS);
            } else {
                (self.uv.timer_stop)(self.timer);
            }
        }
        self.timer_on.set(want);
    }
}

/// Counts a tracked task from spawn until it finishes or is dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// libuv callbacks: run `f` on this thread's runtime. A panic must not unwind into C; it is
/// reported by the panic hook (lib.rs) and the loop carries on.
fn with_current(f: impl FnOnce(&EventLoopRuntime)) {
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
        CURRENT.with(|c| {
            if let Some(Some(rt)) = c.get() {
                f(rt);
            }
        });
    }));
}

/// A watched Redis socket was read (`socket_watch.rs`): poll the tasks its replies woke.
fn after_socket_read() {
    with_current(|rt| {
        if !rt.ticking.get() {
            rt.run_local(false);
        }
    });
}

/// kavach-redis `LoopHooks::spawn_local`: a local task when this thread's runtime is running
/// (a tick or its local tasks), so the task is polled before control goes back to libuv.
fn spawn_local(
    task: kavach_redis::loop_hooks::LoopTask,
) -> Result<(), kavach_redis::loop_hooks::LoopTask> {
    match EventLoopRuntime::if_active().filter(|_| speed_layers::on(Layer::LocalTasks)) {
        Some(rt) => {
            rt.tasks.spawn(task);
            Ok(())
        }
        None => Err(task),
    }
}

/// The runtime's descriptor is readable.
unsafe extern "C" fn on_readable(
    _handle: *mut uv::Handle,
    _status: std::ffi::c_int,
    _events: std::ffi::c_int,
) {
    with_current(|rt| rt.tick(true, false));
}

unsafe extern "C" fn on_timer(_handle: *mut uv::Handle) {
    with_current(|rt| rt.tick(false, false));
}

/// Internal (tests, diagnostics): whether this JS thread runs the event-loop runtime, so that
/// `evaluateAsync` on Redis-only gates skips the thread pool. False off the main thread and
/// where unsupported (see the module docs).
#[napi_derive::napi(catch_unwind)]
#[cfg_attr(test, allow(dead_code))] // only called from JS
pub fn event_loop_runtime_active(env: Env) -> bool {
    EventLoopRuntime::current(&env).is_some()
}

/// Internal (the ablation bench, bench/redis.ts): switches exactly the named speed layers off
/// and every other on (kavach-redis `speed_layers`). Layers chosen at connect time follow the
/// switches for stores connected afterwards.
#[napi_derive::napi(catch_unwind)]
#[cfg_attr(test, allow(dead_code))] // only called from JS
pub fn set_speed_layers_off(
    #[napi(ts_arg_type = "Array<string>")] names: crate::dense_array::DenseArray<String>,
) -> crate::error::Result<()> {
    let layers = speed_layers::parse(&names.0.join(",")).map_err(|name| {
        crate::error::to_js(
            crate::error::codes::INVALID_ARGUMENT,
            format!("unknown speed layer '{name}'"),
        )
    })?;
    speed_layers::set_off(&layers);
    Ok(())
}
