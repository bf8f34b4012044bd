//! `gate.explainAsync(ctx)`: `explain` on the tokio runtime, for gates whose stores do network
//! I/O (Redis): the rate-limit windows and the session are read from the stores (`peek`),
//! nothing is counted or created.

use kavach_core::ActionContext;
use napi::bindgen_prelude::PromiseRaw;
use napi::Env;
use napi_derive::napi;

use super::explain::Explanation;
use super::Gate;
use crate::context::EvaluateOptions;
use crate::error::{codes, to_js, CoreResultExt, Result};

#[napi]
impl Gate {
    /// `explain` for any gate (Redis stores included), without blocking the event loop.
    /// Argument errors are thrown synchronously (the TS wrapper turns them into a rejection),
    /// as is `STORE_UNAVAILABLE` with `maxPendingEvaluations` already in flight.
    #[napi(catch_unwind, ts_return_type = "Promise<Explanation>")]
    pub fn explain_async<'env>(
        &self,
        env: &'env Env,
        ctx: EvaluateOptions,
    ) -> Result<PromiseRaw<'env, Explanation>> {
        let ctx = ActionContext::try_from(ctx)?;
        let gate = self.inner.clone();
        // Held until the explanation is built: it counts against `maxPendingEvaluations`.
        let slot = gate
            .admit_call("explainAsync not started until some finish (failing closed)")
            .js()?;
        env.spawn_future_with_callback(
            async move {
                let explanation = gate.explain(&ctx).await;
                drop(slot);
                Ok(explanation)
            },
            |_env, e| Ok(Explanation::from(e)),
        )
        .map_err(|e| to_js(codes::INTERNAL, e.reason))
    }
}
