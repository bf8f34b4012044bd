//! Serde helpers for the shared wire formats (FORMATS.md): byte strings as JSON arrays of
//! integers 0-255, and timestamps as RFC 3339 in UTC with a `Z` suffix.
//!
//! Use with `#[serde(with = "crate::json_bytes::bytes")]` and friends.

use chrono::{DateTime, SecondsFormat, Utc};

/// Render a UTC instant as RFC 3339 with `Z` and the shortest of 0/3/6/9 fractional digits
/// that is exact (chrono's `AutoSi`, which is what the other implementations write).
pub fn format_rfc3339_z(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parse RFC 3339 (any offset, normalised to UTC).
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("invalid RFC 3339 timestamp '{s}': {e}"))
}

/// `Vec<u8>` as a JSON array of integers.
pub mod bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize as a sequence of u8.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter())
    }

    /// Deserialize from a sequence of integers 0-255 (anything else is an error).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Vec::<u8>::deserialize(d)
    }
}

/// `Option<Vec<u8>>` as a JSON array of integers or `null`.
pub mod opt_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize `Some` as a sequence of u8, `None` as null.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.collect_seq(b.iter()),
            None => s.serialize_none(),
        }
    }

    /// Deserialize from a sequence of integers or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<Vec<u8>>::deserialize(d)
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
