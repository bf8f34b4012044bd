//! The napi binding: thin classes and records over the plain-Rust crates. Each exposed type
//! lives in its own file; errors map to JS codes once, in `error.rs`.

mod audit;
mod blocking;
mod broadcaster;
mod channel;
mod completion;
mod context;
mod dense_array;
mod directory;
mod dispatch;
#[cfg(test)] // every exported function is #[napi(catch_unwind)]
mod entry_points;
mod error;
mod event_loop;
mod exact_u32;
mod fast;
mod faults;
mod gate;
mod heap_trim;
mod keypair;
mod layout;
mod listener;
mod names;
mod options;
mod policy_value;
mod redis_stores;
mod roles;
mod signer;
mod submit;
mod time_zones;
mod verdict;

/// Runs once when Node loads the addon: one tokio runtime for every async call (Redis I/O,
/// `evaluateAsync`), and a panic hook that reports instead of aborting silently.
#[napi_derive::module_init]
fn init() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("kavach: internal panic (please report): {info}");
        default_hook(info);
    }));
    // One worker: the async work is I/O-bound (Redis), and with a second idle worker tokio
    // wakes it to look for work on every submission, which cost evaluateAsync throughput on a
    // 2-core host (concurrency 64: about 60k ops/s with two, 70-85k with one; `npm run bench
    // -- redis`). Still the multi-thread flavor, so CPU-heavy steps can leave the worker with
    // `block_in_place` (`blocking.rs`). napi falls back to its own runtime if this fails.
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kavach-tokio")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
