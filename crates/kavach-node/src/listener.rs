//! `spawnInvalidationListener(broadcaster, callback)`: every scope the broadcaster carries is
//! delivered to `callback` on the JS event loop through a threadsafe function (publishers may
//! be on any thread: a gate's async pipeline, a Redis subscriber task). A callback that throws
//! (or returns a promise that rejects) is reported on stderr and the listener keeps going.

#![cfg_attr(
    test,
    allow(
        dead_code,
        reason = "napi registers exports only in the cdylib build, not under test"
    )
)]

use std::sync::Arc;

use kavach_core::invalidation::{InvalidationBroadcaster, ScopeListener};
use napi::bindgen_prelude::{FnArgs, FromNapiValue, Function, JsObjectValue, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status};
use napi_derive::napi;

use crate::error::{codes, to_js, Result};

/// One invalidation as a listener sees it.
#[napi(object, object_from_js = false, js_name = "InvalidationScope")]
pub struct JsInvalidationScope {
    #[napi(ts_type = "'session' | 'principal' | 'role'")]
    pub target_kind: String,
    pub target_id: String,
    pub reason: String,
    /// Who revoked it: `drift`, `manual`, or whatever the publisher named.
    pub evaluator: String,
}

impl From<kavach_core::InvalidationScope> for JsInvalidationScope {
    fn from(s: kavach_core::InvalidationScope) -> Self {
        Self {
            target_kind: s.target_kind.as_str().to_owned(),
            target_id: s.target_id,
            reason: s.reason,
            evaluator: s.evaluator,
        }
    }
}

/// Core scope in (from any thread), JS scope object out (on the JS thread). Not callee-handled:
/// the callback gets the scope as its only argument.
type ScopeTsfn = ThreadsafeFunction<
    kavach_core::InvalidationScope,
    Unknown<'static>,
    JsInvalidationScope,
    Status,
    false,
>;

struct Active {
    broadcaster: Arc<dyn InvalidationBroadcaster>,
    subscription: u64,
    tsfn: Arc<ScopeTsfn>,
}

/// Returned by `spawnInvalidationListener`; `abort()` stops delivery.
#[napi]
pub struct InvalidationListenerHandle {
    active: Option<Active>,
}

#[napi]
impl InvalidationListenerHandle {
    /// Stop listening and release the threadsafe function, so the listener no longer keeps
    /// the process alive. Idempotent.
    #[napi(catch_unwind)]
    pub fn abort(&mut self, env: Env) {
        if let Some(active) = self.active.take() {
            active.broadcaster.unsubscribe(active.subscription);
            // Unref first: should a publish in flight still hold a clone for a moment, the
            // event loop is already free to exit.
            unref(&active.tsfn, &env);
            // Dropping the last clone releases the threadsafe function.
        }
    }

    /// True once `abort()` has been called.
    #[napi(catch_unwind, getter)]
    pub fn is_finished(&self) -> bool {
        self.active.is_none()
    }
}

/// Deliver every scope `broadcaster` carries to `callback`, on the JS event loop. Scopes
/// published before this call are not replayed. An active listener keeps the process alive
/// (it is waiting for messages); `abort()` lets it exit. Scopes already queued when `abort()`
/// is called may still be delivered.
#[napi(
    catch_unwind,
    ts_args_type = "broadcaster: InMemoryInvalidationBroadcaster | RedisInvalidationBroadcaster, callback: (scope: InvalidationScope) => unknown"
)]
pub fn spawn_invalidation_listener(
    broadcaster: Unknown<'_>,
    callback: Function<'_, JsInvalidationScope, Unknown<'static>>,
) -> Result<InvalidationListenerHandle> {
    let broadcaster = crate::broadcaster::require_core_broadcaster("broadcaster", broadcaster)?;
    let tsfn: ScopeTsfn = callback
        .build_threadsafe_function::<kavach_core::InvalidationScope>()
        .callee_handled::<false>()
        .build_callback(|ctx| Ok(JsInvalidationScope::from(ctx.value)))
        .map_err(|e| to_js(codes::INTERNAL, format!("cannot create listener: {e}")))?;
    // Referenced until `abort()`, like a socket or a timer: a scope published just before
    // the script's last line is still delivered instead of being dropped at exit.
    let tsfn = Arc::new(tsfn);
    let deliver = tsfn.clone();
    let listener: ScopeListener = Arc::new(move |scope| {
        // NonBlocking on an unbounded queue: never stalls the publisher. A `Closing` status
        // only means the environment is shutting down; nothing to deliver to then.
        let _ = deliver.call_with_return_value(
            scope.clone(),
            ThreadsafeFunctionCallMode::NonBlocking,
            report_failure,
        );
    });
    let subscription = broadcaster.subscribe(listener);
    Ok(InvalidationListenerHandle {
        active: Some(Active {
            broadcaster,
            subscription,
            tsfn,
        }),
    })
}

/// Let the event loop exit even while the threadsafe function is alive. napi-rs only offers
/// a deprecated `&mut self` unref, and the function is shared, hence the direct call.
fn unref(tsfn: &ScopeTsfn, env: &Env) {
    // SAFETY: called on the JS thread with this env; `tsfn.raw()` stays valid while `tsfn`
    // lives, and an unref of a live threadsafe function has no other effect.
    let _ = unsafe { napi::sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) };
}

/// Runs on the JS thread after the callback: a throw or a rejected promise is reported,
/// never propagated (which would end the process through `uncaughtException`).
fn report_failure(result: napi::Result<Unknown<'static>>, env: Env) -> napi::Result<()> {
    match result {
        Err(err) => report(&env, err),
        Ok(value) if value.is_promise().unwrap_or(false) => {
            // SAFETY: `value` is a live promise on this env's thread (checked just above).
            let promise =
                unsafe { PromiseRaw::<Unknown<'static>>::from_napi_value(env.raw(), value.raw()) };
            if let Ok(promise) = promise {
                let _ = promise.catch(
                    |ctx: napi::bindgen_prelude::CallbackContext<Unknown<'static>>| {
                        report(
                            &ctx.env,
                            napi::Error::from_unknown_without_coercion(ctx.value),
                        );
                        Ok(())
                    },
                );
            }
        }
        Ok(_) => {}
    }
    Ok(())
}

const REPORT_PREFIX: &str =
    "kavach: invalidation listener callback failed (listener keeps running):";

/// `console.error(prefix, thrownValue)` so the stack trace shows; plain stderr as a fallback.
fn report(env: &Env, err: napi::Error) {
    let fallback = format!("{REPORT_PREFIX} {}", err.reason);
    let thrown = napi::JsError::from(err).into_unknown(*env);
    let logged = (|| -> napi::Result<()> {
        let console: napi::bindgen_prelude::Object =
            env.get_global()?.get_named_property("console")?;
        let error_fn: Function<'_, FnArgs<(&str, Unknown<'_>)>, Unknown<'_>> =
            console.get_named_property("error")?;
        error_fn.apply(console, FnArgs::from((REPORT_PREFIX, thrown)))?;
        Ok(())
    })();
    if logged.is_err() {
        eprintln!("{fallback}");
    }
}
