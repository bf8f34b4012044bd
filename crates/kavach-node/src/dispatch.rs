//! Completion of `evaluateAsync` without a threadsafe function per call: each gate owns one
//! long-lived, weak (never keeps the process alive) threadsafe function. Finished evaluations
//! queue `(id, verdict)`; the first one into an empty queue schedules a JS call, and that call
//! hands over everything queued by then as one flat array `[id, raw, id, raw, ...]` (raw as in
//! `verdict::to_raw`). The TS side keeps the id → resolver map and keeps the loop alive while
//! anything is pending (src/gate.ts).

use std::sync::Arc;

use kavach_core::Verdict;
use napi::bindgen_prelude::{Function, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Status};
use parking_lot::Mutex;

use crate::verdict::to_raw;

type Queue = Arc<Mutex<Vec<(u32, Verdict)>>>;

/// The verdicts drained for one JS call.
pub struct Batch(Vec<(u32, Verdict)>);

impl ToNapiValue for Batch {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(env);
        let len = u32::try_from(val.0.len() * 2).unwrap_or(u32::MAX);
        let mut out = env.create_array(len)?;
        for (i, (id, verdict)) in (0u32..).zip(val.0) {
            out.set(2 * i, id)?;
            out.set(2 * i + 1, to_raw(&env, verdict)?)?;
        }
        // SAFETY: `out` is a live value of this env's current scope.
        unsafe { ToNapiValue::to_napi_value(env.raw(), out) }
    }
}

type Tsfn = ThreadsafeFunction<(), (), Batch, Status, false, true, 0>;

/// One gate's completion channel into JS.
pub struct Dispatcher {
    queue: Queue,
    tsfn: Tsfn,
}

impl Dispatcher {
    /// `callback` receives `[id, raw, id, raw, ...]`.
    pub fn new(callback: &Function<'_, Batch, ()>) -> napi::Result<Arc<Self>> {
        let queue: Queue = Arc::new(Mutex::new(Vec::new()));
        let drain = queue.clone();
        let tsfn = callback
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |_ctx| Ok(Batch(std::mem::take(&mut *drain.lock()))))?;
        Ok(Arc::new(Self { queue, tsfn }))
    }

    /// Queues a finished evaluation; schedules a JS call unless one is already due (it will
    /// take this one too, since it drains under the same lock). On the runtime, the call is
    /// made after one yield: evaluations answered by the same Redis reply finish on this
    /// worker right after this one, and this way they reach JS in the same batch.
    pub fn complete(self: &Arc<Self>, id: u32, verdict: Verdict) {
        let first = {
            let mut q = self.queue.lock();
            q.push((id, verdict));
            q.len() == 1
        };
        if !first {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let this = self.clone();
                rt.spawn(async move {
                    tokio::task::yield_now().await;
                    this.notify();
                });
            }
            Err(_) => self.notify(),
        }
    }

    fn notify(&self) {
        // Closing only when the env is being torn down: nobody is left to resolve.
        let _ = self.tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
}
