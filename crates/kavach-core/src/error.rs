//! Errors for misuse (bad policy, bad options, bad arguments). Outcomes such as Refuse are
//! verdicts, never errors. Each variant maps to one stable string code that the binding
//! exposes as `err.code`.

use thiserror::Error;

/// Stable error codes shared by every crate and mapped once to JS `err.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    PolicyParse,
    InvalidArgument,
    InvalidOptions,
    StoreUnavailable,
    SyncNotSupported,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::PolicyParse => "POLICY_PARSE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidOptions => "INVALID_OPTIONS",
            ErrorCode::StoreUnavailable => "STORE_UNAVAILABLE",
            ErrorCode::SyncNotSupported => "SYNC_NOT_SUPPORTED",
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum KavachError {
    /// A policy document that cannot be loaded. The message names the policy and the key.
    #[error("{0}")]
    PolicyParse(String),
    /// A wrong argument at a call (context field, param value, scope kind...).
    #[error("{0}")]
    InvalidArgument(String),
    /// Gate options that cannot be honoured.
    #[error("{0}")]
    InvalidOptions(String),
    /// A store that cannot be reached (only surfaced at connect time; during evaluation a store
    /// failure is a Refuse verdict instead).
    #[error("{0}")]
    StoreUnavailable(String),
    /// `evaluate()` (sync) on a gate whose stores do network I/O.
    #[error("{0}")]
    SyncNotSupported(String),
}

impl KavachError {
    pub fn code(&self) -> ErrorCode {
        match self {
            KavachError::PolicyParse(_) => ErrorCode::PolicyParse,
            KavachError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            KavachError::InvalidOptions(_) => ErrorCode::InvalidOptions,
            KavachError::StoreUnavailable(_) => ErrorCode::StoreUnavailable,
            KavachError::SyncNotSupported(_) => ErrorCode::SyncNotSupported,
        }
    }
}

pub type Result<T, E = KavachError> = std::result::Result<T, E>;
