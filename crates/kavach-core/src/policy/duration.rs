//! Durations in the policy language: a positive integer followed by one unit, `s`, `m`, `h` or
//! `d` (`30s`, `15m`, `24h`, `7d`). Nothing else: no bare numbers, no fractions, no spaces, so
//! a typo is a load error instead of a silently different window. Leading zeros are allowed
//! and change nothing (`0010s` is ten seconds).

/// The longest duration accepted (10 years): keeps every later millisecond sum far from overflow.
const MAX_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

/// Parses a duration into milliseconds. The error text describes the problem and quotes the
/// input; the caller adds the policy and key.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let shown = super::identifier::excerpt(text);
    let bad = || {
        format!("invalid duration '{shown}': expected a positive integer followed by s, m, h or d (e.g. '30s', '24h')")
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let unit_ms: u64 = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!(
            "invalid duration '{shown}': must be greater than zero"
        ));
    }
    match n.checked_mul(unit_ms) {
        Some(ms) if ms <= MAX_MS => Ok(ms),
        _ => Err(format!("invalid duration '{shown}': longer than 10 years")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn units() {
        assert_eq!(parse_duration_ms("30s").unwrap(), 30_000);
        assert_eq!(parse_duration_ms("15m").unwrap(), 900_000);
        assert_eq!(parse_duration_ms("24h").unwrap(), 86_400_000);
        assert_eq!(parse_duration_ms("7d").unwrap(), 604_800_000);
        assert_eq!(parse_duration_ms("007s").unwrap(), 7_000);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "s",
            "10",
            "10x",
            "1.5h",
            "-5m",
            "+5m",
            " 5m",
            "5m ",
            "5 m",
            "5mm",
            "h5",
            "0s",
            "0d",
            "5M",
            "5é",
            "99999999999999999999999d",
            "4000d",
        ] {
            let err = parse_duration_ms(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
    }
}
