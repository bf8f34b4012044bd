//! The napi binding: thin classes and records over the plain-Rust crates. Each exposed type
//! lives in its own file; errors map to JS codes once, in `error.rs`.

mod audit;
mod broadcaster;
mod channel;
mod context;
mod directory;
mod error;
mod gate;
mod keypair;
mod listener;
mod options;
mod redis_stores;
mod signer;
mod verdict;
