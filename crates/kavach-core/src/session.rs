//! Per-session state the gate remembers between calls (when the context has a session id).

use crate::context::{DeviceFingerprint, GeoLocation};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionState {
    /// Unix seconds at which the session was first seen (or the caller's `sessionStartedAt`).
    pub started_at: i64,
    pub origin_ip: Option<String>,
    pub origin_geo: Option<GeoLocation>,
    pub origin_device: Option<DeviceFingerprint>,
    /// Permitted actions so far.
    pub action_count: u64,
    /// `Some(reason)` once the session has been revoked.
    pub invalidated: Option<String>,
}

/// What the gate learns about a session the first time it sees it.
pub type SessionSeed = SessionState;
