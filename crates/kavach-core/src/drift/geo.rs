//! Geo/IP drift: the session moved. Strict mode (no threshold) treats any IP change as a
//! violation; tolerant mode measures the great-circle distance between origin and current geo.

use kavach_text::excerpt;

use crate::context::GeoLocation;

use super::Finding;

/// Mean Earth radius used by the haversine formula, in km.
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance in km between two (latitude, longitude) points given in degrees.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    // `min(1.0)` keeps rounding from pushing `a` past 1 (asin of > 1 is NaN).
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// The inputs the geo detector compares.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeoInput<'a> {
    pub origin_ip: Option<&'a str>,
    pub current_ip: Option<&'a str>,
    pub origin_geo: Option<&'a GeoLocation>,
    pub current_geo: Option<&'a GeoLocation>,
    /// Tolerant mode: distances up to this many km are a warning, not a violation.
    pub max_km: Option<f64>,
}

pub fn check(input: &GeoInput<'_>) -> Finding {
    // Nothing to compare unless both IPs are known; the same IP is no drift.
    let (Some(origin_ip), Some(current_ip)) = (input.origin_ip, input.current_ip) else {
        return Finding::None;
    };
    if origin_ip == current_ip {
        return Finding::None;
    }
    // The IPs, country and city come from the caller: each is quoted as an excerpt.
    let changed = format!(
        "ip changed from '{}' to '{}'",
        excerpt(origin_ip),
        excerpt(current_ip)
    );
    let Some(max_km) = input.max_km else {
        return Finding::Violation(format!("{changed}{}", describe(input.current_geo)));
    };
    let (Some(from), Some(to)) = (
        input.origin_geo.and_then(coordinates),
        input.current_geo.and_then(coordinates),
    ) else {
        // Fail closed: a threshold was asked for and the distance cannot be measured.
        let missing = match (
            input.origin_geo.and_then(coordinates),
            input.current_geo.and_then(coordinates),
        ) {
            (None, None) => "origin and current geo have",
            (None, Some(_)) => "origin geo has",
            _ => "current geo has",
        };
        return Finding::Violation(format!(
            "{changed}{}: distance unverifiable ({missing} no valid latitude/longitude \
             for the {max_km:.1}km threshold)",
            describe(input.current_geo)
        ));
    };
    let km = haversine_km(from.0, from.1, to.0, to.1);
    // Written as `km <= max_km` so a NaN threshold or distance fails closed (violation).
    if km <= max_km {
        Finding::Warning(format!(
            "{changed}{}: moved {km:.1}km (within {max_km:.1}km threshold)",
            describe(input.current_geo)
        ))
    } else {
        Finding::Violation(format!(
            "{changed}{}: moved {km:.1}km (> {max_km:.1}km threshold)",
            describe(input.current_geo)
        ))
    }
}

/// Valid (latitude, longitude) in degrees, or `None` when missing, non-finite or out of range.
fn coordinates(geo: &GeoLocation) -> Option<(f64, f64)> {
    let (lat, lon) = (geo.latitude?, geo.longitude?);
    let valid = lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon);
    valid.then_some((lat, lon))
}

/// ` (now in 'SG', 'Singapore')` when the current location is known.
fn describe(geo: Option<&GeoLocation>) -> String {
    let Some(geo) = geo else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::with_capacity(2);
    if !geo.country_code.is_empty() {
        parts.push(format!("'{}'", excerpt(&geo.country_code)));
    }
    if let Some(city) = geo.city.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("'{}'", excerpt(city)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (now in {})", parts.join(", "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn city(country: &str, name: &str, lat: f64, lon: f64) -> GeoLocation {
        GeoLocation {
            country_code: country.into(),
            region: None,
            city: Some(name.into()),
            latitude: Some(lat),
            longitude: Some(lon),
        }
    }
    fn new_york() -> GeoLocation {
        city("US", "New York", 40.7128, -74.0060)
    }
    fn newark() -> GeoLocation {
        city("US", "Newark", 40.7357, -74.1724)
    }
    fn singapore() -> GeoLocation {
        city("SG", "Singapore", 1.3521, 103.8198)
    }
    fn country_only(code: &str) -> GeoLocation {
        GeoLocation {
            country_code: code.into(),
            ..GeoLocation::default()
        }
    }

    fn input<'a>(
        origin_geo: Option<&'a GeoLocation>,
        current_geo: Option<&'a GeoLocation>,
        max_km: Option<f64>,
    ) -> GeoInput<'a> {
        GeoInput {
            origin_ip: Some("203.0.113.7"),
            current_ip: Some("198.51.100.9"),
            origin_geo,
            current_geo,
            max_km,
        }
    }

    #[test]
    fn haversine_matches_known_distances() {
        let (ny, nwk, sg) = (new_york(), newark(), singapore());
        let ny_nwk = haversine_km(
            ny.latitude.unwrap(),
            ny.longitude.unwrap(),
            nwk.latitude.unwrap(),
            nwk.longitude.unwrap(),
        );
        assert!((ny_nwk - 14.2).abs() < 0.5, "{ny_nwk}");
        let ny_sg = haversine_km(40.7128, -74.0060, 1.3521, 103.8198);
        assert!((ny_sg - 15_332.0).abs() < 20.0, "{ny_sg}");
        assert_eq!(haversine_km(1.0, 2.0, 1.0, 2.0), 0.0);
        // Antipodes: half the circumference.
        let half = haversine_km(0.0, 0.0, 0.0, 180.0);
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
        let _ = sg;
    }

    #[test]
    fn no_ips_or_one_ip_does_not_fire() {
        let none = GeoInput::default();
        assert_eq!(check(&none), Finding::None);
        let only_current = GeoInput {
            current_ip: Some("198.51.100.9"),
            ..GeoInput::default()
        };
        assert_eq!(check(&only_current), Finding::None);
        let only_origin = GeoInput {
            origin_ip: Some("198.51.100.9"),
            max_km: Some(500.0),
            ..GeoInput::default()
        };
        assert_eq!(check(&only_origin), Finding::None);
    }

    #[test]
    fn same_ip_does_not_fire() {
        let sg = singapore();
        let ny = new_york();
        let same = GeoInput {
            origin_ip: Some("203.0.113.7"),
            current_ip: Some("203.0.113.7"),
            origin_geo: Some(&ny),
            current_geo: Some(&sg),
            max_km: None,
        };
        assert_eq!(check(&same), Finding::None);
    }

    #[test]
    fn strict_ip_change_is_a_violation_naming_both_ips_and_place() {
        let sg = singapore();
        let Finding::Violation(reason) = check(&input(None, Some(&sg), None)) else {
            panic!("expected violation");
        };
        assert_eq!(
            reason,
            "ip changed from '203.0.113.7' to '198.51.100.9' (now in 'SG', 'Singapore')"
        );
        // Strict mode fires even for a short hop.
        let (ny, nwk) = (new_york(), newark());
        assert!(matches!(
            check(&input(Some(&ny), Some(&nwk), None)),
            Finding::Violation(_)
        ));
        // And without any geo.
        let Finding::Violation(reason) = check(&input(None, None, None)) else {
            panic!("expected violation");
        };
        assert_eq!(reason, "ip changed from '203.0.113.7' to '198.51.100.9'");
    }

    #[test]
    fn tolerant_new_york_to_newark_is_a_warning() {
        let (ny, nwk) = (new_york(), newark());
        let Finding::Warning(reason) = check(&input(Some(&ny), Some(&nwk), Some(500.0))) else {
            panic!("expected warning");
        };
        assert!(reason.contains("moved 14."), "{reason}");
        assert!(reason.contains("within 500.0km threshold"), "{reason}");
        assert!(reason.contains("'Newark'"), "{reason}");
    }

    #[test]
    fn tolerant_new_york_to_singapore_is_a_violation() {
        let (ny, sg) = (new_york(), singapore());
        let Finding::Violation(reason) = check(&input(Some(&ny), Some(&sg), Some(500.0))) else {
            panic!("expected violation");
        };
        let km = haversine_km(40.7128, -74.0060, 1.3521, 103.8198);
        assert!(
            reason.ends_with(&format!(": moved {km:.1}km (> 500.0km threshold)")),
            "{reason}"
        );
        assert!(reason.contains("'SG', 'Singapore'"), "{reason}");
    }

    #[test]
    fn tolerant_exactly_at_threshold_is_a_warning_and_just_past_is_a_violation() {
        let (ny, nwk) = (new_york(), newark());
        let km = haversine_km(40.7128, -74.0060, 40.7357, -74.1724);
        assert!(matches!(
            check(&input(Some(&ny), Some(&nwk), Some(km))),
            Finding::Warning(_)
        ));
        let just_below = km - 1e-9;
        assert!(matches!(
            check(&input(Some(&ny), Some(&nwk), Some(just_below))),
            Finding::Violation(_)
        ));
    }

    #[test]
    fn country_only_geo_with_a_threshold_is_unverifiable() {
        let (us, sg) = (country_only("US"), country_only("SG"));
        let Finding::Violation(reason) = check(&input(Some(&us), Some(&sg), Some(500.0))) else {
            panic!("expected violation");
        };
        assert!(reason.contains("unverifiable"), "{reason}");
        assert!(
            reason.contains("origin and current geo have no valid"),
            "{reason}"
        );
        // Only one side missing coordinates, and no geo at all: still unverifiable.
        let ny = new_york();
        let Finding::Violation(reason) = check(&input(Some(&ny), Some(&sg), Some(500.0))) else {
            panic!("expected violation");
        };
        assert!(reason.contains("(current geo has no valid"), "{reason}");
        let Finding::Violation(reason) = check(&input(None, None, Some(500.0))) else {
            panic!("expected violation");
        };
        assert!(reason.contains("unverifiable"), "{reason}");
    }

    #[test]
    fn invalid_coordinates_or_nan_threshold_fail_closed() {
        let ny = new_york();
        let mut bad = newark();
        bad.latitude = Some(f64::NAN);
        assert!(matches!(
            check(&input(Some(&ny), Some(&bad), Some(500.0))),
            Finding::Violation(r) if r.contains("unverifiable")
        ));
        bad.latitude = Some(95.0);
        assert!(matches!(
            check(&input(Some(&ny), Some(&bad), Some(500.0))),
            Finding::Violation(r) if r.contains("unverifiable")
        ));
        let nwk = newark();
        assert!(matches!(
            check(&input(Some(&ny), Some(&nwk), Some(f64::NAN))),
            Finding::Violation(_)
        ));
    }
}
