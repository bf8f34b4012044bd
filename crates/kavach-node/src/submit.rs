//! `evaluateAsync`'s two calls per evaluation, as free functions on the fast path's registry
//! (`fast.rs`): `evaluateSubmit` queues a context, `flushSubmitted` starts the queue as one
//! unit. As class methods each call would pay for unwrapping `this` (type-tag check,
//! native-borrow scope): about 4% of the JS thread's time per evaluation at concurrency 1 in a
//! perf profile, where a handle is one integer argument.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use kavach_core::ActionContext;
use napi::bindgen_prelude::Array;
use napi::Env;
use napi_derive::napi;

use crate::completion::Completion;
use crate::context::{from_fast, ContextExtras, RawText};
use crate::dispatch::Dispatcher;
use crate::error::{codes, to_js, Result};
use crate::event_loop::EventLoopRuntime;
use crate::exact_u32::ExactU32;
use crate::fast;
use crate::faults::{self, Fault};
use crate::verdict::to_raw;

/// One `evaluateSubmit` call: its context and the obligation to settle it.
type Submitted = (ActionContext, Completion);

/// A gate's submitted evaluations and where their verdicts go. Lives in the gate's registry
/// entry, on the JS thread.
pub struct Queue {
    /// Network stores but nothing CPU-heavy (no signer, no audit sink): evaluations run on the
    /// JS thread's event-loop runtime (`event_loop`), so Redis I/O costs no thread hops.
    /// Signing and audit gates stay on the multi-thread runtime, off the event loop.
    loop_async: bool,
    /// Set by `attachCompletion`, taken by `close`.
    dispatcher: RefCell<Option<Arc<Dispatcher>>>,
    /// Waiting for `flushSubmitted`.
    submitted: RefCell<Vec<Submitted>>,
}

impl Queue {
    pub fn new(loop_async: bool) -> Self {
        Self {
            loop_async,
            dispatcher: RefCell::new(None),
            submitted: RefCell::new(Vec::new()),
        }
    }

    pub fn loop_async(&self) -> bool {
        self.loop_async
    }

    pub fn attach(&self, dispatcher: Arc<Dispatcher>) {
        *self.dispatcher.borrow_mut() = Some(dispatcher);
    }

    /// Moves `old`'s dispatcher and waiting submissions here (the gate re-registered).
    pub fn take_over(&self, old: &Queue) {
        *self.dispatcher.borrow_mut() = old.dispatcher.borrow_mut().take();
        self.submitted
            .borrow_mut()
            .append(&mut old.submitted.borrow_mut());
    }

    /// Later submissions fail; those already submitted keep their dispatcher and resolve.
    pub fn detach(&self) {
        self.dispatcher.borrow_mut().take();
    }
}

/// Evaluates one submitted call and hands its verdict to its dispatcher. If this future is
/// dropped before the end (a panic, a cancelled task), `Completion` settles it with an
/// `INTERNAL` failure instead.
async fn run_submitted(gate: Arc<kavach_core::gate::Gate>, (ctx, completion): Submitted) {
    #[allow(
        clippy::panic,
        reason = "test-only fault injection (false without the feature)"
    )]
    if faults::take(Fault::Panic) {
        panic!("test fault: evaluation panicked");
    }
    let verdict = faults::forced(gate.evaluate(&ctx).await);
    completion.finish(verdict);
}

/// Starts one submission's future: `spawn` for the normal path; a test fault drops it unrun.
fn start(gate: &Arc<kavach_core::gate::Gate>, s: Submitted) -> Option<impl Future<Output = ()>> {
    let fut = run_submitted(gate.clone(), s);
    if faults::take(Fault::Drop) {
        drop(fut);
        return None;
    }
    Some(fut)
}

/// `evaluateFast`'s input (same scratch layout and `text`), queued for evaluation; it starts
/// at the next `flushSubmitted` and its verdict goes to the gate's `attachCompletion`
/// callback under `id`, and this returns `null`. Argument errors throw here, synchronously.
/// With `maxPendingEvaluations` already in flight nothing is queued: this returns the verdict
/// (`evaluateRaw`'s array; `Gate::admit`), and `id` stays free.
#[cfg_attr(test, allow(dead_code))] // only called from JS
#[napi(
    catch_unwind,
    ts_args_type = "handle: number, id: number, text: string, extras?: ContextExtras | undefined | null",
    ts_return_type = "ReturnType<Gate['evaluateRaw']> | null"
)]
pub fn evaluate_submit<'env>(
    env: &'env Env,
    ExactU32(handle): ExactU32,
    ExactU32(id): ExactU32,
    text: RawText,
    extras: Option<ContextExtras>,
) -> Result<Option<Array<'env>>> {
    let e = fast::entry(handle)?;
    let ctx = {
        let names = e
            .names
            .try_borrow()
            .map_err(|_| to_js(codes::INTERNAL, "evaluateSubmit re-entered internName"))?;
        from_fast(&e.scratch.view()?, &text, &names, extras)?
    };
    let dispatcher = e
        .queue
        .dispatcher
        .borrow()
        .clone()
        .ok_or_else(|| to_js(codes::INTERNAL, "attachCompletion was not called"))?;
    match e.gate.admit(&ctx) {
        Ok(slot) => {
            e.queue
                .submitted
                .borrow_mut()
                .push((ctx, Completion::new(id, dispatcher, slot)));
            Ok(None)
        }
        Err(verdict) => to_raw(env, *verdict)
            .map(Some)
            .map_err(|err| to_js(codes::INTERNAL, err.reason)),
    }
}

/// Starts every evaluation the gate `handle` submitted since the last flush. The TS layer
/// calls this at the end of each tick (a microtask) and whenever a group of evaluations is
/// waiting (see `START_GROUP_AT` in src/gate.ts), so the evaluations submitted together start
/// as one unit: on the event-loop runtime as local tasks polled at once, whose Redis calls go
/// out before this returns; on the thread pool one wake-up of its worker. Either way hits for the same
/// rate-limit lane land in the same Redis call (kavach-redis `coalesce.rs`).
#[cfg_attr(test, allow(dead_code))] // only called from JS
#[napi(catch_unwind, ts_args_type = "handle: number")]
pub fn flush_submitted(env: &Env, ExactU32(handle): ExactU32) -> Result<()> {
    let e = fast::entry(handle)?;
    let batch = std::mem::take(&mut *e.queue.submitted.borrow_mut());
    if batch.is_empty() {
        return Ok(());
    }
    let gate = e.gate.clone();
    if e.queue.loop_async {
        if let Some(rt) = EventLoopRuntime::current(env) {
            rt.run_now(batch.into_iter().filter_map(|s| start(&gate, s)).collect());
            return Ok(());
        }
    }
    napi::bindgen_prelude::spawn(async move {
        for s in batch {
            // On the worker already: a local spawn, no wake-up.
            if let Some(fut) = start(&gate, s) {
                tokio::spawn(fut);
            }
        }
    });
    Ok(())
}
