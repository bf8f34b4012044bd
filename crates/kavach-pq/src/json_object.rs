//! Structs of the shared formats read from JSON objects only. serde's derived struct
//! deserializers also read a JSON array of the fields in declaration order, which FORMATS.md
//! does not allow: a file rewritten into arrays would still verify (the signed bytes do not
//! change) while readers that expect objects see nothing, so one input would mean two things.
//! Top-level reads go through [`from_slice`] / [`from_str`]; a struct nested in another uses
//! `#[serde(deserialize_with = "crate::json_object::object")]`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};

/// Reads a `T` from a JSON object, refusing any other JSON type (an array above all).
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectOnly(PhantomData))
}

/// A `T` read by [`object`]; for containers of such structs (`Vec<Object<T>>`).
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        object(deserializer).map(Object)
    }
}

/// `serde_json::from_slice` for a struct that must be a JSON object.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = object(&mut de)?;
    de.end()?;
    Ok(value)
}

/// `serde_json::from_str` for a struct that must be a JSON object.
pub fn from_str<T: DeserializeOwned>(s: &str) -> serde_json::Result<T> {
    from_slice(s.as_bytes())
}

/// A JSON array whose every element must be a JSON object.
pub fn objects_from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<Vec<T>> {
    let items: Vec<Object<T>> = serde_json::from_slice(bytes)?;
    Ok(items.into_iter().map(|Object(t)| t).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(deserialize_with = "object")]
        inner: Inner,
        b: Vec<u8>,
    }

    #[test]
    fn objects_read_and_arrays_refused_at_every_level() {
        let ok: Outer = from_str(r#"{"inner":{"a":1},"b":[2,3]}"#).unwrap();
        assert_eq!(
            ok,
            Outer {
                inner: Inner { a: 1 },
                b: vec![2, 3]
            }
        );
        // What serde's derived reader alone accepts:
        assert_eq!(
            serde_json::from_str::<Inner>("[1]").unwrap(),
            Inner { a: 1 }
        );
        assert!(from_str::<Inner>("[1]").is_err());
        for refused in [
            r#"[[1],[2,3]]"#,
            r#"{"inner":[1],"b":[2]}"#,
            r#"[{"a":1},[2]]"#,
        ] {
            let e = from_str::<Outer>(refused).unwrap_err().to_string();
            assert!(e.contains("expected a JSON object"), "{refused}: {e}");
        }
        assert!(from_str::<Outer>(r#"{"inner":{"a":1},"b":[]} x"#).is_err());
        assert_eq!(
            objects_from_slice::<Inner>(br#"[{"a":1},{"a":2}]"#)
                .unwrap()
                .len(),
            2
        );
        assert!(objects_from_slice::<Inner>(br#"[{"a":1},[2]]"#).is_err());
    }
}
