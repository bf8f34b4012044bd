//! A JS policy object → `serde_json::Value`, for `Gate.fromObject` / `reloadObject`.
//! napi's generic serde conversion reports `NaN` or a function as "failed to convert js number"
//! without saying where; this walk names the policy and the key instead, refuses a string or a
//! key with a lone surrogate (which the UTF-8 conversion would read as U+FFFD), and treats
//! `undefined` properties as absent (as `JSON.stringify` does). The policy list's elements are
//! handed to the compiler one by one as they are converted (`to_value_streaming`). Load time
//! only, never on the hot path.

use kavach_core::policy::identifier::excerpt;
use napi::bindgen_prelude::{JsObjectValue, Object, Unknown};
use napi::{Env, JsValue, ValueType};
use serde_json::{Map, Number, Value};

use crate::context::{js_text, LoneSurrogate};
use crate::error::{to_js, JsErr, Result};

const CODE: &str = "POLICY_PARSE";
/// Deeper than any policy needs; stops cyclic objects from recursing forever.
const MAX_DEPTH: usize = 16;

/// Converts a policy document, handing each element of its top-level `policies` / `policy`
/// array to `each` as soon as it is converted (then dropping it), and returns the rest of the
/// document with those arrays left empty (`PolicySet::from_streamed`): the policies never
/// exist twice in native memory.
pub fn to_value_streaming(v: Unknown<'_>, each: &mut dyn FnMut(&Value)) -> Result<Value> {
    let mut path = Vec::new();
    convert(v, &mut path, None, Some(each))
}

/// `policy 'name'` for errors inside policies[i], else the top level.
fn label(path: &[String], policy_name: Option<&str>) -> String {
    // The policy's name and keys are the author's text, not yet checked by the name rules:
    // excerpted (bounded, control and invisible characters escaped) as every message quotes
    // caller text.
    let key = excerpt(path.last().map_or("<root>", String::as_str));
    match policy_name {
        Some(n) => format!("policy '{}': key '{key}'", excerpt(n)),
        // Only under the policy lists is the second step an index; elsewhere (an unknown
        // top-level key) the whole path says where.
        None if path.len() >= 2 && matches!(path[0].as_str(), "policies" | "policy") => {
            format!("policy #{}: key '{key}'", path[1])
        }
        None => format!("key '{}'", excerpt(&path.join("."))),
    }
}

/// `each`, given at the root, takes the policy lists' elements (see `to_value_streaming`).
fn convert<'f>(
    v: Unknown<'_>,
    path: &mut Vec<String>,
    policy: Option<&str>,
    mut each: Option<&mut (dyn FnMut(&Value) + 'f)>,
) -> Result<Value> {
    let fail =
        |path: &[String], what: String| to_js(CODE, format!("{} {what}", label(path, policy)));
    if path.len() > MAX_DEPTH {
        return Err(fail(path, "is nested too deeply (a cycle?)".into()));
    }
    let ty = v.get_type().map_err(|e| fail(path, e.reason))?;
    Ok(match ty {
        ValueType::Null => Value::Null,
        ValueType::Boolean => Value::Bool(v.coerce_to_bool().map_err(|e| fail(path, e.reason))?),
        ValueType::Number => {
            let n = v
                .coerce_to_number()
                .and_then(|n| n.get_double())
                .map_err(|e| fail(path, e.reason))?;
            // Integral values stay integers so `priority: 3` and TOML's `3` read the same.
            let num = if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Some(Number::from(n as i64))
            } else {
                Number::from_f64(n)
            };
            Value::Number(
                num.ok_or_else(|| fail(path, format!("must be a finite number, got {n}")))?,
            )
        }
        ValueType::String => {
            let (text, lone) = text_of(v).map_err(|e| fail(path, e.reason))?;
            if let Some(lone) = lone {
                return Err(lone_surrogate(path, policy, lone));
            }
            Value::String(text)
        }
        ValueType::Object => {
            let obj: Object<'_> = v.coerce_to_object().map_err(|e| fail(path, e.reason))?;
            if v.is_array().map_err(|e| fail(path, e.reason))? {
                let len = obj.get_array_length().map_err(|e| fail(path, e.reason))?;
                // Not reserved from `length`: a sparse array may claim 2^32 - 1 elements, and
                // the first hole (undefined) ends the conversion with an error anyway.
                let mut items = Vec::with_capacity((len as usize).min(1024));
                // Each element in a handle scope of its own: the JS values its conversion
                // creates (property-name arrays, strings) are released element by element, not
                // held until the whole document is converted. Only Rust values leave the scope.
                let env = Env::from(obj.value().env);
                for i in 0..len {
                    let converted = env
                        .run_in_scope(|| {
                            let item: Unknown<'_> = obj.get_element(i)?;
                            path.push(i.to_string());
                            // Entering policies[i]: errors below name the policy.
                            let name = (path.len() == 2).then(|| policy_name(item)).flatten();
                            let converted = convert(item, path, name.as_deref().or(policy), None);
                            path.pop();
                            Ok(converted)
                        })
                        .map_err(|e| fail(path, e.reason))??;
                    match each.as_deref_mut() {
                        // A policy list (path `policies`), not a root that is an array.
                        Some(each) if path.len() == 1 => each(&converted),
                        _ => items.push(converted),
                    }
                }
                Value::Array(items)
            } else {
                let keys = obj.get_property_names().map_err(|e| fail(path, e.reason))?;
                let len = keys.get_array_length().map_err(|e| fail(path, e.reason))?;
                let mut map = Map::new();
                for i in 0..len {
                    let (key, lone) = keys
                        .get_element(i)
                        .and_then(text_of)
                        .map_err(|e| fail(path, e.reason))?;
                    if let Some(lone) = lone {
                        // Named by the key itself, U+FFFD in the surrogate's place.
                        path.push(key);
                        return Err(lone_surrogate(path, policy, lone));
                    }
                    let value: Unknown<'_> = obj
                        .get_named_property(&key)
                        .map_err(|e| fail(path, e.reason))?;
                    if matches!(value.get_type(), Ok(ValueType::Undefined)) {
                        continue;
                    }
                    // Only the root's policy lists are streamed.
                    let lists = match each.as_deref_mut() {
                        Some(each) if path.is_empty() && (key == "policies" || key == "policy") => {
                            Some(each)
                        }
                        _ => None,
                    };
                    path.push(key.clone());
                    let converted = convert(value, path, policy, lists)?;
                    path.pop();
                    map.insert(key, converted);
                }
                Value::Object(map)
            }
        }
        other => {
            return Err(fail(
                path,
                format!("must be a string, number, boolean, array or object, got {other:?}")
                    .to_lowercase(),
            ))
        }
    })
}

/// A string of the document (a value or a property name), and its first lone surrogate.
fn text_of(v: Unknown<'_>) -> napi::Result<(String, Option<LoneSurrogate>)> {
    v.coerce_to_string().and_then(js_text)
}

/// The refusal of a string with a lone surrogate: read as UTF-8 it would be U+FFFD, and a
/// `param_in` value of `'acme\u{D800}'` would then stand for `'acme\u{FFFD}'`. The same set as
/// JSON is refused too (`JSON.stringify` writes the surrogate as an escape, which the JSON
/// parser refuses).
fn lone_surrogate(path: &[String], policy: Option<&str>, lone: LoneSurrogate) -> JsErr {
    to_js(CODE, lone.problem(&label(path, policy)))
}

fn policy_name(item: Unknown<'_>) -> Option<String> {
    if !matches!(item.get_type(), Ok(ValueType::Object)) {
        return None;
    }
    let obj = item.coerce_to_object().ok()?;
    let name: Unknown<'_> = obj.get_named_property("name").ok()?;
    if !matches!(name.get_type(), Ok(ValueType::String)) {
        return None;
    }
    name.coerce_to_string()
        .and_then(|s| s.into_utf8())
        .and_then(|s| s.into_owned())
        .ok()
        .filter(|s| !s.is_empty())
}
