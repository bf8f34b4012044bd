//! JSON text into `serde_json::Value`, rejecting duplicate keys (plain serde_json keeps the
//! last one silently, so `{"effect":"refuse","effect":"permit"}` would permit).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses a policy document, handing each element of its top-level `policies` / `policy`
/// array to `each` as soon as it is read, and returns the document with those arrays left
/// empty (for the schema's top-level checks). One policy's `Value` is alive at a time instead
/// of the whole document's, which as a `Value` is about 25 times the size of its text. A
/// document that is not an object is parsed whole (the schema then names its type).
pub fn parse_streaming(text: &str, each: &mut dyn FnMut(&Value)) -> Result<Value, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        finish(de, Root { each })
    } else {
        finish(de, Strict)
    }
}

fn finish<'de, S: DeserializeSeed<'de, Value = Value>>(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
    seed: S,
) -> Result<Value, String> {
    let value = seed.deserialize(&mut *de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("non-finite number {v}")))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        object(map, |_, map| map.next_value_seed(Strict))
    }
}

/// An object's entries with duplicate keys rejected; `value` reads the value of each key.
fn object<'de, A: MapAccess<'de>>(
    mut map: A,
    mut value: impl FnMut(&str, &mut A) -> Result<Value, A::Error>,
) -> Result<Value, A::Error> {
    let mut out = Map::new();
    while let Some(key) = map.next_key::<String>()? {
        if out.contains_key(&key) {
            return Err(A::Error::custom(format!("duplicate key '{key}'")));
        }
        let v = value(&key, &mut map)?;
        out.insert(key, v);
    }
    Ok(Value::Object(out))
}

/// The root object of [`parse_streaming`]: its policy lists go to `each`, every other key is
/// kept (duplicate keys rejected, as [`Strict`] does).
struct Root<'a> {
    each: &'a mut dyn FnMut(&Value),
}

impl<'de> DeserializeSeed<'de> for Root<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let each = self.each;
        object(map, |key, map| {
            if key == "policies" || key == "policy" {
                map.next_value_seed(List { each: &mut *each })
            } else {
                map.next_value_seed(Strict)
            }
        })
    }
}

/// A top-level policy list: an array's elements go to `each` (an empty array stands for it);
/// anything else is kept whole for the schema to name.
struct List<'a> {
    each: &'a mut dyn FnMut(&Value),
}

impl<'de> DeserializeSeed<'de> for List<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for List<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Strict.expecting(f)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while let Some(item) = seq.next_element_seed(Strict)? {
            (self.each)(&item);
        }
        Ok(Value::Array(Vec::new()))
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Strict.visit_bool(v)
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Strict.visit_i64(v)
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Strict.visit_u64(v)
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        Strict.visit_f64(v)
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Strict.visit_str(v)
    }
    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Strict.visit_unit()
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        Strict.visit_map(map)
    }
}
