//! `EvaluateOptions`: the typed object `evaluate()` receives (one boundary crossing, no JSON),
//! converted into `kavach_core::ActionContext`. Wrong values are `INVALID_ARGUMENT` errors that
//! name the field or param; nothing is coerced into something that could permit.

use std::collections::HashMap;

use kavach_core::{ActionContext, DeviceFingerprint, GeoLocation, ParamValue, PrincipalKind};
use napi::bindgen_prelude::Unknown;
use napi::{JsValue, ValueType};
use napi_derive::napi;

use crate::error::{invalid_argument, Result};

#[napi(object, object_to_js = false)]
pub struct GeoLocationInput {
    /// ISO 3166-1 alpha-2, e.g. `IN`.
    pub country_code: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[napi(object, object_to_js = false)]
pub struct DeviceInput {
    pub hash: String,
    pub description: Option<String>,
}

/// Everything the gate needs to know about one attempted action.
#[napi(object, object_to_js = false)]
pub struct EvaluateOptions<'env> {
    pub principal_id: String,
    #[napi(ts_type = "'user' | 'agent' | 'service' | 'scheduler' | 'external'")]
    pub principal_kind: String,
    pub action_name: String,
    pub roles: Option<Vec<String>>,
    pub resource: Option<String>,
    /// Numbers feed param_max/param_min and invariants, strings feed param_in. Anything else
    /// (booleans, objects, NaN, ±Infinity) is rejected naming the param.
    #[napi(ts_type = "Record<string, number | string>")]
    pub params: Option<HashMap<String, Unknown<'env>>>,
    pub ip: Option<String>,
    /// Opaque; when given, the gate keeps session state.
    pub session_id: Option<String>,
    /// IP at session start (else learned on first sight).
    pub origin_ip: Option<String>,
    pub current_geo: Option<GeoLocationInput>,
    pub origin_geo: Option<GeoLocationInput>,
    pub device: Option<DeviceInput>,
    pub origin_device: Option<DeviceInput>,
    /// Unix seconds (else learned on first sight).
    pub session_started_at: Option<f64>,
    /// Else counted by the gate.
    pub action_count: Option<f64>,
}

/// The optional fields of `EvaluateOptions` other than roles and params: the hot path
/// (`Gate.evaluateParts`) passes the common fields positionally and this object only when
/// one of these is set, so a typical call reads no absent properties.
#[napi(object, object_to_js = false)]
pub struct ContextExtras {
    pub resource: Option<String>,
    pub ip: Option<String>,
    pub session_id: Option<String>,
    pub origin_ip: Option<String>,
    pub current_geo: Option<GeoLocationInput>,
    pub origin_geo: Option<GeoLocationInput>,
    pub device: Option<DeviceInput>,
    pub origin_device: Option<DeviceInput>,
    pub session_started_at: Option<f64>,
    pub action_count: Option<f64>,
}

/// The same conversion as `TryFrom<EvaluateOptions>`, from positional parts.
pub fn from_parts(
    principal_id: String,
    principal_kind: String,
    action_name: String,
    roles: Option<Vec<String>>,
    params: Option<HashMap<String, Unknown<'_>>>,
    extras: Option<ContextExtras>,
) -> Result<ActionContext> {
    let mut ctx = base(principal_id, &principal_kind, action_name, roles, params)?;
    if let Some(e) = extras {
        apply_extras(
            &mut ctx,
            Extras {
                resource: e.resource,
                ip: e.ip,
                session_id: e.session_id,
                origin_ip: e.origin_ip,
                current_geo: e.current_geo,
                origin_geo: e.origin_geo,
                device: e.device,
                origin_device: e.origin_device,
                session_started_at: e.session_started_at,
                action_count: e.action_count,
            },
        )?;
    }
    Ok(ctx)
}

/// Field bundle shared by both entry points.
struct Extras {
    resource: Option<String>,
    ip: Option<String>,
    session_id: Option<String>,
    origin_ip: Option<String>,
    current_geo: Option<GeoLocationInput>,
    origin_geo: Option<GeoLocationInput>,
    device: Option<DeviceInput>,
    origin_device: Option<DeviceInput>,
    session_started_at: Option<f64>,
    action_count: Option<f64>,
}

fn base(
    principal_id: String,
    principal_kind: &str,
    action_name: String,
    roles: Option<Vec<String>>,
    params: Option<HashMap<String, Unknown<'_>>>,
) -> Result<ActionContext> {
    let kind = PrincipalKind::parse(principal_kind).ok_or_else(|| {
        invalid_argument(format!(
            "principalKind must be one of user, agent, service, scheduler, external, got '{principal_kind}'"
        ))
    })?;
    if principal_id.is_empty() {
        return Err(invalid_argument("principalId must be a non-empty string"));
    }
    if action_name.is_empty() {
        return Err(invalid_argument("actionName must be a non-empty string"));
    }
    let mut ctx = ActionContext::new(principal_id, kind, action_name);
    ctx.roles = roles.unwrap_or_default();
    if let Some(params) = params {
        ctx.params = params
            .into_iter()
            .map(|(name, value)| param(name, value))
            .collect::<Result<_>>()?;
    }
    Ok(ctx)
}

fn apply_extras(ctx: &mut ActionContext, o: Extras) -> Result<()> {
    ctx.resource = o.resource;
    ctx.ip = o.ip;
    ctx.session_id = o.session_id;
    ctx.origin_ip = o.origin_ip;
    ctx.current_geo = o.current_geo.map(|g| geo("currentGeo", g)).transpose()?;
    ctx.origin_geo = o.origin_geo.map(|g| geo("originGeo", g)).transpose()?;
    ctx.device = o.device.map(device);
    ctx.origin_device = o.origin_device.map(device);
    ctx.session_started_at = o
        .session_started_at
        .map(|v| whole("sessionStartedAt", v))
        .transpose()?;
    ctx.action_count = o
        .action_count
        .map(|v| whole("actionCount", v))
        .transpose()?
        .map(|v| v.unsigned_abs());
    Ok(())
}

impl<'env> TryFrom<EvaluateOptions<'env>> for ActionContext {
    type Error = napi::Error<&'static str>;

    fn try_from(o: EvaluateOptions<'env>) -> Result<Self> {
        let mut ctx = base(
            o.principal_id,
            &o.principal_kind,
            o.action_name,
            o.roles,
            o.params,
        )?;
        apply_extras(
            &mut ctx,
            Extras {
                resource: o.resource,
                ip: o.ip,
                session_id: o.session_id,
                origin_ip: o.origin_ip,
                current_geo: o.current_geo,
                origin_geo: o.origin_geo,
                device: o.device,
                origin_device: o.origin_device,
                session_started_at: o.session_started_at,
                action_count: o.action_count,
            },
        )?;
        Ok(ctx)
    }
}

fn param(name: String, value: Unknown<'_>) -> Result<(String, ParamValue)> {
    let ty = value
        .get_type()
        .map_err(|e| invalid_argument(format!("param '{name}': {}", e.reason)))?;
    let v = match ty {
        ValueType::Number => {
            let n: f64 = value
                .coerce_to_number()
                .and_then(|n| n.get_double())
                .map_err(|e| invalid_argument(format!("param '{name}': {}", e.reason)))?;
            if !n.is_finite() {
                return Err(invalid_argument(format!(
                    "param '{name}' must be a finite number, got {n}"
                )));
            }
            ParamValue::Number(n)
        }
        ValueType::String => {
            let s = value
                .coerce_to_string()
                .and_then(|s| s.into_utf8())
                .and_then(|s| s.into_owned())
                .map_err(|e| invalid_argument(format!("param '{name}': {}", e.reason)))?;
            ParamValue::Text(s)
        }
        other => {
            return Err(invalid_argument(format!(
                "param '{name}' must be a number or a string, got {}",
                type_name(other)
            )))
        }
    };
    Ok((name, v))
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::External => "external",
        ValueType::BigInt => "bigint",
        _ => "unknown",
    }
}

fn geo(field: &str, g: GeoLocationInput) -> Result<GeoLocation> {
    if g.country_code.is_empty() {
        return Err(invalid_argument(format!(
            "{field}.countryCode must be a non-empty string"
        )));
    }
    if let Some(lat) = g.latitude {
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(invalid_argument(format!(
                "{field}.latitude must be a number between -90 and 90, got {lat}"
            )));
        }
    }
    if let Some(lon) = g.longitude {
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(invalid_argument(format!(
                "{field}.longitude must be a number between -180 and 180, got {lon}"
            )));
        }
    }
    Ok(GeoLocation {
        country_code: g.country_code,
        region: g.region,
        city: g.city,
        latitude: g.latitude,
        longitude: g.longitude,
    })
}

fn device(d: DeviceInput) -> DeviceFingerprint {
    DeviceFingerprint {
        hash: d.hash,
        description: d.description,
    }
}

/// A non-negative whole number that fits JS's exact integer range.
fn whole(field: &str, v: f64) -> Result<i64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        #[allow(clippy::cast_possible_truncation)]
        Ok(v as i64)
    } else {
        Err(invalid_argument(format!(
            "{field} must be a non-negative integer, got {v}"
        )))
    }
}
