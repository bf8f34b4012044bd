//! Drift detection (evaluator `drift`, priority 100): geo/IP, session age, device, behaviour.

use crate::context::{ActionContext, DeviceFingerprint, GeoLocation};

/// The session as drift sees it: stored state merged with explicit context overrides.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionView<'a> {
    /// Unix seconds.
    pub started_at: Option<i64>,
    pub origin_ip: Option<&'a str>,
    pub origin_geo: Option<&'a GeoLocation>,
    pub origin_device: Option<&'a DeviceFingerprint>,
    /// Permitted actions so far in this session.
    pub action_count: u64,
}

#[derive(Debug, Clone, Default)]
pub struct DriftConfig {
    /// Tolerant geo drift: an IP change within this many km is a warning.
    pub geo_max_km: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DriftOutcome {
    Pass { warnings: Vec<String> },
    /// Three or more warnings at once: Refuse `DRIFT_DETECTED`.
    Refuse(String),
    /// A violation: Invalidate the session.
    Invalidate(String),
}

#[derive(Debug, Clone, Default)]
pub struct DriftEvaluator {
    pub config: DriftConfig,
}

impl DriftEvaluator {
    pub fn new(config: DriftConfig) -> Self {
        Self { config }
    }

    pub fn evaluate(
        &self,
        _ctx: &ActionContext,
        _session: &SessionView<'_>,
        _now_secs: i64,
    ) -> DriftOutcome {
        DriftOutcome::Pass {
            warnings: Vec::new(),
        }
    }
}
