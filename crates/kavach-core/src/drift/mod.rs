//! Drift detection (evaluator `drift`, priority 100): geo/IP, session age, device, behaviour.
//! Detectors run in that order; the first violation invalidates the session, three or more
//! warnings at once refuse (`DRIFT_DETECTED`), anything less passes with its warnings.

pub mod behaviour;
pub mod device;
pub mod geo;
pub mod session_age;

use crate::context::{ActionContext, DeviceFingerprint, GeoLocation};

/// The evaluator name verdicts carry.
pub const EVALUATOR: &str = "drift";
/// Pipeline position: after policy (50), before invariants (150).
pub const PRIORITY: u32 = 100;
/// This many warnings in one evaluation refuse the action.
pub const WARNINGS_TO_REFUSE: usize = 3;

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
    Pass {
        warnings: Vec<String>,
    },
    /// Three or more warnings at once: Refuse `DRIFT_DETECTED`.
    Refuse(String),
    /// A violation: Invalidate the session.
    Invalidate(String),
}

/// What one detector found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    None,
    Warning(String),
    Violation(String),
}

#[derive(Debug, Clone, Default)]
pub struct DriftEvaluator {
    pub config: DriftConfig,
}

impl DriftEvaluator {
    pub fn new(config: DriftConfig) -> Self {
        Self { config }
    }

    /// Explicit context fields (`originIp`, `originGeo`, `originDevice`, `sessionStartedAt`,
    /// `actionCount`) win over the session view, so stateless callers can pass them; applying
    /// them here as well as in the gate is harmless (same values).
    pub fn evaluate(
        &self,
        ctx: &ActionContext,
        session: &SessionView<'_>,
        now_secs: i64,
    ) -> DriftOutcome {
        let started_at = ctx.session_started_at.or(session.started_at);
        let age_secs = started_at.map(|s| now_secs.saturating_sub(s));
        let action_count = ctx.action_count.unwrap_or(session.action_count);
        let geo_input = geo::GeoInput {
            origin_ip: ctx.origin_ip.as_deref().or(session.origin_ip),
            current_ip: ctx.ip.as_deref(),
            origin_geo: ctx.origin_geo.as_ref().or(session.origin_geo),
            current_geo: ctx.current_geo.as_ref(),
            max_km: self.config.geo_max_km,
        };
        let origin_device = ctx.origin_device.as_ref().or(session.origin_device);

        // Lazily, in order, so the first violation stops the remaining detectors.
        let detectors: [&dyn Fn() -> Finding; 4] = [
            &|| geo::check(&geo_input),
            &|| session_age::check(started_at, now_secs),
            &|| device::check(origin_device, ctx.device.as_ref()),
            &|| behaviour::check(action_count, age_secs),
        ];
        let mut warnings = Vec::new();
        for detect in detectors {
            match detect() {
                Finding::None => {}
                Finding::Warning(w) => warnings.push(w),
                Finding::Violation(v) => return DriftOutcome::Invalidate(v),
            }
        }
        if warnings.len() >= WARNINGS_TO_REFUSE {
            DriftOutcome::Refuse(format!(
                "{} drift warnings: {}",
                warnings.len(),
                warnings.join("; ")
            ))
        } else {
            DriftOutcome::Pass { warnings }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::context::PrincipalKind;

    const NOW: i64 = 1_800_000_000;

    fn ctx() -> ActionContext {
        ActionContext::new("agent-7", PrincipalKind::Agent, "issue_refund")
    }
    fn geo(country: &str, city: &str, lat: f64, lon: f64) -> GeoLocation {
        GeoLocation {
            country_code: country.into(),
            region: None,
            city: Some(city.into()),
            latitude: Some(lat),
            longitude: Some(lon),
        }
    }
    fn tolerant(km: f64) -> DriftEvaluator {
        DriftEvaluator::new(DriftConfig {
            geo_max_km: Some(km),
        })
    }

    #[test]
    fn clean_context_passes_without_warnings() {
        let out = DriftEvaluator::default().evaluate(&ctx(), &SessionView::default(), NOW);
        assert_eq!(out, DriftOutcome::Pass { warnings: vec![] });
    }

    #[test]
    fn same_ip_as_origin_passes() {
        let mut c = ctx();
        c.ip = Some("10.0.0.1".into());
        let view = SessionView {
            origin_ip: Some("10.0.0.1"),
            started_at: Some(NOW - 60),
            action_count: 3,
            ..SessionView::default()
        };
        let out = DriftEvaluator::default().evaluate(&c, &view, NOW);
        assert_eq!(out, DriftOutcome::Pass { warnings: vec![] });
    }

    #[test]
    fn bangalore_to_singapore_from_a_new_device_at_150_per_minute_invalidates_on_geo_first() {
        let mut c = ctx();
        c.ip = Some("198.51.100.9".into());
        c.current_geo = Some(geo("SG", "Singapore", 1.3521, 103.8198));
        c.device = Some(DeviceFingerprint {
            hash: "new".into(),
            description: None,
        });
        let origin_geo = geo("IN", "Bangalore", 12.9716, 77.5946);
        let origin_device = DeviceFingerprint {
            hash: "old".into(),
            description: None,
        };
        let view = SessionView {
            started_at: Some(NOW - 600),
            origin_ip: Some("203.0.113.7"),
            origin_geo: Some(&origin_geo),
            origin_device: Some(&origin_device),
            action_count: 1500,
        };
        let DriftOutcome::Invalidate(reason) = tolerant(500.0).evaluate(&c, &view, NOW) else {
            panic!("expected invalidate");
        };
        assert!(reason.contains("moved 3"), "{reason}");
        assert!(reason.contains("(> 500.0km threshold)"), "{reason}");
    }

    #[test]
    fn order_is_geo_then_age_then_device_then_behaviour() {
        let mut c = ctx();
        c.device = Some(DeviceFingerprint {
            hash: "new".into(),
            description: None,
        });
        let origin_device = DeviceFingerprint {
            hash: "old".into(),
            description: None,
        };
        let mut view = SessionView {
            started_at: Some(NOW - 5 * 3600),
            origin_device: Some(&origin_device),
            action_count: 1_000_000,
            ..SessionView::default()
        };
        let eval = DriftEvaluator::default();
        assert!(matches!(eval.evaluate(&c, &view, NOW),
            DriftOutcome::Invalidate(r) if r.contains("session age")));
        view.started_at = Some(NOW - 60);
        assert!(matches!(eval.evaluate(&c, &view, NOW),
            DriftOutcome::Invalidate(r) if r.contains("device")));
        view.origin_device = None;
        assert!(matches!(eval.evaluate(&c, &view, NOW),
            DriftOutcome::Invalidate(r) if r.contains("rate")));
    }

    #[test]
    fn two_warnings_pass_three_refuse() {
        let mut c = ctx();
        c.ip = Some("198.51.100.9".into());
        c.current_geo = Some(geo("US", "Newark", 40.7357, -74.1724));
        let ny = geo("US", "New York", 40.7128, -74.0060);
        // 3h30m old; 7000 actions in 210 min = 33.3/min.
        let mut view = SessionView {
            started_at: Some(NOW - 3 * 3600 - 1800),
            origin_ip: Some("203.0.113.7"),
            origin_geo: Some(&ny),
            origin_device: None,
            action_count: 7000,
        };
        let DriftOutcome::Refuse(reason) = tolerant(500.0).evaluate(&c, &view, NOW) else {
            panic!("expected refuse");
        };
        assert!(
            reason.starts_with("3 drift warnings: ip changed"),
            "{reason}"
        );
        assert!(reason.contains("session age 3h30m"), "{reason}");
        assert!(reason.contains("action rate 33.3/min"), "{reason}");

        view.action_count = 10;
        let DriftOutcome::Pass { warnings } = tolerant(500.0).evaluate(&c, &view, NOW) else {
            panic!("expected pass");
        };
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("within 500.0km"));
        assert!(warnings[1].contains("session age"));
    }

    #[test]
    fn explicit_context_fields_override_the_session_view() {
        let mut c = ctx();
        c.ip = Some("10.0.0.2".into());
        c.origin_ip = Some("10.0.0.2".into());
        c.session_started_at = Some(NOW - 60);
        c.action_count = Some(2);
        let view = SessionView {
            started_at: Some(NOW - 10 * 3600),
            origin_ip: Some("10.0.0.1"),
            action_count: 1_000_000,
            ..SessionView::default()
        };
        let out = DriftEvaluator::default().evaluate(&c, &view, NOW);
        assert_eq!(out, DriftOutcome::Pass { warnings: vec![] });

        // Stateless caller: no session view at all, everything from the context.
        let mut c = ctx();
        c.ip = Some("10.0.0.2".into());
        c.origin_ip = Some("10.0.0.1".into());
        assert!(matches!(
            DriftEvaluator::default().evaluate(&c, &SessionView::default(), NOW),
            DriftOutcome::Invalidate(r) if r == "ip changed from '10.0.0.1' to '10.0.0.2'"
        ));
    }
}
