//! CPU-heavy steps inside an async evaluation (ML-DSA signing, a durable audit append) run
//! here. The runtime has a single worker (see `lib.rs`), so a millisecond of signing on it
//! would stall every other in-flight evaluation's Redis I/O; `block_in_place` hands the
//! worker's queue to another thread for the duration instead. Outside the runtime (the sync
//! `evaluate` on the JS thread) the step simply runs.

use tokio::runtime::{Handle, RuntimeFlavor};

pub(crate) fn off_worker<T>(step: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(step)
        }
        _ => step(),
    }
}
