//! Behaviour drift: permitted actions per minute of session age. A hijacked session is
//! typically driven by a script far faster than the person who opened it.

use super::Finding;

/// Above this many actions per minute: violation.
pub const MAX_ACTIONS_PER_MINUTE: f64 = 100.0;
/// Above this many actions per minute: warning.
pub const WARN_ACTIONS_PER_MINUTE: f64 = 30.0;

/// `age_secs` is the session age; `None` (start unknown) and anything below one minute count
/// as one minute, the most conservative reading (the highest rate).
pub fn check(action_count: u64, age_secs: Option<i64>) -> Finding {
    if action_count == 0 {
        return Finding::None;
    }
    let minutes = (age_secs.unwrap_or(0).max(0) as f64 / 60.0).max(1.0);
    let rate = action_count as f64 / minutes;
    let detail = format!("{action_count} actions in {minutes:.1} min");
    if rate > MAX_ACTIONS_PER_MINUTE {
        Finding::Violation(format!(
            "action rate {rate:.1}/min ({detail}) exceeds {MAX_ACTIONS_PER_MINUTE:.0}/min"
        ))
    } else if rate > WARN_ACTIONS_PER_MINUTE {
        Finding::Warning(format!(
            "action rate {rate:.1}/min ({detail}) is above {WARN_ACTIONS_PER_MINUTE:.0}/min"
        ))
    } else {
        Finding::None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn slow_session_does_not_fire() {
        assert_eq!(check(0, Some(0)), Finding::None);
        assert_eq!(check(10, Some(600)), Finding::None);
        assert_eq!(check(300, Some(3600)), Finding::None);
    }

    #[test]
    fn exactly_thirty_per_minute_does_not_fire_thirty_one_warns() {
        assert_eq!(check(30, Some(60)), Finding::None);
        assert_eq!(check(300, Some(600)), Finding::None);
        assert_eq!(
            check(31, Some(60)),
            Finding::Warning("action rate 31.0/min (31 actions in 1.0 min) is above 30/min".into())
        );
    }

    #[test]
    fn exactly_hundred_per_minute_warns_hundred_and_one_is_a_violation() {
        assert!(matches!(check(100, Some(60)), Finding::Warning(_)));
        assert!(matches!(check(1000, Some(600)), Finding::Warning(_)));
        assert_eq!(
            check(101, Some(60)),
            Finding::Violation(
                "action rate 101.0/min (101 actions in 1.0 min) exceeds 100/min".into()
            )
        );
    }

    #[test]
    fn age_below_one_minute_counts_as_one_minute() {
        // 150 actions ten seconds in: 150/min, not 900/min, and still a violation.
        let Finding::Violation(reason) = check(150, Some(10)) else {
            panic!("expected violation");
        };
        assert!(reason.contains("rate 150.0/min"), "{reason}");
        // 30 actions in the first second: 30/min over the one-minute floor, no warning.
        assert_eq!(check(30, Some(1)), Finding::None);
        assert_eq!(check(30, Some(-5)), Finding::None);
    }

    #[test]
    fn unknown_start_uses_the_one_minute_floor() {
        assert!(matches!(check(150, None), Finding::Violation(_)));
        assert_eq!(check(5, None), Finding::None);
    }

    #[test]
    fn fractional_minutes_are_used() {
        // 90 s = 1.5 min: 150 actions is exactly 100/min (warning), 151 is over.
        assert!(matches!(check(150, Some(90)), Finding::Warning(_)));
        assert!(matches!(check(151, Some(90)), Finding::Violation(_)));
    }
}
