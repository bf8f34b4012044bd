//! The napi binding: thin classes and records over the plain-Rust crates. Each exposed type
//! lives in its own file; errors map to JS codes in `error.rs`.

mod gate;
