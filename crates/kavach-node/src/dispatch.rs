//! Completion of `evaluateAsync` without a threadsafe function per call. The TS side keeps the
//! id → resolver map and keeps the loop alive while anything is pending (src/gate.ts); a
//! gate's dispatcher hands it finished evaluations in batches (`Batch`), by one of two routes:
//!
//! - From the JS thread's event-loop runtime (`event_loop`): verdicts queue here and go to JS
//!   straight from the libuv callback that finished them, once the tick is over (`deliver`),
//!   with no second trip around the loop.
//! - From the multi-thread runtime: a long-lived, weak (never keeps the process alive)
//!   threadsafe function. The first verdict into an empty queue schedules a JS call, and that
//!   call takes everything queued by then.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::ThreadId;

use kavach_core::gate::PendingSlot;
use kavach_redis::speed_layers::{self, Layer};
use napi::bindgen_prelude::{Array, Function, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, JsValue, Status};
use parking_lot::Mutex;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::completion::Outcome;
use crate::faults::{self, Fault};
use crate::layout::layout_consts;
use crate::verdict::{fits_batch, to_raw, write_fast_with};

/// A finished evaluation waiting for JS: its id, its outcome, and its `maxPendingEvaluations`
/// slot, dropped as the batch carrying it is built (or with the queue, if no JS call is left
/// to take it).
type Finished = (u32, Outcome, PendingSlot);
type Queue = Arc<Mutex<Vec<Finished>>>;

/// The verdicts drained for one JS call, handed over as one UTF-16 string (plus, rarely, an
/// array of raw verdicts): a batch costs two or three N-API calls instead of a dozen per
/// verdict, and the string is created from UTF-16 directly, with no UTF-8 decoding.
///
/// Per verdict: a header of `HEADER` code units, then its text (the sync fast path's text,
/// `verdict::write_fast`, with a permit's action name at the end). Header: the id (2 units,
/// low first), the kind (1 unit: 0 permit, 1 refuse, 2 invalidate, `RAW` for a verdict in the
/// raws array), the `fast_out` slots 1-4 (3 units each, 48 bits, low first; for `RAW`, slot 1
/// is its index in the raws array) and the text's length (2 units). The raws array holds
/// `verdict::to_raw` arrays for what the encoding does not carry (signed permits, observe-
/// only twins). An evaluation that ended without a verdict (`completion.rs`) has kind
/// `FAILED` and its message as text: JS rejects it with code `INTERNAL`. The callback gets
/// the string alone, or `[string, raws]`. src/gate.ts `complete` reads it.
pub struct Batch(Vec<Finished>);

layout_consts! {
    /// Positions in a batch entry's header (rendered by `layout.rs`).
    pub mod batch: usize {
        /// The id: 2 code units, low first.
        ID = 0;
        /// The kind: 1 unit (`verdict::kind`, or `RAW`, `FAILED`).
        KIND = 2;
        /// `fast_out` slots 1-4, 3 units each, low first.
        SLOTS = 3;
        SLOT_UNITS = 3;
        /// The text's length: 2 units, low first.
        TEXT_LEN = SLOTS + 4 * SLOT_UNITS;
        /// Code units before each verdict's text.
        HEADER = TEXT_LEN + 2;
        /// The kind of a verdict carried in the raws array.
        RAW: u16 = 0xFFFF;
        /// The kind of an evaluation that ended without a verdict.
        FAILED: u16 = 0xFFFE;
    }
}
use batch::{FAILED, HEADER, RAW};

/// A non-negative integer below 2^48 (a `fast_out` slot: seconds, lengths, small codes).
fn put_u48(out: &mut [u16], at: usize, v: f64) {
    let v = v.clamp(0.0, 281_474_976_710_655.0) as u64;
    out[at] = (v & 0xFFFF) as u16;
    out[at + 1] = ((v >> 16) & 0xFFFF) as u16;
    out[at + 2] = ((v >> 32) & 0xFFFF) as u16;
}

impl ToNapiValue for Batch {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(env);
        let ids: Vec<u32> = val.0.iter().map(|(id, _, _)| *id).collect();
        // The verdict is handed over: its evaluation no longer counts as pending.
        let entries = val.0.into_iter().map(|(id, outcome, _slot)| (id, outcome));
        match encode(&env, entries) {
            Ok(v) => Ok(v),
            // Every id still settles: as failures, in a batch that needs only one string.
            Err(e) => encode(
                &env,
                ids.into_iter().map(|id| {
                    let why = format!("the verdict could not be delivered: {}", e.reason);
                    (id, Err(why))
                }),
            ),
        }
    }
}

/// Appends one header's length fields for the text written since `head`.
fn close_entry(text: &mut [u16], head: usize) {
    let len = u32::try_from(text.len() - head - HEADER).unwrap_or(u32::MAX);
    text[head + batch::TEXT_LEN] = (len & 0xFFFF) as u16;
    text[head + batch::TEXT_LEN + 1] = (len >> 16) as u16;
}

/// The batch as a JS value (see [`Batch`]).
fn encode(
    env: &Env,
    entries: impl ExactSizeIterator<Item = (u32, Outcome)>,
) -> napi::Result<sys::napi_value> {
    if faults::take(Fault::Batch) {
        return Err(napi::Error::from_reason("test fault: batch build failed"));
    }
    let mut text: Vec<u16> = Vec::with_capacity(entries.len() * (HEADER + 96));
    // One buffer for every verdict's text before it is appended as UTF-16.
    let mut part = String::with_capacity(96);
    let mut raws: Option<Array> = None;
    let mut raw_count = 0u32;
    let utf16 = speed_layers::on(Layer::Utf16Batch);
    for (id, outcome) in entries {
        let head = text.len();
        text.resize(head + HEADER, 0);
        text[head + batch::ID] = (id & 0xFFFF) as u16;
        text[head + batch::ID + 1] = (id >> 16) as u16;
        let verdict = match outcome {
            Ok(v) => v,
            Err(why) => {
                text[head + batch::KIND] = FAILED;
                text.extend(why.encode_utf16());
                close_entry(&mut text, head);
                continue;
            }
        };
        if utf16 && fits_batch(&verdict) {
            let slots = &mut text[head + batch::SLOTS..head + batch::TEXT_LEN];
            let mut kind = 0.0;
            write_fast_with(
                verdict,
                |slot, x| {
                    if slot == 0 {
                        kind = x;
                    } else {
                        put_u48(slots, (slot - 1) * batch::SLOT_UNITS, x);
                    }
                },
                true,
                &mut part,
            );
            // `fast_out::KIND`: 0, 1 or 2.
            text[head + batch::KIND] = kind as u16;
            text.extend(part.encode_utf16());
            close_entry(&mut text, head);
        } else {
            text[head + batch::KIND] = RAW;
            put_u48(&mut text[head + batch::SLOTS..], 0, f64::from(raw_count));
            let raws = match raws.as_mut() {
                Some(r) => r,
                None => raws.insert(env.create_array(0)?),
            };
            raws.set(raw_count, to_raw(env, verdict)?)?;
            raw_count += 1;
        }
    }
    let text = env.create_string_utf16(&text)?;
    match raws {
        // SAFETY: `text` is a live value of this env's current scope. Exercised by
        // redis-event-loop.test.ts `16 chains of 300 awaited evaluations`.
        None => unsafe { ToNapiValue::to_napi_value(env.raw(), text) },
        Some(r) => {
            let mut out = env.create_array(2)?;
            out.set(0, text)?;
            out.set(1, r)?;
            // SAFETY: `out` is a live value of this env's current scope. Exercised by
            // redis-event-loop.test.ts `batched verdicts carry every field` (signed permits travel as raws).
            unsafe { ToNapiValue::to_napi_value(env.raw(), out) }
        }
    }
}

type Tsfn = ThreadsafeFunction<(), (), Batch, Status, false, true, 0>;

/// One gate's completion channel into JS.
pub struct Dispatcher {
    queue: Queue,
    tsfn: Tsfn,
    /// The direct route: the JS thread it belongs to and its callback's index in `DIRECT`.
    direct: Option<(ThreadId, usize)>,
}

/// A callback of the direct route, kept for the thread's lifetime (the event-loop runtime
/// only exists on the main thread): one per distinct function, so gates sharing one
/// completion function (src/gate.ts) share one entry and nothing accumulates per gate.
struct Direct {
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
}

thread_local! {
    static DIRECT: RefCell<Vec<Direct>> = const { RefCell::new(Vec::new()) };
    /// Dispatchers with verdicts queued on this thread's event-loop runtime since the last
    /// `deliver`.
    static READY: RefCell<Vec<Arc<Dispatcher>>> = const { RefCell::new(Vec::new()) };
}

impl Dispatcher {
    /// `callback` receives `[id, raw, id, raw, ...]`. `direct` when this thread runs an
    /// event-loop runtime that will finish evaluations.
    pub fn new(
        env: &Env,
        callback: &Function<'_, Batch, ()>,
        direct: bool,
    ) -> napi::Result<Arc<Self>> {
        let queue: Queue = Arc::new(Mutex::new(Vec::new()));
        let drain = queue.clone();
        let tsfn = callback
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(move |_ctx| Ok(Batch(std::mem::take(&mut *drain.lock()))))?;
        let direct = if direct {
            Some((
                std::thread::current().id(),
                Direct::index_of(env, callback)?,
            ))
        } else {
            None
        };
        Ok(Arc::new(Self {
            queue,
            tsfn,
            direct,
        }))
    }

    /// Queues a finished evaluation. On the event-loop runtime it goes out with the tick's
    /// `deliver`; elsewhere a JS call is scheduled unless one is already due (it will take
    /// this one too, since it drains under the same lock). On the multi-thread runtime the
    /// call is made after one yield: evaluations answered by the same Redis reply finish on
    /// this worker right after this one, and this way they reach JS in the same batch. `slot`
    /// (`maxPendingEvaluations`) is held until then.
    pub fn complete(self: &Arc<Self>, id: u32, outcome: Outcome, slot: PendingSlot) {
        let first = {
            let mut q = self.queue.lock();
            q.push((id, outcome, slot));
            q.len() == 1
        };
        if !first {
            return;
        }
        let rt = Handle::try_current();
        let on_loop = matches!(&rt, Ok(h) if h.runtime_flavor() == RuntimeFlavor::CurrentThread);
        let here = std::thread::current().id();
        if on_loop
            && self.direct.is_some_and(|(thread, _)| thread == here)
            && speed_layers::on(Layer::DirectDeliver)
        {
            READY.with(|r| r.borrow_mut().push(self.clone()));
            return;
        }
        match rt {
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

/// Hands every verdict queued on this thread's event-loop runtime to JS. `in_js`: called
/// during a JS call (its caller runs microtasks); otherwise from a libuv callback, where a
/// callback scope runs them (and process.nextTick) when it closes, as for any Node callback.
pub fn deliver(in_js: bool) {
    let ready = READY.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for d in ready {
        let batch = std::mem::take(&mut *d.queue.lock());
        if let (Some((_, i)), false) = (d.direct, batch.is_empty()) {
            DIRECT.with(|all| {
                if let Some(direct) = all.borrow().get(i) {
                    direct.call(Batch(batch), in_js);
                }
            });
        }
    }
}

impl Direct {
    /// The entry for `callback` on this thread, added on first use.
    fn index_of(env: &Env, callback: &Function<'_, Batch, ()>) -> napi::Result<usize> {
        let raw = env.raw();
        let found = DIRECT.with(|all| {
            all.borrow().iter().position(|d| {
                let mut held = std::ptr::null_mut();
                let mut same = false;
                // SAFETY: on this thread, in the caller's scope. Exercised by
                // __test__/redis-event-loop.test.ts `runs on this (main) thread` and the tests after it (gates share one callback).
                unsafe {
                    sys::napi_get_reference_value(raw, d.callback, &mut held);
                    sys::napi_strict_equals(raw, held, callback.raw(), &mut same);
                }
                same
            })
        });
        if let Some(i) = found {
            return Ok(i);
        }
        let mut callback_ref = std::ptr::null_mut();
        let mut async_context = std::ptr::null_mut();
        let name = env.create_string("kavach:evaluateAsync")?;
        // SAFETY: live values of this env's current scope. Exercised by __test__/redis-event-loop.test.ts `runs on this (main) thread`.
        unsafe {
            check(sys::napi_create_reference(
                raw,
                callback.raw(),
                1,
                &mut callback_ref,
            ))?;
            check(sys::napi_async_init(
                raw,
                std::ptr::null_mut(),
                name.raw(),
                &mut async_context,
            ))?;
        }
        Ok(DIRECT.with(|all| {
            let mut all = all.borrow_mut();
            all.push(Direct {
                env: raw,
                callback: callback_ref,
                async_context,
            });
            all.len() - 1
        }))
    }

    fn call(&self, batch: Batch, in_js: bool) {
        let env = self.env;
        // SAFETY: on the env's own thread (checked when queued); every value lives in the handle
        // scope opened here. Tests: redis-event-loop.test.ts `16 chains of 300 awaited evaluations`
        // (libuv callbacks) and `a burst of 2,000 submitted in one tick` (during a JS call).
        unsafe {
            let mut hs = std::ptr::null_mut();
            if sys::napi_open_handle_scope(env, &mut hs) != sys::Status::napi_ok {
                return;
            }
            let mut scope = std::ptr::null_mut();
            let mut global = std::ptr::null_mut();
            if !in_js {
                sys::napi_get_global(env, &mut global);
                sys::napi_open_callback_scope(env, global, self.async_context, &mut scope);
            }
            let mut func = std::ptr::null_mut();
            let mut undefined = std::ptr::null_mut();
            sys::napi_get_reference_value(env, self.callback, &mut func);
            sys::napi_get_undefined(env, &mut undefined);
            if let Ok(arg) = ToNapiValue::to_napi_value(env, batch) {
                let mut result = std::ptr::null_mut();
                if sys::napi_call_function(env, undefined, func, 1, &arg, &mut result)
                    == sys::Status::napi_pending_exception
                {
                    // As for a throwing Node callback: the process's uncaught-exception path.
                    let mut err = std::ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(env, &mut err);
                    sys::napi_fatal_exception(env, err);
                }
            }
            if !scope.is_null() {
                sys::napi_close_callback_scope(env, scope);
            }
            sys::napi_close_handle_scope(env, hs);
        }
    }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "napi call failed with status {status}"
        )))
    }
}
