//! The napi binding: thin classes and records over the plain-Rust crates. Each exposed type
//! lives in its own file; errors map to JS codes once, in `error.rs`.

mod audit;
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
    // Two workers: the gate's async work is I/O-bound and this addon shares the host with the
    // application; napi falls back to its own default runtime if building this one fails.
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kavach-tokio")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
