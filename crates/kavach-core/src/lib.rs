//! Kavach gate core: the policy language, the evaluator pipeline (policy → drift → invariants),
//! sessions, verdicts and the store traits with their in-memory implementations.
//! Plain Rust: no napi here, so every rule is testable with `cargo test` alone.

pub mod analysis;
pub mod audit;
pub mod clock;
pub mod context;
pub mod drift;
pub mod error;
pub mod gate;
pub mod ids;
pub mod invalidation;
pub mod invariants;
pub mod policy;
pub mod session;
pub mod signing;
pub mod store;
pub mod verdict;

pub use context::{ActionContext, DeviceFingerprint, GeoLocation, ParamValue, PrincipalKind};
pub use error::{ErrorCode, KavachError};
pub use gate::UNIDENTIFIED_PRINCIPAL;
pub use verdict::{
    Decision, InvalidationScope, PermitToken, Refusal, RefuseCode, ScopeKind, Verdict,
};
