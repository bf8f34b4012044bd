//! The one strict schema every loader goes through (`serde_json::Value` in, compiled policies
//! out). Errors always name the policy (or its position when it has no usable name) and the
//! offending key: `policy 'x': unknown condition 'idnetity_kind'`.

use serde_json::{Map, Value};

use crate::context::PrincipalKind;
use crate::error::{KavachError, Result};

use super::conditions::{Condition, RateLimit, CONDITION_KEYS};
use super::duration::parse_duration_ms;
use super::identifier;
use super::pattern::Pattern;
use super::time_window::TimeWindow;
use super::{Effect, Policy};

/// Rate limits above this are refused: the in-process store keeps `max + 1` timestamps per key.
pub const RATE_LIMIT_MAX: u64 = 1_000_000;
const DEFAULT_PRIORITY: i64 = 100;
const POLICY_KEYS: &[&str] = &["name", "effect", "conditions", "description", "priority"];

fn err(msg: String) -> KavachError {
    KavachError::PolicyParse(msg)
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `policy 'name'` when the policy has a usable name, else `policy #index`.
pub fn policy_label(index: usize, policy: &Value) -> String {
    match policy.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => format!("policy '{}'", identifier::excerpt(name)),
        _ => format!("policy #{index}"),
    }
}

/// The policy list of a document: `policies` or its alias `policy`; absent means empty.
pub fn policy_list(root: &Value) -> Result<&[Value]> {
    let map = match root {
        Value::Object(m) => m,
        other => {
            return Err(err(format!(
                "a policy set must be an object with a 'policies' array, got {}",
                type_name(other)
            )))
        }
    };
    for key in map.keys() {
        if key != "policies" && key != "policy" {
            return Err(err(format!(
                "unknown top-level key '{}' (expected 'policies' or 'policy')",
                identifier::excerpt(key)
            )));
        }
    }
    let list = match (map.get("policies"), map.get("policy")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "give either 'policies' or 'policy' at the top level, not both".into(),
            ))
        }
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => return Ok(&[]),
    };
    let key = if map.contains_key("policies") {
        "policies"
    } else {
        "policy"
    };
    match list {
        Value::Array(items) => Ok(items),
        other => Err(err(format!(
            "top-level key '{key}' must be an array of policies (TOML: [[policy]] tables), got {}",
            type_name(other)
        ))),
    }
}

/// Parses every policy in declaration order (`order` = position) and rejects duplicate names.
pub fn parse_policies(root: &Value) -> Result<Vec<Policy>> {
    let mut compiler = PolicyCompiler::default();
    for item in policy_list(root)? {
        compiler.push(item);
    }
    compiler.finish()
}

/// Compiles a document's policies one at a time, in declaration order, so a loader that reads
/// a document piece by piece (`strict_json::parse_streaming`) can drop each policy's `Value`
/// as soon as it is compiled: a JSON policy set then never exists twice in memory. After the
/// first invalid policy the rest are not compiled; `finish` reports the same first error a
/// whole-document pass reports.
#[derive(Default)]
pub struct PolicyCompiler {
    policies: Vec<Policy>,
    /// The first invalid policy's error (its position is `policies.len()`).
    error: Option<KavachError>,
}

impl PolicyCompiler {
    /// Compiles the next policy of the list.
    pub fn push(&mut self, item: &Value) {
        if self.error.is_some() {
            return;
        }
        match parse_policy(self.policies.len(), item) {
            Ok(policy) => self.policies.push(policy),
            Err(e) => self.error = Some(e),
        }
    }

    /// The policies in declaration order, or the first problem in that order: a duplicate name
    /// (named at the second of the two) or an invalid policy.
    pub fn finish(self) -> Result<Vec<Policy>> {
        let mut seen: ahash::AHashMap<&str, usize> =
            ahash::AHashMap::with_capacity(self.policies.len());
        for (i, policy) in self.policies.iter().enumerate() {
            if let Some(first) = seen.insert(policy.name.as_str(), i) {
                return Err(err(format!(
                    "policy '{}': duplicate policy name (policies #{first} and #{i})",
                    policy.name
                )));
            }
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.policies),
        }
    }
}

fn parse_policy(index: usize, item: &Value) -> Result<Policy> {
    let label = policy_label(index, item);
    let Value::Object(map) = item else {
        return Err(err(format!(
            "{label}: must be an object (TOML: a [[policy]] table), got {}",
            type_name(item)
        )));
    };
    for key in map.keys() {
        if !POLICY_KEYS.contains(&key.as_str()) {
            return Err(err(format!(
                "{label}: unknown key '{}' (expected one of {})",
                identifier::excerpt(key),
                POLICY_KEYS.join(", ")
            )));
        }
    }
    let name = match map.get("name") {
        None => return Err(err(format!("{label}: missing key 'name'"))),
        Some(Value::String(s)) if !s.is_empty() => {
            if let Some(problem) = identifier::name_problem(s) {
                return Err(err(format!("{label}: key 'name' {problem}")));
            }
            // Held in NFC like every name: two spellings of one name are one name, so a
            // duplicate cannot hide behind a decomposed spelling (`finish`).
            identifier::nfc(s).into_owned()
        }
        Some(other) => {
            return Err(err(format!(
                "{label}: key 'name' must be a non-empty string, got {}",
                describe(other)
            )))
        }
    };
    let effect = match map.get("effect") {
        None => return Err(err(format!("{label}: missing key 'effect'"))),
        Some(Value::String(s)) if s == "permit" => Effect::Permit,
        Some(Value::String(s)) if s == "refuse" => Effect::Refuse,
        Some(other) => {
            return Err(err(format!(
                "{label}: key 'effect' must be 'permit' or 'refuse', got {}",
                describe(other)
            )))
        }
    };
    let description = match map.get("description") {
        None => None,
        // Quoted in refusal reasons, traces and reports: control and invisible characters
        // (an ANSI escape, a bidirectional override) are held escaped, never written raw to a
        // terminal or a log. Not clipped: it is the operator's own explanation.
        Some(Value::String(s)) => Some(kavach_text::clip(s, usize::MAX)),
        Some(other) => {
            return Err(err(format!(
                "{label}: key 'description' must be a string, got {}",
                describe(other)
            )))
        }
    };
    let priority = match map.get("priority") {
        None => DEFAULT_PRIORITY,
        Some(v) => integer(v).ok_or_else(|| {
            err(format!(
                "{label}: key 'priority' must be an integer, got {}",
                describe(v)
            ))
        })?,
    };
    let raw_conditions = match map.get("conditions") {
        None => {
            return Err(err(format!(
                "{label}: missing key 'conditions' (use [] to match every action)"
            )))
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(err(format!(
                "{label}: key 'conditions' must be an array, got {}",
                describe(other)
            )))
        }
    };
    let rate_limits = raw_conditions
        .iter()
        .filter(|c| c.get("rate_limit").is_some())
        .count();
    // In a refuse policy an exhausted limit would make the policy stop matching, so callers
    // over the limit would fall through to later (possibly permitting) policies: fail open.
    if effect == Effect::Refuse && rate_limits > 0 {
        return Err(err(format!(
            "{label}: condition 'rate_limit' is only allowed in permit policies (an exhausted limit would stop a refuse policy from refusing)"
        )));
    }
    let mut conditions = Vec::with_capacity(raw_conditions.len());
    // The windows of the policy's rate limits so far (their counters' keys, see `rate_limit`).
    let mut rate_limit_windows: Vec<u64> = Vec::new();
    for (j, raw) in raw_conditions.iter().enumerate() {
        let (key, value) = match raw {
            Value::Object(m) if m.len() == 1 => m
                .iter()
                .next()
                .ok_or_else(|| err(format!("{label}: condition #{j} must have exactly one key")))?,
            Value::Object(m) => {
                return Err(err(format!(
                    "{label}: condition #{j} must have exactly one key, got {} ({})",
                    m.len(),
                    m.keys()
                        .map(|k| format!("'{}'", identifier::excerpt(k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            other => {
                return Err(err(format!(
                    "{label}: condition #{j} must be an object like {{ action: 'name' }}, got {}",
                    type_name(other)
                )))
            }
        };
        let cond = parse_condition(key, value, &name, &mut rate_limit_windows)
            .map_err(|m| err(format!("{label}: {m}")))?;
        conditions.push(cond);
    }
    Ok(Policy {
        name,
        effect,
        conditions,
        description,
        priority,
        order: index,
    })
}

/// The error text names the condition key; the caller prefixes the policy.
fn parse_condition(
    key: &str,
    value: &Value,
    policy_name: &str,
    rate_limit_windows: &mut Vec<u64>,
) -> std::result::Result<Condition, String> {
    let c = format!("condition '{}'", identifier::excerpt(key));
    Ok(match key {
        "identity_kind" => {
            let s = non_empty_str(value).map_err(|m| format!("{c}: {m}"))?;
            Condition::IdentityKind(PrincipalKind::parse(s).ok_or_else(|| {
                format!(
                    "{c}: unknown principal kind '{}' (expected one of {})",
                    identifier::excerpt(s),
                    PrincipalKind::names()
                )
            })?)
        }
        "identity_role" => Condition::IdentityRole(name(value).map_err(|m| format!("{c}: {m}"))?),
        "identity_id" => Condition::IdentityId(name(value).map_err(|m| format!("{c}: {m}"))?),
        "action" | "resource" => {
            let s = non_empty_str(value).map_err(|m| format!("{c}: {m}"))?;
            let p = Pattern::parse(s).map_err(|m| format!("{c}: {m}"))?;
            if key == "action" {
                Condition::Action(p)
            } else {
                Condition::Resource(p)
            }
        }
        "param_max" | "param_min" => {
            let bound = if key == "param_max" { "max" } else { "min" };
            let m = object(value, &["field", bound]).map_err(|e| format!("{c}: {e}"))?;
            let field = field_name(m).map_err(|e| format!("{c}: {e}"))?;
            let n = number_key(m, bound).map_err(|e| format!("{c}: {e}"))?;
            if key == "param_max" {
                Condition::ParamMax { field, max: n }
            } else {
                Condition::ParamMin { field, min: n }
            }
        }
        "param_in" => {
            let m = object(value, &["field", "values"]).map_err(|e| format!("{c}: {e}"))?;
            let field = field_name(m).map_err(|e| format!("{c}: {e}"))?;
            let values = match m.get("values") {
                None => return Err(format!("{c}: missing key 'values'")),
                Some(Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|v| match v {
                        // In NFC, as contexts carry their values (`ActionContext::normalize`).
                        Value::String(s) => Ok(identifier::nfc(s).into_owned()),
                        other => Err(format!(
                            "{c}: key 'values' must hold only strings, got {}",
                            describe(other)
                        )),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "{c}: key 'values' must be a non-empty array of strings, got {}",
                        describe(other)
                    ))
                }
            };
            Condition::ParamIn { field, values }
        }
        "rate_limit" => {
            let m = object(value, &["max", "window"]).map_err(|e| format!("{c}: {e}"))?;
            let max = match m.get("max") {
                None => return Err(format!("{c}: missing key 'max'")),
                Some(v) => match integer(v) {
                    // 0 switches the action off: an exhausted limit from the first call on.
                    Some(n) if (0..=RATE_LIMIT_MAX as i64).contains(&n) => n.unsigned_abs(),
                    _ => {
                        return Err(format!(
                            "{c}: key 'max' must be an integer from 0 to {RATE_LIMIT_MAX}, got {}",
                            describe(v)
                        ))
                    }
                },
            };
            let window_text = match m.get("window") {
                None => return Err(format!("{c}: missing key 'window'")),
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(format!(
                        "{c}: key 'window' must be a duration string like '24h', got {}",
                        describe(other)
                    ))
                }
            };
            let window_ms =
                parse_duration_ms(&window_text).map_err(|e| format!("{c}: key 'window': {e}"))?;
            // A limit counts under its policy's name and its window, never its position: adding,
            // removing or reordering a policy's other limits on reload keeps its count (and
            // `24h` and `1d` are one window). Only limits of equal windows take an ordinal. The
            // length prefix keeps a policy named `a@1` apart from a limit of policy `a`.
            let same_window = rate_limit_windows
                .iter()
                .filter(|w| **w == window_ms)
                .count();
            rate_limit_windows.push(window_ms);
            let suffix = if same_window == 0 {
                format!("@{window_ms}")
            } else {
                format!("@{window_ms}#{same_window}")
            };
            Condition::RateLimit(RateLimit {
                max,
                window_ms,
                window_text,
                key_prefix: format!("rl:{}:{policy_name}{suffix}:", policy_name.len()),
            })
        }
        "session_age_max" => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => {
                    return Err(format!(
                        "{c}: must be a duration string like '8h', got {}",
                        describe(other)
                    ))
                }
            };
            let max_ms = parse_duration_ms(&text).map_err(|e| format!("{c}: {e}"))?;
            Condition::SessionAgeMax { max_ms, text }
        }
        "time_window" => {
            let s = non_empty_str(value).map_err(|m| format!("{c}: {m}"))?;
            Condition::TimeWindow(TimeWindow::parse(s).map_err(|m| format!("{c}: {m}"))?)
        }
        unknown => {
            return Err(format!(
                "unknown condition '{}' (expected one of {})",
                identifier::excerpt(unknown),
                CONDITION_KEYS.join(", ")
            ))
        }
    })
}

/// A name a condition compares with the context (`identity_role`, `identity_id`): the rules of
/// [`identifier`], held in NFC.
fn name(v: &Value) -> std::result::Result<String, String> {
    let s = non_empty_str(v)?;
    if let Some(problem) = identifier::name_problem(s) {
        return Err(problem);
    }
    Ok(identifier::nfc(s).into_owned())
}

/// A short description of a wrong value for error messages: its type, and strings quoted
/// (an excerpt of a long one).
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", identifier::excerpt(s)),
        Value::Number(n) => format!("number {n}"),
        other => type_name(other).to_owned(),
    }
}

fn non_empty_str(v: &Value) -> std::result::Result<&str, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s),
        other => Err(format!(
            "must be a non-empty string, got {}",
            describe(other)
        )),
    }
}

/// An object whose keys are all in `allowed`.
fn object<'a>(
    v: &'a Value,
    allowed: &[&str],
) -> std::result::Result<&'a Map<String, Value>, String> {
    let Value::Object(m) = v else {
        return Err(format!(
            "must be an object with keys {}, got {}",
            allowed.join(", "),
            describe(v)
        ));
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown key '{}' (expected {})",
            identifier::excerpt(k),
            allowed.join(", ")
        ));
    }
    Ok(m)
}

fn field_name(m: &Map<String, Value>) -> std::result::Result<String, String> {
    match m.get("field") {
        None => Err("missing key 'field'".into()),
        // A name like any other (a field no context's param name can equal would make its
        // condition silently never hold), in NFC as contexts carry it (`normalize`).
        Some(Value::String(s)) if !s.is_empty() => match identifier::name_problem(s) {
            Some(problem) => Err(format!("key 'field' {problem}")),
            None => Ok(identifier::nfc(s).into_owned()),
        },
        Some(other) => Err(format!(
            "key 'field' must be a non-empty string, got {}",
            describe(other)
        )),
    }
}

fn number_key(m: &Map<String, Value>, key: &str) -> std::result::Result<f64, String> {
    match m.get(key) {
        None => Err(format!("missing key '{key}'")),
        Some(v) => v
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("key '{key}' must be a finite number, got {}", describe(v))),
    }
}

/// An integer: JSON/TOML integers, or a float with no fractional part (JS numbers arrive as
/// floats) within the exactly representable range.
fn integer(v: &Value) -> Option<i64> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT).then_some(f as i64)
}
