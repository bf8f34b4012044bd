//! The action context: who wants to do what, from where. Built once per evaluation by the
//! binding from a typed JS object (no JSON on the hot path).

use crate::error::{KavachError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Agent,
    Service,
    Scheduler,
    External,
}

impl PrincipalKind {
    pub const ALL: [PrincipalKind; 5] = [
        PrincipalKind::User,
        PrincipalKind::Agent,
        PrincipalKind::Service,
        PrincipalKind::Scheduler,
        PrincipalKind::External,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Agent => "agent",
            PrincipalKind::Service => "service",
            PrincipalKind::Scheduler => "scheduler",
            PrincipalKind::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A param value: numbers feed param_max/param_min/invariants, strings feed param_in.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Number(f64),
    Text(String),
}

impl ParamValue {
    /// A finite number. NaN and ±Infinity are rejected: they could compare in ways that permit.
    pub fn number(name: &str, v: f64) -> Result<Self> {
        if v.is_finite() {
            Ok(ParamValue::Number(v))
        } else {
            Err(KavachError::InvalidArgument(format!(
                "param '{name}' must be a finite number, got {v}"
            )))
        }
    }
    pub fn as_number(&self) -> Option<f64> {
        match self {
            ParamValue::Number(n) => Some(*n),
            ParamValue::Text(_) => None,
        }
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ParamValue::Text(s) => Some(s),
            ParamValue::Number(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeoLocation {
    pub country_code: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl GeoLocation {
    /// Coordinates, when given, must be finite and on the globe (drift measures distances).
    pub fn validate(&self, what: &str) -> Result<()> {
        let check = |name: &str, v: Option<f64>, limit: f64| match v {
            Some(x) if !x.is_finite() || x.abs() > limit => Err(KavachError::InvalidArgument(
                format!("{what}.{name} must be a finite number within ±{limit}, got {x}"),
            )),
            _ => Ok(()),
        };
        check("latitude", self.latitude, 90.0)?;
        check("longitude", self.longitude, 180.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceFingerprint {
    pub hash: String,
    pub description: Option<String>,
}

/// Everything the gate knows about one attempted action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionContext {
    pub principal_id: String,
    pub principal_kind: PrincipalKind,
    pub action_name: String,
    pub roles: Vec<String>,
    pub resource: Option<String>,
    /// Few params per action: a Vec beats a map for lookup at this size.
    pub params: Vec<(String, ParamValue)>,
    pub ip: Option<String>,
    pub session_id: Option<String>,
    pub origin_ip: Option<String>,
    pub current_geo: Option<GeoLocation>,
    pub origin_geo: Option<GeoLocation>,
    pub device: Option<DeviceFingerprint>,
    pub origin_device: Option<DeviceFingerprint>,
    /// Unix seconds.
    pub session_started_at: Option<i64>,
    pub action_count: Option<u64>,
}

impl ActionContext {
    pub fn new(
        principal_id: impl Into<String>,
        principal_kind: PrincipalKind,
        action_name: impl Into<String>,
    ) -> Self {
        Self {
            principal_id: principal_id.into(),
            principal_kind,
            action_name: action_name.into(),
            roles: Vec::new(),
            resource: None,
            params: Vec::new(),
            ip: None,
            session_id: None,
            origin_ip: None,
            current_geo: None,
            origin_geo: None,
            device: None,
            origin_device: None,
            session_started_at: None,
            action_count: None,
        }
    }

    pub fn param(&self, name: &str) -> Option<&ParamValue> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Checks what the type system cannot: non-empty ids, finite numbers.
    pub fn validate(&self) -> Result<()> {
        if self.principal_id.is_empty() {
            return Err(KavachError::InvalidArgument(
                "principalId must be a non-empty string".into(),
            ));
        }
        if self.action_name.is_empty() {
            return Err(KavachError::InvalidArgument(
                "actionName must be a non-empty string".into(),
            ));
        }
        if self.session_id.as_deref() == Some("") {
            return Err(KavachError::InvalidArgument(
                "sessionId must be a non-empty string when given".into(),
            ));
        }
        for (what, geo) in [
            ("currentGeo", &self.current_geo),
            ("originGeo", &self.origin_geo),
        ] {
            if let Some(g) = geo {
                g.validate(what)?;
            }
        }
        for (name, value) in &self.params {
            if let ParamValue::Number(n) = value {
                if !n.is_finite() {
                    return Err(KavachError::InvalidArgument(format!(
                        "param '{name}' must be a finite number, got {n}"
                    )));
                }
            }
        }
        Ok(())
    }
}
