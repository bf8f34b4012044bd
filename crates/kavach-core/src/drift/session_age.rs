//! Session age: long-lived sessions are the ones most worth stealing. Older than 4 h is a
//! violation; older than 75 % of that (3 h) is a warning. Both comparisons are strict.

use super::Finding;

/// Sessions older than this (seconds) are invalidated.
pub const MAX_SESSION_AGE_SECS: i64 = 4 * 3600;
/// Sessions older than this (75 % of the maximum, seconds) raise a warning.
pub const WARN_SESSION_AGE_SECS: i64 = MAX_SESSION_AGE_SECS * 3 / 4;

/// `started_at` and `now_secs` are unix seconds; an unknown start does not fire.
pub fn check(started_at: Option<i64>, now_secs: i64) -> Finding {
    let Some(started_at) = started_at else {
        return Finding::None;
    };
    let age = now_secs.saturating_sub(started_at);
    if age > MAX_SESSION_AGE_SECS {
        Finding::Violation(format!(
            "session age {} exceeds the {} maximum",
            hms(age),
            hms(MAX_SESSION_AGE_SECS)
        ))
    } else if age > WARN_SESSION_AGE_SECS {
        Finding::Warning(format!(
            "session age {} is past 75% of the {} maximum",
            hms(age),
            hms(MAX_SESSION_AGE_SECS)
        ))
    } else {
        Finding::None
    }
}

/// `4h`, `3h0m1s`, `59m`: readable ages for reasons.
fn hms(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn unknown_start_does_not_fire() {
        assert_eq!(check(None, NOW), Finding::None);
    }

    #[test]
    fn young_session_does_not_fire() {
        assert_eq!(check(Some(NOW), NOW), Finding::None);
        assert_eq!(check(Some(NOW - 3600), NOW), Finding::None);
        // A start in the future (clock skew) is not an old session.
        assert_eq!(check(Some(NOW + 600), NOW), Finding::None);
    }

    #[test]
    fn exactly_three_hours_is_not_a_warning_one_second_more_is() {
        assert_eq!(check(Some(NOW - 3 * 3600), NOW), Finding::None);
        assert_eq!(
            check(Some(NOW - 3 * 3600 - 1), NOW),
            Finding::Warning("session age 3h0m1s is past 75% of the 4h maximum".into())
        );
    }

    #[test]
    fn exactly_four_hours_is_a_warning_one_second_more_is_a_violation() {
        assert!(matches!(
            check(Some(NOW - 4 * 3600), NOW),
            Finding::Warning(_)
        ));
        assert_eq!(
            check(Some(NOW - 4 * 3600 - 1), NOW),
            Finding::Violation("session age 4h0m1s exceeds the 4h maximum".into())
        );
        let Finding::Violation(reason) = check(Some(NOW - 10 * 3600 - 90), NOW) else {
            panic!("expected violation");
        };
        assert_eq!(reason, "session age 10h1m30s exceeds the 4h maximum");
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert!(matches!(
            check(Some(i64::MIN), i64::MAX),
            Finding::Violation(_)
        ));
        assert_eq!(check(Some(i64::MAX), i64::MIN), Finding::None);
    }

    #[test]
    fn hms_formats() {
        assert_eq!(hms(0), "0s");
        assert_eq!(hms(59), "59s");
        assert_eq!(hms(60), "1m");
        assert_eq!(hms(61), "1m1s");
        assert_eq!(hms(3600), "1h");
        assert_eq!(hms(3660), "1h1m");
    }
}
