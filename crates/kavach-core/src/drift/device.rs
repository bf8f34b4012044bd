//! Device drift: the session's origin device fingerprint and the current one are both known
//! and differ. Always a violation: a session does not change hardware mid-flight.

use kavach_text::excerpt;

use crate::context::DeviceFingerprint;

use super::Finding;

pub fn check(origin: Option<&DeviceFingerprint>, current: Option<&DeviceFingerprint>) -> Finding {
    let (Some(origin), Some(current)) = (origin, current) else {
        return Finding::None;
    };
    if origin.hash == current.hash {
        return Finding::None;
    }
    Finding::Violation(format!(
        "device changed from {} to {}",
        describe(origin),
        describe(current)
    ))
}

/// `'ab12' (Chrome on macOS)`. Both parts come from the caller, so each is an excerpt.
fn describe(device: &DeviceFingerprint) -> String {
    match device.description.as_deref().filter(|d| !d.is_empty()) {
        Some(desc) => format!("'{}' ({})", excerpt(&device.hash), excerpt(desc)),
        None => format!("'{}'", excerpt(&device.hash)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn fp(hash: &str, description: Option<&str>) -> DeviceFingerprint {
        DeviceFingerprint {
            hash: hash.into(),
            description: description.map(Into::into),
        }
    }

    #[test]
    fn different_fingerprints_are_a_violation() {
        let (a, b) = (fp("a1b2", Some("Chrome on macOS")), fp("ffee", None));
        assert_eq!(
            check(Some(&a), Some(&b)),
            Finding::Violation("device changed from 'a1b2' (Chrome on macOS) to 'ffee'".into())
        );
    }

    #[test]
    fn same_fingerprint_does_not_fire_even_if_descriptions_differ() {
        let (a, b) = (fp("a1b2", Some("Chrome")), fp("a1b2", Some("Chrome 131")));
        assert_eq!(check(Some(&a), Some(&b)), Finding::None);
    }

    #[test]
    fn unknown_side_does_not_fire() {
        let a = fp("a1b2", None);
        assert_eq!(check(None, Some(&a)), Finding::None);
        assert_eq!(check(Some(&a), None), Finding::None);
        assert_eq!(check(None, None), Finding::None);
    }
}
