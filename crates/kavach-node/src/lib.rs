//! The napi binding: thin classes and records over the plain-Rust crates. Each exposed type
//! lives in its own file; errors map to JS codes once, in `error.rs`.

mod audit;
mod blocking;
mod broadcaster;
mod channel;
mod context;
mod directory;
mod dispatch;
mod error;
mod fast;
mod gate;
mod keypair;
mod listener;
mod options;
mod policy_value;
mod redis_stores;
mod signer;
mod verdict;

/// Runs once when Node loads the addon: one multi-threaded tokio runtime for every async call
/// (Redis I/O, `evaluateAsync`), and a panic hook that reports instead of aborting silently.
#[napi_derive::module_init]
fn init() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("kavach: internal panic (please report): {info}");
        default_hook(info);
    }));
    // One worker: the async work is I/O-bound (Redis), and with a second idle worker tokio
    // wakes it to look for work on every submission, which cost 20-40% of evaluateAsync
    // throughput on a 2-core host (`npm run bench -- redis`). CPU-heavy steps leave the
    // worker (`blocking.rs`). napi falls back to its own default runtime if this fails.
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kavach-tokio")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
