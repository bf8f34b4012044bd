//! Serde helpers for the shared wire formats (FORMATS.md): byte strings as JSON arrays of
//! integers 0-255, and timestamps as RFC 3339 in UTC with a `Z` suffix.
//!
//! Use with `#[serde(with = "crate::json_bytes::bytes")]` and friends.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

/// Unix seconds of 0000-01-01T00:00:00Z, the earliest time RFC 3339 can write (its year has
/// four digits).
pub const RFC3339_MIN_UNIX: i64 = -62_167_219_200;

/// Unix seconds of 9999-12-31T23:59:59Z, the last whole second RFC 3339 can write.
pub const RFC3339_MAX_UNIX: i64 = 253_402_300_799;

/// `Err` naming `what` and the range when `t` is outside the years 0000 to 9999. chrono
/// writes other years with a sign and five or more digits (`+10240-…`, `-1199-…`), which is
/// not RFC 3339: no reader of the shared formats, this crate's included, takes such a time
/// back, so a bundle or key pair holding one would write JSON that nothing loads.
pub fn check_rfc3339_range(what: &str, t: &DateTime<Utc>) -> Result<(), String> {
    if (0..=9999).contains(&t.year()) {
        return Ok(());
    }
    Err(format!(
        "{what} {} is outside the years 0000 to 9999 (unix seconds {RFC3339_MIN_UNIX} to \
         {RFC3339_MAX_UNIX}), the times RFC 3339 can write",
        format_rfc3339_z(t)
    ))
}

/// Render a UTC instant as RFC 3339 with `Z` and the shortest of 0/3/6/9 fractional digits
/// that is exact (chrono's `AutoSi`, which is what the other implementations write).
pub fn format_rfc3339_z(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parse RFC 3339 (any offset, normalised to UTC).
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "invalid RFC 3339 timestamp '{}': {e}",
                crate::excerpt::excerpt(s)
            )
        })
}

/// Parse the text of a JSON array of integers 0-255 (`[1, 2,3]`, any JSON whitespace).
/// The text comes from serde_json as a validated JSON value, so only the shape is checked
/// here: anything but plain integers 0-255 (strings, `null`, `1.0`, `1e2`, `-0`, nested
/// arrays) is an error. Why by hand: serde_json's per-element visitor costs ~19 ns per
/// integer, so decoding a 3309-byte ML-DSA signature dominated a verify; this loop is a
/// few ns per integer.
pub fn parse_byte_array(text: &str) -> Result<Vec<u8>, String> {
    let b = text.as_bytes();
    let is_ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && is_ws(b[*i]) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if b.get(i) != Some(&b'[') {
        return Err("expected an array of integers 0-255".into());
    }
    i += 1;
    // Digits per element are at most 3 and commas 1, so len/2 bounds the count.
    let mut out = Vec::with_capacity(b.len() / 2);
    skip_ws(&mut i);
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            let start = i;
            let mut v: u32 = 0;
            while i < b.len() && b[i].is_ascii_digit() && i - start < 4 {
                v = v * 10 + u32::from(b[i] - b'0');
                i += 1;
            }
            let ends_here = matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']'));
            let byte = u8::try_from(v).ok().filter(|_| i > start && ends_here);
            let Some(byte) = byte else {
                return Err(format!("element {} is not an integer 0-255", out.len()));
            };
            out.push(byte);
            skip_ws(&mut i);
            match b.get(i) {
                Some(b',') => {
                    i += 1;
                    skip_ws(&mut i);
                }
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => {
                    return Err(format!(
                        "element {} is not followed by , or ]",
                        out.len() - 1
                    ))
                }
            }
        }
    }
    skip_ws(&mut i);
    if i != b.len() {
        return Err("unexpected text after the byte array".into());
    }
    Ok(out)
}

/// `Vec<u8>` as a JSON array of integers.
pub mod bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use serde_json::value::RawValue;

    /// Serialize as a sequence of u8.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter())
    }

    /// Deserialize from a sequence of integers 0-255 (anything else is an error). Every
    /// shared format is parsed from a borrowed buffer (`serde_json::from_slice`), so the
    /// array's raw text is borrowed and decoded by [`super::parse_byte_array`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        super::parse_byte_array(raw.get()).map_err(D::Error::custom)
    }
}

/// `Option<Vec<u8>>` as a JSON array of integers or `null`.
pub mod opt_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use serde_json::value::RawValue;

    /// Serialize `Some` as a sequence of u8, `None` as null.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.collect_seq(b.iter()),
            None => s.serialize_none(),
        }
    }

    /// Deserialize from a sequence of integers or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        if raw.get().trim() == "null" {
            return Ok(None);
        }
        super::parse_byte_array(raw.get())
            .map(Some)
            .map_err(D::Error::custom)
    }
}

/// `DateTime<Utc>` as an RFC 3339 string with `Z`.
pub mod rfc3339_z {
    use chrono::{DateTime, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Serialize as RFC 3339 `Z`.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339_z(t))
    }

    /// Deserialize from RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s).map_err(D::Error::custom)
    }
}

/// `Option<DateTime<Utc>>` as an RFC 3339 string with `Z`, or `null`.
pub mod opt_rfc3339_z {
    use chrono::{DateTime, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Serialize `Some` as RFC 3339 `Z`, `None` as null.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_rfc3339_z(t)),
            None => s.serialize_none(),
        }
    }

    /// Deserialize from RFC 3339 or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => super::parse_rfc3339(&s).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc3339_range_is_years_0000_to_9999_and_its_bounds_round_trip() {
        let at = |s: i64, n: u32| DateTime::from_timestamp(s, n).unwrap();
        for t in [
            at(RFC3339_MIN_UNIX, 0),
            at(0, 0),
            at(RFC3339_MAX_UNIX, 999_999_999),
        ] {
            check_rfc3339_range("t", &t).unwrap();
            assert_eq!(parse_rfc3339(&format_rfc3339_z(&t)).unwrap(), t);
        }
        assert_eq!(
            format_rfc3339_z(&at(RFC3339_MIN_UNIX, 0)),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339_z(&at(RFC3339_MAX_UNIX, 0)),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            check_rfc3339_range("expires_at", &at(RFC3339_MAX_UNIX + 1, 0)).unwrap_err(),
            "expires_at +10000-01-01T00:00:00Z is outside the years 0000 to 9999 (unix seconds \
             -62167219200 to 253402300799), the times RFC 3339 can write"
        );
        let before = at(RFC3339_MIN_UNIX - 1, 0);
        assert!(check_rfc3339_range("created_at", &before)
            .unwrap_err()
            .starts_with("created_at -0001-12-31T23:59:59Z is outside the years 0000 to 9999"));
        // What chrono writes outside the range is nothing a reader takes back.
        assert!(parse_rfc3339(&format_rfc3339_z(&before)).is_err());
    }

    #[test]
    fn byte_arrays_in_any_json_spacing() {
        assert_eq!(parse_byte_array("[]").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_byte_array(" [ ] ").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_byte_array("[0,1,255]").unwrap(), vec![0, 1, 255]);
        assert_eq!(
            parse_byte_array("[ 7 ,\n\t8\r, 9 ]").unwrap(),
            vec![7, 8, 9]
        );
    }

    #[test]
    fn anything_but_integers_0_to_255_is_refused() {
        for bad in [
            "[256]", "[1000]", "[-1]", "[-0]", "[1.0]", "[1e2]", "[\"1\"]", "[null]", "[[1]]",
            "[1,]", "[,1]", "[1 2]", "null", "{}", "[1]x", "[", "[00012]",
        ] {
            let err = parse_byte_array(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
        assert_eq!(
            parse_byte_array("[1,2,300]").unwrap_err(),
            "element 2 is not an integer 0-255"
        );
    }

    #[test]
    fn every_byte_value_round_trips_through_serde() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "crate::json_bytes::bytes")]
            a: Vec<u8>,
            #[serde(with = "crate::json_bytes::opt_bytes")]
            b: Option<Vec<u8>>,
        }
        let t = T {
            a: (0..=255).collect(),
            b: None,
        };
        let json = serde_json::to_vec(&t).unwrap();
        assert_eq!(serde_json::from_slice::<T>(&json).unwrap(), t);
        let t2: T = serde_json::from_str(r#"{"a":[ 1 , 2 ],"b":[3]}"#).unwrap();
        assert_eq!((t2.a, t2.b), (vec![1, 2], Some(vec![3])));
        let err = serde_json::from_str::<T>(r#"{"a":[1,2.5],"b":null}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("element 1 is not an integer 0-255"),
            "{err}"
        );
    }
}
