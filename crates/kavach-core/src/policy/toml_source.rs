//! TOML documents enter the one schema as `serde_json::Value`. TOML has two things JSON has
//! not: datetimes (the language never uses them, so they are rejected) and `nan`/`inf` floats
//! (rejected: they could compare in ways that permit). Errors name the policy and the key path.
//! Tables keep document order (the workspace enables toml's `preserve_order`), so of several
//! such values the one written first is reported.

use serde_json::{Map, Number, Value};

use crate::error::{KavachError, Result};
use crate::policy::identifier::excerpt;

/// Parses TOML text into the JSON value the schema reads. Only the policy lists are converted:
/// any other top-level key is refused by the schema by its name, whatever it holds, so its
/// value is not built at all. The TOML tables are dropped together once the conversion is over,
/// so the memory they free is contiguous and the heap trim after a large load gives it back
/// (freed one by one between the `Value`s being built, it would stay scattered in the heap).
pub fn toml_to_value(text: &str) -> Result<Value> {
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let mut root = Map::new();
    for (key, value) in &table {
        let converted = match (key.as_str(), value) {
            ("policy" | "policies", toml::Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let mut path = String::new();
                    let v = convert(item, &mut path).map_err(|(path, problem)| {
                        // The same label the schema would use for this policy.
                        let label = match item.get("name").and_then(toml::Value::as_str) {
                            Some(n) if !n.is_empty() => format!("policy '{}'", excerpt(n)),
                            _ => format!("policy #{i}"),
                        };
                        KavachError::PolicyParse(format!("{label}: {} {problem}", where_(&path)))
                    })?;
                    out.push(v);
                }
                Value::Array(out)
            }
            ("policy" | "policies", value) => {
                let mut path = key.clone();
                convert(value, &mut path).map_err(|(path, problem)| {
                    KavachError::PolicyParse(format!(
                        "top-level key '{}' {problem}",
                        excerpt(&path)
                    ))
                })?
            }
            // Refused by the schema by its name (`schema::policy_list`).
            (_, _) => Value::Null,
        };
        root.insert(key.clone(), converted);
    }
    Ok(Value::Object(root))
}

/// Longest parser message quoted in an error, as for every parser of the SDK.
const MESSAGE_CHARS: usize = 400;

/// `invalid TOML at line L, column C: <what is wrong>`. Built from the parser's message and
/// position rather than its display, which quotes the whole source line with a caret line under
/// it (a one-line file of megabytes would be quoted twice over, and cut to size the quote would
/// leave out what is wrong).
fn syntax_error(text: &str, e: &toml::de::Error) -> KavachError {
    let what = kavach_text::clip(e.message().trim(), MESSAGE_CHARS);
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            KavachError::PolicyParse(format!(
                "invalid TOML at line {line}, column {column}: {what}"
            ))
        }
        None => KavachError::PolicyParse(format!("invalid TOML: {what}")),
    }
}

/// `condition 'param_max': key 'max'` for condition paths (the words the schema uses), else
/// `key 'a.b'`.
fn where_(path: &str) -> String {
    // The keys are the author's text: quoted as excerpts (bounded, control characters escaped).
    let mut parts = path.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(cond), rest) if c.starts_with("conditions[") => match rest {
            Some(key) => format!("condition '{}': key '{}'", excerpt(cond), excerpt(key)),
            None => format!("condition '{}'", excerpt(cond)),
        },
        _ => format!("key '{}'", excerpt(path)),
    }
}

/// Converts one value; on failure returns the dotted path of the bad key and the problem.
fn convert(v: &toml::Value, path: &mut String) -> std::result::Result<Value, (String, String)> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Number((*i).into()),
        toml::Value::Float(f) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => return Err((path.clone(), format!("must be a finite number, got {f}"))),
        },
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => {
            return Err((
                path.clone(),
                format!("is a TOML datetime ({d}); the policy language has no datetimes (write durations like '24h' and windows like '09:00-18:00' as strings)"),
            ))
        }
        toml::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(convert(item, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        toml::Value::Table(t) => {
            let mut out = Map::new();
            for (k, item) in t {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                out.insert(k.clone(), convert(item, path)?);
                path.truncate(len);
            }
            Value::Object(out)
        }
    })
}
