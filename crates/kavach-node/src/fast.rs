//! The hot path of `gate.evaluate()` as a free function on a per-thread registry of gates: a
//! class method pays for unwrapping and type-tag checking `this` (two private-symbol lookups,
//! about a tenth of a microsecond-scale call); a handle is one integer argument. Inputs and
//! numeric outputs go through the gate's scratch array (`context::fast_in`,
//! `verdict::fast_out`), strings through one string each way.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{panic_to_error, Array, Either, FromNapiValue, Function, ToNapiValue};
use napi::{sys, Env, JsError, JsString};
use napi_derive::napi;

use kavach_core::{ActionContext, PrincipalKind};

use crate::context::{fill_fast, read_fast, ContextExtras, RawText, Scratch, ScratchView};
use crate::error::{codes, invalid_argument, to_js, CoreResultExt, Result};
use crate::exact_u32::ExactU32;
use crate::faults;
use crate::names::Names;
use crate::submit::Queue;
use crate::verdict::{fits_fast, to_raw, write_fast};

/// A gate as the fast path sees it.
pub struct Entry {
    pub gate: Arc<kavach_core::gate::Gate>,
    pub scratch: Scratch,
    /// `evaluateAsync`'s submissions (`submit.rs`).
    pub queue: Queue,
    /// The synchronous path's buffers, kept from call to call.
    pub reuse: RefCell<Reuse>,
    /// Names the TS layer sends by index (`names.rs`).
    pub names: RefCell<Names>,
}

/// What one synchronous evaluation needs besides the gate: the input text, the context and
/// the verdict's text. Kept in the entry so a call allocates none of them: refilled in
/// place, they keep their capacity (measured in docs/ARCHITECTURE.md, "Layers not
/// switchable").
pub struct Reuse {
    units: Vec<u16>,
    ctx: ActionContext,
    out: String,
}

impl Reuse {
    /// Buffers larger than this are dropped after the call, so one huge context (a long param
    /// string, say) does not pin its memory for the gate's lifetime.
    const KEEP_BYTES: usize = 4096;

    fn shed_if_large(&mut self) {
        if self.units.capacity() * 2 > Self::KEEP_BYTES || self.out.capacity() > Self::KEEP_BYTES {
            *self = Self::default();
        }
    }
}

impl Default for Reuse {
    fn default() -> Self {
        Self {
            units: Vec::new(),
            ctx: ActionContext::new(String::new(), PrincipalKind::User, String::new()),
            out: String::new(),
        }
    }
}

#[derive(Default)]
struct Registry {
    slots: Vec<Option<Rc<Entry>>>,
    free: Vec<u32>,
}

thread_local! {
    // Per JS thread: a gate lives in one Node environment, and so does its handle.
    static GATES: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Registers a gate; the handle stays valid until [`unregister`].
pub fn register(entry: Rc<Entry>) -> Result<u32> {
    GATES.with_borrow_mut(|r| {
        if let Some(h) = r.free.pop() {
            if let Some(slot) = r.slots.get_mut(h as usize) {
                *slot = Some(entry);
                return Ok(h);
            }
        }
        let h = u32::try_from(r.slots.len())
            .map_err(|_| to_js(codes::INTERNAL, "too many gates in one thread"))?;
        r.slots.push(Some(entry));
        Ok(h)
    })
}

/// Frees a handle (the native gate is being finalized).
pub fn unregister(handle: u32) {
    // `try_with`: finalizers may run while the thread's locals are being torn down.
    let _ = GATES.try_with(|g| {
        if let Ok(mut r) = g.try_borrow_mut() {
            if let Some(slot) = r.slots.get_mut(handle as usize) {
                if slot.take().is_some() {
                    r.free.push(handle);
                }
            }
        }
    });
}

pub fn entry(handle: u32) -> Result<Rc<Entry>> {
    GATES
        .with_borrow(|r| r.slots.get(handle as usize).and_then(Clone::clone))
        .ok_or_else(|| to_js(codes::INTERNAL, "unknown gate handle"))
}

/// The function the TS layer calls for `gate.evaluate()`'s hot path (see the module docs),
/// created once at load: `evaluateFast(handle, text, extras?)` returns a string (numbers in the
/// scratch array) for the common verdicts, the `evaluateRaw` array for the rest (signed,
/// observe-only). Same validation, errors and pipeline as `Gate.evaluateRaw`.
// The napi registration is not compiled into the unit-test build, which sees no caller.
#[cfg_attr(test, allow(dead_code))]
#[napi(
    catch_unwind,
    ts_return_type = "(handle: number, text: string, extras?: ContextExtras | undefined | null) => string | ReturnType<Gate['evaluateRaw']>"
)]
pub fn fast_evaluator(env: &Env) -> Result<Function<'_>> {
    env.create_function("evaluateFast", evaluate_fast_callback)
        .map_err(|e| to_js(codes::INTERNAL, e.reason))
}

/// `evaluateFast`'s N-API callback. A plain callback rather than a `#[napi]` function: napi-rs
/// wraps every one of those in a scope that records its arguments in case async work borrows
/// them (allocations and thread-local bookkeeping on each call), about a sixth of an
/// evaluation's native instructions; nothing here outlives the call. Panics are caught as
/// `#[napi(catch_unwind)]` would: a JS error with napi's `GenericFailure` status, which the TS
/// layer reports as `INTERNAL`.
unsafe extern "C" fn evaluate_fast_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: `env` and `info` are the ones Node passed to this callback, used only during it.
    let outcome = std::panic::catch_unwind(|| unsafe { evaluate_fast_call(env, info) });
    match outcome {
        Ok(Ok(value)) => return value,
        // SAFETY: `env` is this callback's live environment; a thrown error leaves a pending
        // exception, and N-API expects a null result with it. Exercised by
        // __test__/gate.test.ts (coded errors).
        Ok(Err(e)) => unsafe { JsError::from(e).throw_into(env) },
        // SAFETY: as above. Exercised by __test__/no-abort.test.ts (a forced panic).
        Err(panic) => unsafe { JsError::from(panic_to_error(panic)).throw_into(env) },
    }
    std::ptr::null_mut()
}

/// The body of [`evaluate_fast_callback`].
///
/// # Safety
/// `env` and `info` must be a live N-API callback's, on its JS thread.
unsafe fn evaluate_fast_call(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Result<sys::napi_value> {
    let mut argc = 3usize;
    let mut argv = [std::ptr::null_mut(); 3];
    // SAFETY: per this function's contract; `argv` has room for `argc` values, and N-API
    // fills the ones JS did not pass with `undefined`.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        return Err(to_js(
            codes::INTERNAL,
            "evaluateFast: cannot read its arguments",
        ));
    }
    faults::panic_if_armed();
    // SAFETY: a value of this call, read during it.
    let ExactU32(handle) = unsafe { ExactU32::from_napi_value(env, argv[0]) }
        .map_err(|e| invalid_argument(format!("evaluateFast: handle: {}", e.reason)))?;
    // SAFETY: as above; the text is read later in this call (`read_fast`).
    let text = unsafe { RawText::from_napi_value(env, argv[1]) }
        .map_err(|e| to_js(codes::INTERNAL, e.reason))?;
    // The TS layer passes `extras` only when the context has some: two arguments need no
    // type check of a third.
    let extras = if argc < 3 {
        None
    } else {
        // SAFETY: as above.
        unsafe { Option::<ContextExtras>::from_napi_value(env, argv[2]) }
            .map_err(|e| invalid_argument(e.reason))?
    };
    let e = entry(handle)?;
    // One view for input and output: no JS runs in between (evaluate_sync is Rust only), and
    // for the same reason the buffers are never borrowed twice.
    let scratch = e.scratch.view()?;
    let mut reuse = e
        .reuse
        .try_borrow_mut()
        .map_err(|_| to_js(codes::INTERNAL, "evaluate re-entered the same gate"))?;
    let names = e
        .names
        .try_borrow()
        .map_err(|_| to_js(codes::INTERNAL, "evaluate re-entered internName"))?;
    let env = Env::from(env);
    let answer = evaluate_reusing(&env, &e.gate, &scratch, &text, &names, extras, &mut reuse);
    reuse.shed_if_large();
    // SAFETY: `answer` holds values created in this call's scope of the same env.
    unsafe { ToNapiValue::to_napi_value(env.raw(), answer?) }
        .map_err(|e| to_js(codes::INTERNAL, e.reason))
}

/// The evaluation of [`evaluate_fast_call`], with the entry's buffers. The context's strings
/// were copied out of `units`, so they are no larger than it.
fn evaluate_reusing<'env>(
    env: &'env Env,
    gate: &kavach_core::gate::Gate,
    scratch: &ScratchView<'_>,
    text: &RawText,
    names: &Names,
    extras: Option<ContextExtras>,
    reuse: &mut Reuse,
) -> Result<Either<JsString<'env>, Array<'env>>> {
    let Reuse { units, ctx, out } = reuse;
    read_fast(scratch, text, units)?;
    fill_fast(scratch, units, names, extras, ctx)?;
    let verdict = faults::forced(gate.evaluate_sync(ctx).js()?);
    if fits_fast(&verdict, &ctx.action_name) {
        write_fast(verdict, scratch, out);
        // ASCII (nearly always) is valid Latin-1: a plain copy, where UTF-8 is decoded.
        let s = if out.is_ascii() {
            env.create_string_latin1(out.as_bytes())
        } else {
            env.create_string(out.as_str())
        };
        s.map(Either::A)
            .map_err(|e| to_js(codes::INTERNAL, e.reason))
    } else {
        to_raw(env, verdict)
            .map(Either::B)
            .map_err(|e| to_js(codes::INTERNAL, e.reason))
    }
}
