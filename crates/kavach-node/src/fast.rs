//! The hot path of `gate.evaluate()` as a free function on a per-thread registry of gates: a
//! class method pays for unwrapping and type-tag checking `this` (two private-symbol lookups,
//! about a tenth of a microsecond-scale call); a handle is one integer argument. Inputs and
//! numeric outputs go through the gate's scratch array (`context::fast_in`,
//! `verdict::fast_out`), strings through one string each way.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{Array, Either, ToNapiValue, TypeName};
use napi::{sys, Env, ValueType};
use napi_derive::napi;

use crate::context::{from_fast, ContextExtras, RawText, Scratch};
use crate::error::{codes, to_js, CoreResultExt, Result};
use crate::faults;
use crate::submit::Queue;
use crate::verdict::{fits_fast, to_raw, write_fast};

/// A gate as the fast path sees it.
pub struct Entry {
    pub gate: Arc<kavach_core::gate::Gate>,
    pub scratch: Scratch,
    /// `evaluateAsync`'s submissions (`submit.rs`).
    pub queue: Queue,
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

/// A string that is created as Latin-1 when it is ASCII (a plain copy, where UTF-8 is decoded).
pub struct JsText(String);

impl TypeName for JsText {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for JsText {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        if !val.0.is_ascii() {
            // SAFETY: `env` is the live environment napi passed to this conversion, forwarded
            // unchanged to napi's own String conversion (exercised by the non-ASCII reasons in
            // __test__/gate.test.ts).
            return unsafe { String::to_napi_value(env, val.0) };
        }
        let mut out = std::ptr::null_mut();
        // SAFETY: ASCII is valid Latin-1; pointer and length describe `val.0`.
        let status = unsafe {
            sys::napi_create_string_latin1(
                env,
                val.0.as_ptr().cast(),
                val.0.len() as isize,
                &mut out,
            )
        };
        if status == sys::Status::napi_ok {
            Ok(out)
        } else {
            Err(napi::Error::from_reason("cannot create a string"))
        }
    }
}

/// `gate.evaluate()`'s hot path (see the module docs). Returns a string (numbers in the
/// scratch array) for the common verdicts, the `evaluateRaw` array for the rest (signed,
/// observe-only). Same validation, errors and pipeline as `Gate.evaluateRaw`.
// The napi registration is not compiled into the unit-test build, which sees no caller.
#[cfg_attr(test, allow(dead_code))]
#[napi(
    catch_unwind,
    ts_args_type = "handle: number, text: string, extras?: ContextExtras | undefined | null",
    ts_return_type = "string | ReturnType<Gate['evaluateRaw']>"
)]
pub fn evaluate_fast<'env>(
    env: &'env Env,
    handle: u32,
    text: RawText,
    extras: Option<ContextExtras>,
) -> Result<Either<JsText, Array<'env>>> {
    let e = entry(handle)?;
    // One view for input and output: no JS runs in between (evaluate_sync is Rust only).
    let scratch = e.scratch.view()?;
    let ctx = from_fast(&scratch, &text, extras)?;
    let verdict = faults::forced(e.gate.evaluate_sync(&ctx).js()?);
    if fits_fast(&verdict, &ctx.action_name) {
        Ok(Either::A(JsText(write_fast(verdict, &scratch))))
    } else {
        to_raw(env, verdict)
            .map(Either::B)
            .map_err(|e| to_js(codes::INTERNAL, e.reason))
    }
}
