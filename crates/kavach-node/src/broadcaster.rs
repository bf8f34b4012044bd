//! `InMemoryInvalidationBroadcaster`: fan-out of invalidation scopes inside one process (to
//! gates and listeners). Gates take it through `as_core()`; `core_broadcaster` accepts any
//! broadcaster class from JS in one place (gate options and `spawnInvalidationListener`).

#![cfg_attr(
    test,
    allow(
        dead_code,
        reason = "napi registers exports only in the cdylib build, not under test"
    )
)]

use std::sync::Arc;

use futures::FutureExt;
use kavach_core::invalidation::{self, InvalidationBroadcaster};
use napi::bindgen_prelude::{ClassInstance, FromNapiValue, Unknown};
use napi::JsValue;
use napi_derive::napi;

use crate::error::{codes, to_js, CoreResultExt, Result};

/// Delivers invalidation scopes to every subscribed gate and listener in this process.
/// Late subscribers miss earlier messages.
#[napi]
pub struct InMemoryInvalidationBroadcaster {
    inner: Arc<invalidation::InMemoryInvalidationBroadcaster>,
}

impl Default for InMemoryInvalidationBroadcaster {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl InMemoryInvalidationBroadcaster {
    #[napi(catch_unwind, constructor)]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(invalidation::InMemoryInvalidationBroadcaster::new()),
        }
    }

    /// Revoke `targetId` everywhere this broadcaster reaches. `targetKind` is `session`,
    /// `principal` or `role`; anything else throws `INVALID_ARGUMENT`.
    #[napi(
        catch_unwind,
        ts_args_type = "targetKind: 'session' | 'principal' | 'role', targetId: string, reason: string, evaluator?: string"
    )]
    pub fn publish(
        &self,
        target_kind: String,
        target_id: String,
        reason: String,
        evaluator: Option<String>,
    ) -> Result<()> {
        let scope = invalidation::parse_scope(
            &target_kind,
            &target_id,
            &reason,
            evaluator.as_deref().unwrap_or("manual"),
        )
        .js()?;
        // In-process delivery is synchronous: the future is ready at once and cannot fail.
        match self.inner.publish(&scope).now_or_never() {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(to_js(codes::INTERNAL, e)),
            None => Err(to_js(
                codes::INTERNAL,
                "in-memory publish did not complete synchronously",
            )),
        }
    }

    /// Gates and listeners currently subscribed.
    #[napi(catch_unwind, getter)]
    pub fn subscriber_count(&self) -> u32 {
        u32::try_from(self.inner.subscriber_count()).unwrap_or(u32::MAX)
    }
}

impl InMemoryInvalidationBroadcaster {
    /// The core broadcaster a gate subscribes to and publishes on.
    pub(crate) fn as_core(&self) -> Arc<dyn InvalidationBroadcaster> {
        self.inner.clone()
    }
}

/// Any broadcaster class instance from JS, as the core trait object; `None` when `value` is
/// not one. Add each new broadcaster class here (e.g. `RedisInvalidationBroadcaster`).
pub(crate) fn core_broadcaster(value: Unknown<'_>) -> Option<Arc<dyn InvalidationBroadcaster>> {
    let (env, raw) = (value.value().env, value.raw());
    // SAFETY: `env`/`raw` come from a live `Unknown` on the JS thread; `from_napi_value`
    // checks the napi type tag before unwrapping, so a wrong object is an `Err`, not UB.
    if let Ok(bc) =
        unsafe { ClassInstance::<InMemoryInvalidationBroadcaster>::from_napi_value(env, raw) }
    {
        return Some(bc.as_core());
    }
    // The Redis broadcaster (owned by the redis work) is accepted wherever this one is.
    if let Some(bc) = crate::redis_stores::broadcaster_from_unknown(&value) {
        return Some(bc);
    }
    None
}

/// `core_broadcaster`, or an `INVALID_ARGUMENT` error naming what was expected.
pub(crate) fn require_core_broadcaster(
    what: &str,
    value: Unknown<'_>,
) -> Result<Arc<dyn InvalidationBroadcaster>> {
    core_broadcaster(value).ok_or_else(|| {
        to_js(
            codes::INVALID_ARGUMENT,
            format!(
                "{what} must be an InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster"
            ),
        )
    })
}
