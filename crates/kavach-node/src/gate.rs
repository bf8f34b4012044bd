use std::sync::Arc;

use napi_derive::napi;

/// A compiled gate (skeleton).
#[napi]
pub struct Gate {
    inner: Arc<kavach_core::gate::Gate>,
}

#[napi]
impl Gate {
    #[napi(factory)]
    pub fn empty() -> napi::Result<Self> {
        let inner = kavach_core::gate::Gate::new(Default::default(), Default::default())
            .map_err(|e| napi::Error::from_reason(e.to_string()))?;
        Ok(Self { inner })
    }

    #[napi(getter)]
    pub fn evaluator_count(&self) -> u32 {
        self.inner.evaluator_count()
    }
}
