//! The native `Gate` class: factories (object, JSON, TOML), sync and async evaluation over the
//! one core pipeline, reload, lift, close. The TS `Gate` (src/gate.ts) wraps this class.

use std::sync::Arc;

use kavach_core::clock::ManualClock;
use kavach_core::policy::PolicySet;
use napi::bindgen_prelude::{Array, Function, PromiseRaw, Unknown};
use napi::Env;
use napi_derive::napi;

use std::rc::Rc;

use crate::context::{from_parts, scope_target, ContextExtras, Params, Scratch, ScratchArg};
use crate::dispatch::{Batch, Dispatcher};
use crate::error::{codes, to_js};
use crate::error::{invalid_argument, settle_error, CoreResultExt, Result};
use crate::event_loop::EventLoopRuntime;
use crate::fast::{self, Entry};
use crate::faults;
use crate::options::{into_config, ms, GateOptions};
use crate::roles::Roles;
use crate::submit::Queue;
use crate::verdict::to_raw;

mod analyze;
mod explain;
mod explain_async;
mod unevaluated;

/// Which revocation to undo.
#[napi(object, object_to_js = false)]
pub struct LiftScope {
    #[napi(ts_type = "'session' | 'principal' | 'role'")]
    pub target_kind: String,
    pub target_id: String,
}

/// What to revoke, and why (`gate.revoke`).
#[napi(object, object_to_js = false)]
pub struct RevokeScope {
    #[napi(ts_type = "'session' | 'principal' | 'role'")]
    pub target_kind: String,
    pub target_id: String,
    /// Shown in later refusals; default `revoked by the application`.
    pub reason: Option<String>,
    /// Who revoked it, as listeners see it; default `manual`.
    pub evaluator: Option<String>,
}

/// A compiled gate. Thread-safe: async evaluations run on the tokio runtime concurrently.
#[napi]
pub struct Gate {
    inner: Arc<kavach_core::gate::Gate>,
    manual_clock: Option<Arc<ManualClock>>,
    /// In-process stores, no signer, no audit sink: an evaluation is microseconds of CPU, so
    /// `evaluateAsync` may answer from the sync path instead of a trip through tokio.
    inline_async: bool,
    /// Network stores but nothing CPU-heavy: see `submit::Queue`.
    loop_async: bool,
    /// The fast path's registration (`attachScratch`): handle, shared numbers and the
    /// `evaluateAsync` queue (`submit.rs`).
    fast: Option<(u32, Rc<Entry>)>,
}

#[napi]
impl Gate {
    /// A gate from a plain JS object (`{ policies: [...] }` or `{ policy: [...] }`).
    #[napi(
        catch_unwind,
        factory,
        ts_args_type = "policies: unknown, options?: GateOptions | undefined | null"
    )]
    pub fn from_object(policies: Unknown, options: Option<GateOptions>) -> Result<Self> {
        Self::build(load::object(policies)?, options)
    }

    /// A gate from a JSON document.
    #[napi(catch_unwind, factory)]
    pub fn from_json(json: String, options: Option<GateOptions>) -> Result<Self> {
        Self::build(load::json(&json).js()?, options)
    }

    /// A gate from a TOML document (`[[policy]]` tables).
    #[napi(catch_unwind, factory)]
    pub fn from_toml(toml: String, options: Option<GateOptions>) -> Result<Self> {
        Self::build(load::toml(&toml).js()?, options)
    }

    fn build(set: PolicySet, options: Option<GateOptions>) -> Result<Self> {
        let converted = into_config(options)?;
        let light = converted.config.token_signer.is_none() && converted.config.audit.is_none();
        let inner = kavach_core::gate::Gate::new(set, converted.config).js()?;
        Ok(Self {
            inline_async: light && inner.supports_sync(),
            loop_async: light && !inner.supports_sync(),
            inner,
            manual_clock: converted.manual_clock,
            fast: None,
        })
    }

    /// True when `evaluateAsync` can answer from the sync path (in-process stores, no token
    /// signer, no audit sink: nothing slow or blocking in the pipeline).
    #[napi(catch_unwind, getter)]
    pub fn inline_async(&self) -> bool {
        self.inline_async
    }

    /// Registers the gate for the free functions `evaluateFast`, `evaluateSubmit` and
    /// `flushSubmitted` with the TS layer's shared `Float64Array` (layouts:
    /// `context::fast_in`, `verdict::fast_out`); returns the handle. Called again, it moves
    /// the `evaluateAsync` queue to the new handle.
    #[napi(catch_unwind, ts_args_type = "buf: Float64Array")]
    pub fn attach_scratch(&mut self, buf: ScratchArg) -> Result<u32> {
        let scratch = Scratch::new(buf)?;
        let queue = Queue::new(self.loop_async);
        if let Some((h, old)) = self.fast.take() {
            fast::unregister(h);
            queue.take_over(&old.queue);
        }
        let entry = Rc::new(Entry {
            gate: self.inner.clone(),
            scratch,
            queue,
            reuse: Default::default(),
            names: Default::default(),
        });
        let h = fast::register(entry.clone())?;
        self.fast = Some((h, entry));
        Ok(h)
    }

    /// The function `evaluateSubmit` results are delivered to, in batches
    /// (one string, or `[string, raws]`; see `dispatch.rs`). Replaces any earlier one. Needs
    /// `attachScratch` first (the queue lives in the fast path's entry).
    #[napi(
        catch_unwind,
        ts_args_type = "callback: (batch: string | [text: string, raws: Array<ReturnType<Gate['evaluateRaw']>>]) => void"
    )]
    pub fn attach_completion(&self, env: &Env, callback: Function<'_, Batch, ()>) -> Result<()> {
        let entry = self.entry()?;
        let direct = entry.queue.loop_async() && EventLoopRuntime::current(env).is_some();
        let d = Dispatcher::new(env, &callback, direct)
            .map_err(|e| to_js(codes::INTERNAL, e.reason))?;
        entry.queue.attach(d);
        Ok(())
    }

    fn entry(&self) -> Result<&Rc<Entry>> {
        self.fast
            .as_ref()
            .map(|(_, e)| e)
            .ok_or_else(|| to_js(codes::INTERNAL, "attachScratch was not called"))
    }

    /// The TS layer's hot path: the context's common fields cross as arguments (`extras` only
    /// when one of its fields is set, so no absent property is read) and the verdict comes
    /// back as a flat array (`RawVerdict`, positions in `verdict.rs`) that `src/verdict.ts`
    /// turns into a `Verdict`.
    #[napi(
        catch_unwind,
        ts_args_type = "principalId: string, principalKind: EvaluateOptions['principalKind'], actionName: string, roles?: Array<string> | undefined | null, params?: Record<string, number | string> | undefined | null, extras?: ContextExtras | undefined | null",
        ts_return_type = "[kind: 0 | 1 | 2, evaluationId: string, code?: NonNullable<Verdict['code']>, evaluator?: string, reason?: string, tokenId?: string, tokenEvaluationId?: string, issuedAt?: number, expiresAt?: number, actionName?: string, signature?: Buffer, observeOnly?: boolean, scopeKind?: ScopeView['targetKind'], scopeTarget?: string, observed?: unknown[]]"
    )]
    #[allow(
        clippy::too_many_arguments,
        reason = "the positional hot path: one N-API argument each"
    )]
    pub fn evaluate_raw<'env>(
        &self,
        env: &'env Env,
        principal_id: String,
        principal_kind: String,
        action_name: String,
        roles: Option<Roles>,
        params: Option<Params>,
        extras: Option<ContextExtras>,
    ) -> Result<Array<'env>> {
        let ctx = from_parts(
            principal_id,
            principal_kind,
            action_name,
            roles.map(|r| r.0),
            params,
            extras,
        )?;
        let verdict = faults::forced(self.inner.evaluate_sync(&ctx).js()?);
        to_raw(env, verdict).map_err(|e| to_js(codes::INTERNAL, e.reason))
    }

    /// `evaluateRaw` on the thread pool (tokio); never blocks the event loop. The TS layer uses
    /// it for contexts the fast path's layout cannot carry. Counts towards
    /// `maxPendingEvaluations` like `evaluateSubmit`; at the bound it resolves at once.
    #[napi(
        catch_unwind,
        ts_args_type = "principalId: string, principalKind: EvaluateOptions['principalKind'], actionName: string, roles?: Array<string> | undefined | null, params?: Record<string, number | string> | undefined | null, extras?: ContextExtras | undefined | null",
        ts_return_type = "Promise<[kind: 0 | 1 | 2, evaluationId: string, code?: NonNullable<Verdict['code']>, evaluator?: string, reason?: string, tokenId?: string, tokenEvaluationId?: string, issuedAt?: number, expiresAt?: number, actionName?: string, signature?: Buffer, observeOnly?: boolean, scopeKind?: ScopeView['targetKind'], scopeTarget?: string, observed?: unknown[]]>"
    )]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors evaluateRaw's positional hot path"
    )]
    pub fn evaluate_raw_async<'env>(
        &self,
        env: &'env Env,
        principal_id: String,
        principal_kind: String,
        action_name: String,
        roles: Option<Roles>,
        params: Option<Params>,
        extras: Option<ContextExtras>,
    ) -> Result<PromiseRaw<'env, Array<'env>>> {
        let ctx = from_parts(
            principal_id,
            principal_kind,
            action_name,
            roles.map(|r| r.0),
            params,
            extras,
        )?;
        let slot = match self.inner.admit(&ctx) {
            Ok(slot) => slot,
            // `maxPendingEvaluations` in flight: answered at once, nothing spawned.
            Err(verdict) => {
                let raw = to_raw(env, *verdict).map_err(|e| to_js(codes::INTERNAL, e.reason))?;
                return PromiseRaw::resolve(env, raw).map_err(|e| to_js(codes::INTERNAL, e.reason));
            }
        };
        let gate = self.inner.clone();
        // The slot travels with the verdict and is dropped as it goes to JS (or with the future
        // if it never finishes).
        env.spawn_future_with_callback(
            async move { Ok((faults::forced(gate.evaluate(&ctx).await), slot)) },
            |env, (v, _slot)| to_raw(env, v),
        )
        .map_err(|e| to_js(codes::INTERNAL, e.reason))
    }

    /// `evaluateAsync` calls in flight on this gate (submitted, verdict not yet delivered);
    /// at most `maxPendingEvaluations`.
    #[napi(catch_unwind, getter)]
    pub fn pending_evaluations(&self) -> u32 {
        u32::try_from(self.inner.pending_evaluations()).unwrap_or(u32::MAX)
    }

    /// Swap in a TOML policy set atomically; on error the previous set stays live.
    #[napi(catch_unwind)]
    pub fn reload(&self, toml: String) -> Result<()> {
        self.inner.reload(load::toml(&toml).js()?);
        Ok(())
    }

    #[napi(catch_unwind, ts_args_type = "policies: unknown")]
    pub fn reload_object(&self, policies: Unknown) -> Result<()> {
        self.inner.reload(load::object(policies)?);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn reload_json(&self, json: String) -> Result<()> {
        self.inner.reload(load::json(&json).js()?);
        Ok(())
    }

    /// policy + drift (unless disabled) + invariants (if any).
    #[napi(catch_unwind, getter)]
    pub fn evaluator_count(&self) -> u32 {
        self.inner.evaluator_count()
    }

    /// False when a store does network I/O: use `evaluateAsync`.
    #[napi(catch_unwind, getter)]
    pub fn supports_sync(&self) -> bool {
        self.inner.supports_sync()
    }

    /// Whether a call of `action` judged without its params could be permitted where with
    /// them it would be refused (an invariant, or a refuse policy for the action with a param
    /// condition): integrations refuse such a call when its input has no fields to read.
    #[napi(catch_unwind)]
    pub fn refusal_reads_params(&self, action: String) -> bool {
        self.inner.refusal_reads_params(&action)
    }

    /// The position of the first of `names` that a condition of the live policy set or an
    /// invariant reads, if any: one call for all the fields of a tool input or request body
    /// that an integration cannot forward (`gate.readsParam` asks about one name).
    #[napi(catch_unwind)]
    pub fn first_read_param(&self, names: Vec<String>) -> Option<u32> {
        let at = names.iter().position(|n| self.inner.reads_param(n))?;
        // A JS array has fewer than 2^32 elements.
        Some(u32::try_from(at).unwrap_or(u32::MAX))
    }

    /// Undo a principal/role (or session) revocation on this gate.
    #[napi(catch_unwind)]
    pub fn lift(&self, scope: LiftScope) -> Result<()> {
        let kind = scope_target(&scope.target_kind, &scope.target_id)?;
        self.inner.lift(kind, &scope.target_id);
        Ok(())
    }

    /// Revoke a session, principal or role on this gate as an Invalidate would: later
    /// evaluations refuse it, a session is marked in the session store, and the broadcaster
    /// (if any) tells the other gates. With `maxPendingEvaluations` in flight only the first
    /// is done, and the call throws `STORE_UNAVAILABLE` saying so; the promise rejects with
    /// `STORE_UNAVAILABLE` too when the session store or the broadcaster could not be told.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn revoke<'env>(&self, env: &'env Env, scope: RevokeScope) -> Result<PromiseRaw<'env, ()>> {
        let scope = kavach_core::invalidation::parse_scope(
            &scope.target_kind,
            &scope.target_id,
            scope
                .reason
                .as_deref()
                .unwrap_or("revoked by the application"),
            scope.evaluator.as_deref().unwrap_or("manual"),
        )
        .js()?;
        let gate = self.inner.clone();
        let slot = match gate.admit_call(
            "revoked on this gate only, not in the session store or on the other gates; \
             retry once some finish",
        ) {
            Ok(slot) => slot,
            Err(e) => {
                gate.revoke_locally(&scope);
                return Err(e).js();
            }
        };
        env.spawn_future_with_callback(
            async move {
                let revoked = gate.revoke(&scope).await;
                drop(slot);
                Ok(revoked)
            },
            // On the JS thread: the coded error object (`STORE_UNAVAILABLE`) rejects verbatim.
            |env, revoked| revoked.js().map_err(|e| settle_error(env, e)),
        )
        .map_err(|e| to_js(codes::INTERNAL, e.reason))
    }

    /// Release listeners and store connections; every later evaluation refuses
    /// (`STORE_UNAVAILABLE`, see `kavach_core::gate::CLOSED_REASON`).
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        // In-flight evaluations keep their own handle and still resolve; the threadsafe function
        // is released with the last of them.
        if let Some((_, e)) = &self.fast {
            e.queue.detach();
        }
        // Refusing starts now, not when the future below runs: an evaluation made right after
        // `close()` returns must not permit.
        self.inner.mark_closed();
        let gate = self.inner.clone();
        env.spawn_future(async move {
            gate.close();
            Ok(())
        })
        .map_err(|e| to_js(codes::INTERNAL, e.reason))
    }

    /// Testing only: set the gate's manual clock (needs `testClock: { nowMs }`).
    #[napi(catch_unwind)]
    pub fn set_test_now(&self, now_ms: f64) -> Result<()> {
        let clock = self.manual_clock.as_ref().ok_or_else(|| {
            invalid_argument("setTestNow needs a gate built with testClock: { nowMs }")
        })?;
        clock.set_ms(ms("nowMs", now_ms)?);
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some((h, _)) = self.fast.take() {
            fast::unregister(h);
        }
    }
}

/// Policy loading, in one place so the three factories and three reloads agree.
mod load {
    use kavach_core::error::Result;
    use kavach_core::policy::{PolicyCompiler, PolicySet};
    use napi::bindgen_prelude::Unknown;

    use crate::error::CoreResultExt;
    use crate::policy_value::to_value_streaming;

    /// A JS policy object, each policy compiled as soon as it is converted.
    pub fn object(v: Unknown<'_>) -> crate::error::Result<PolicySet> {
        let mut compiler = PolicyCompiler::default();
        let skeleton = to_value_streaming(v, &mut |item| compiler.push(item))?;
        PolicySet::from_streamed(&skeleton, compiler).js()
    }
    pub fn json(s: &str) -> Result<PolicySet> {
        let set = PolicySet::from_json(s);
        crate::heap_trim::after_policy_text(s.len());
        set
    }
    pub fn toml(s: &str) -> Result<PolicySet> {
        let set = PolicySet::from_toml(s);
        crate::heap_trim::after_policy_text(s.len());
        set
    }
}
