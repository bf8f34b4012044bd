//! Errors of the Redis stores, each with a stable code the binding exposes as `err.code`.

use std::time::Duration;

use kavach_core::store::StoreError;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RedisStoreError {
    /// A malformed URL or option (the message names it; passwords are redacted).
    #[error("{0}")]
    InvalidArgument(String),
    /// The first connection did not complete in time (black-holed address, paused server).
    #[error("redis connect timed out after {}", seconds(*.0))]
    ConnectTimeout(Duration),
    /// A command did not answer within its timeout.
    #[error("redis command timed out after {}ms", .0.as_millis())]
    CommandTimeout(Duration),
    /// Redis refused the connection, dropped it, or answered with an error.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered something the store cannot read (a foreign value under our key).
    #[error("unexpected redis reply: {0}")]
    Protocol(String),
    /// `close()` was called.
    #[error("redis store is closed")]
    Closed,
}

impl RedisStoreError {
    pub fn code(&self) -> &'static str {
        match self {
            RedisStoreError::InvalidArgument(_) => "INVALID_ARGUMENT",
            RedisStoreError::ConnectTimeout(_)
            | RedisStoreError::CommandTimeout(_)
            | RedisStoreError::Unavailable(_)
            | RedisStoreError::Protocol(_)
            | RedisStoreError::Closed => "STORE_UNAVAILABLE",
        }
    }
}

/// `5s`, `1.5s`, `0.25s`: whole milliseconds as seconds, so a timeout of 1500 ms is not
/// reported as 1 s.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    let fraction = format!("{:03}", ms % 1000);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{fraction}s", ms / 1000)
    }
}

impl From<redis::RedisError> for RedisStoreError {
    fn from(e: redis::RedisError) -> Self {
        RedisStoreError::Unavailable(e.to_string())
    }
}

impl From<RedisStoreError> for StoreError {
    fn from(e: RedisStoreError) -> Self {
        StoreError(e.to_string())
    }
}

pub type Result<T, E = RedisStoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeouts_keep_their_milliseconds() {
        let message = |ms| RedisStoreError::ConnectTimeout(Duration::from_millis(ms)).to_string();
        assert_eq!(message(5000), "redis connect timed out after 5s");
        assert_eq!(message(1500), "redis connect timed out after 1.5s");
        assert_eq!(message(250), "redis connect timed out after 0.25s");
        assert_eq!(message(600_001), "redis connect timed out after 600.001s");
    }
}
