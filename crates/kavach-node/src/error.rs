//! The one place where Rust errors become JS errors. Every error that crosses the boundary
//! carries a stable string code as `err.code` (`POLICY_PARSE`, `INVALID_ARGUMENT`, ...); the TS
//! layer (`src/errors.ts`) maps that code to a typed `KavachError` subclass.
//!
//! How the code reaches JS, per kind of function:
//!
//! - **Sync `#[napi]` functions, methods, getters and factories** return
//!   [`Result<T>`] (= `std::result::Result<T, napi::Error<&'static str>>`). napi turns the
//!   error into `JsError::from(err)`, which sets `err.code` to the status string, i.e. our code.
//! - **`async fn` and `AsyncTask`** can only reject with `napi::Error<Status>`, whose `code`
//!   would be a napi status (`GenericFailure`). Do not return coded errors from them directly.
//!   Instead, on the JS thread (a `Task::reject`/`resolve`, or the callback of
//!   `Env::spawn_future_with_callback`), call [`settle_error`]: it builds the coded JS error
//!   object once and wraps it in a `napi::Error` that *references* that object, so napi rejects
//!   the promise with our object verbatim and `err.code` survives.
//!   Simpler still, and what the gate does: validate arguments synchronously before starting
//!   the async work (a coded sync throw, which the TS `async` wrapper turns into a rejection),
//!   and let the async part return data that cannot fail (a verdict).
//!
//! Other crates' error enums (kavach-pq, kavach-redis) map with
//! `to_js(e.code(), e)`; add a `From`-style helper here only when several files need it.

use std::fmt::Display;

use napi::{Env, JsError, Status};

/// A JS error whose `code` is a stable string.
pub type JsErr = napi::Error<&'static str>;

/// The result type of every sync binding function.
pub type Result<T> = std::result::Result<T, JsErr>;

#[allow(dead_code, reason = "the code table is shared by every binding file")]
/// Stable codes owned by the binding itself (core codes come from `kavach_core::ErrorCode`).
pub mod codes {
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    pub const INVALID_OPTIONS: &str = "INVALID_OPTIONS";
    pub const POLICY_PARSE: &str = "POLICY_PARSE";
    pub const SYNC_NOT_SUPPORTED: &str = "SYNC_NOT_SUPPORTED";
    /// A bug on our side surfaced as an error instead of a crash (e.g. a caught panic).
    pub const INTERNAL: &str = "INTERNAL";
}

/// A JS error with `err.code === code` and `err.message === msg`.
pub fn to_js(code: &'static str, msg: impl Display) -> JsErr {
    napi::Error::new(code, msg.to_string())
}

#[allow(dead_code, reason = "used by the pq, audit and redis binding files")]
/// Same, with a `cause` (shown as `err.cause` in JS).
pub fn to_js_with_cause(code: &'static str, msg: impl Display, cause: impl Display) -> JsErr {
    let mut err = to_js(code, msg);
    err.set_cause(napi::Error::new(Status::GenericFailure, cause.to_string()));
    err
}

/// `INVALID_ARGUMENT`: a wrong argument at a call; the message names the field.
pub fn invalid_argument(msg: impl Display) -> JsErr {
    to_js(codes::INVALID_ARGUMENT, msg)
}

/// `INVALID_OPTIONS`: gate options that cannot be honoured; the message names the option.
pub fn invalid_options(msg: impl Display) -> JsErr {
    to_js(codes::INVALID_OPTIONS, msg)
}

/// A core error with its stable code.
pub fn from_core(err: kavach_core::KavachError) -> JsErr {
    to_js(err.code().as_str(), err)
}

/// `result.js()?` instead of `result.map_err(from_core)?` (the orphan rule forbids a `From`
/// impl between two foreign types).
pub trait CoreResultExt<T> {
    fn js(self) -> Result<T>;
}

impl<T> CoreResultExt<T> for std::result::Result<T, kavach_core::KavachError> {
    fn js(self) -> Result<T> {
        self.map_err(from_core)
    }
}

#[allow(
    dead_code,
    reason = "used by async binding files (redis connect, key generation)"
)]
/// For async paths (see module docs): builds the coded JS error on the JS thread and returns a
/// `napi::Error` that rejects a promise with exactly that object, keeping `err.code`.
pub fn settle_error(env: &Env, err: JsErr) -> napi::Error {
    let value = JsError::from(err).into_unknown(*env);
    // Retains the object itself: napi hands it back verbatim when it rejects, instead of
    // synthesising a `GenericFailure` error from a status.
    napi::Error::from_unknown_without_coercion(value)
}
