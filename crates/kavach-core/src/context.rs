//! The action context: who wants to do what, from where. Built once per evaluation by the
//! binding from a typed JS object (no JSON on the hot path).

use crate::error::{KavachError, Result};
use crate::policy::identifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Agent,
    Service,
    Scheduler,
    External,
}

impl PrincipalKind {
    /// Every kind, in declaration order (a kind's position is its discriminant, checked below):
    /// the binding's fast path sends a kind as its position.
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

    /// The kinds' names, for error messages (`user, agent, ...`).
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

const _: () = {
    let mut i = 0;
    while i < PrincipalKind::ALL.len() {
        assert!(PrincipalKind::ALL[i] as usize == i);
        i += 1;
    }
};

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
    /// Why a param name or string value is not well-formed text, as the binding that read it
    /// from UTF-16 found it (a lone surrogate, at an index): decoded, it would stand for other
    /// strings too (`'acme\u{D800}'` and `'acme\u{DFFF}'` both read as `'acme\u{FFFD}'`) and
    /// match a `param_in` list written for one of them. [`Self::validate`] refuses the context
    /// with it. A Rust `String` is always well-formed, so only a binding sets it.
    pub ill_formed_param: Option<String>,
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
            ill_formed_param: None,
        }
    }

    pub fn param(&self, name: &str) -> Option<&ParamValue> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Checks what the type system cannot: the name rules of [`identifier`] (and NFC) for the
    /// principal id, action name, roles and resource, the length limits of [`limits`],
    /// non-empty ids, finite numbers, well-formed params (`ill_formed_param`). An error names the
    /// field (JS spelling).
    pub fn validate(&self) -> Result<()> {
        name("principalId", &self.principal_id)?;
        name("actionName", &self.action_name)?;
        if self.roles.len() > limits::MAX_ROLES {
            return Err(KavachError::InvalidArgument(format!(
                "roles has {} entries, over the limit of {}",
                self.roles.len(),
                limits::MAX_ROLES
            )));
        }
        for (i, role) in self.roles.iter().enumerate() {
            if let Some(problem) = name_problem(role) {
                return Err(KavachError::InvalidArgument(format!(
                    "roles[{i}] {problem}"
                )));
            }
        }
        if let Some(r) = &self.resource {
            name("resource", r)?;
        }
        if self.session_id.as_deref() == Some("") {
            return Err(KavachError::InvalidArgument(
                "sessionId must be a non-empty string when given".into(),
            ));
        }
        capped(
            "sessionId",
            self.session_id.as_deref(),
            limits::MAX_ID_BYTES,
        )?;
        capped("ip", self.ip.as_deref(), limits::MAX_IP_BYTES)?;
        capped("originIp", self.origin_ip.as_deref(), limits::MAX_IP_BYTES)?;
        for (what, geo) in [
            ("currentGeo", &self.current_geo),
            ("originGeo", &self.origin_geo),
        ] {
            if let Some(g) = geo {
                g.validate(what)?;
                capped(
                    &format!("{what}.countryCode"),
                    Some(&g.country_code),
                    limits::MAX_COUNTRY_CODE_BYTES,
                )?;
                capped(
                    &format!("{what}.region"),
                    g.region.as_deref(),
                    limits::MAX_ID_BYTES,
                )?;
                capped(
                    &format!("{what}.city"),
                    g.city.as_deref(),
                    limits::MAX_ID_BYTES,
                )?;
            }
        }
        for (what, device) in [
            ("device", &self.device),
            ("originDevice", &self.origin_device),
        ] {
            if let Some(d) = device {
                if d.hash.is_empty() {
                    return Err(KavachError::InvalidArgument(format!(
                        "{what}.hash must be a non-empty string"
                    )));
                }
                capped(&format!("{what}.hash"), Some(&d.hash), limits::MAX_ID_BYTES)?;
                capped(
                    &format!("{what}.description"),
                    d.description.as_deref(),
                    limits::MAX_DESCRIPTION_BYTES,
                )?;
            }
        }
        if self.params.len() > limits::MAX_PARAMS {
            return Err(KavachError::InvalidArgument(format!(
                "params has {} entries, over the limit of {}",
                self.params.len(),
                limits::MAX_PARAMS
            )));
        }
        if let Some(problem) = &self.ill_formed_param {
            return Err(KavachError::InvalidArgument(problem.clone()));
        }
        if let Some(name) = self.repeated_param_name() {
            return Err(KavachError::InvalidArgument(format!(
                "param '{}' is given twice (two Unicode spellings of one name)",
                identifier::excerpt(name)
            )));
        }
        let mut text_bytes = 0usize;
        for (name, value) in &self.params {
            capped("param name", Some(name), limits::MAX_ID_BYTES)?;
            match value {
                ParamValue::Number(n) if !n.is_finite() => {
                    return Err(KavachError::InvalidArgument(format!(
                        "param '{}' must be a finite number, got {n}",
                        identifier::excerpt(name)
                    )));
                }
                ParamValue::Number(_) => {}
                ParamValue::Text(t) => text_bytes += t.len(),
            }
        }
        if text_bytes > limits::MAX_PARAM_TEXT_BYTES {
            return Err(KavachError::InvalidArgument(format!(
                "params: the string values total {text_bytes} bytes, over the limit of {} bytes",
                limits::MAX_PARAM_TEXT_BYTES
            )));
        }
        Ok(())
    }

    /// A param name that two keys share: two keys of one object that are one name in NFC
    /// (`normalize`), where which one a policy would read is not the caller's to choose. Every
    /// name is compared, ASCII ones too: a few characters have an ASCII NFC form (U+212A
    /// KELVIN SIGN is `K`, U+037E is `;`, U+1FEF is a backtick), so `apiKey` and `api\u{212A}ey`
    /// are one name. A handful of params compare pairwise; many go through a set.
    fn repeated_param_name(&self) -> Option<&str> {
        const PAIRWISE_UP_TO: usize = 16;
        let names = self.params.iter().map(|(n, _)| n.as_str());
        if self.params.len() <= PAIRWISE_UP_TO {
            return names
                .enumerate()
                .find(|&(i, n)| self.params[..i].iter().any(|(earlier, _)| earlier == n))
                .map(|(_, n)| n);
        }
        let mut seen = std::collections::HashSet::with_capacity(self.params.len());
        names.into_iter().find(|n| !seen.insert(*n))
    }

    /// Puts the principal id, action name, roles, resource, param names and string param
    /// values in NFC, the form policies hold them in (the binding calls this before
    /// evaluating; [`Self::validate`] refuses a context whose names are not in NFC). Without
    /// it a `param_in` deny list of `Türkiye` would not see `Tu\u{308}rkiye`, the same text.
    pub fn normalize(&mut self) {
        identifier::nfc_in_place(&mut self.principal_id);
        identifier::nfc_in_place(&mut self.action_name);
        for r in &mut self.roles {
            identifier::nfc_in_place(r);
        }
        if let Some(r) = &mut self.resource {
            identifier::nfc_in_place(r);
        }
        for (name, value) in &mut self.params {
            identifier::nfc_in_place(name);
            if let ParamValue::Text(t) = value {
                identifier::nfc_in_place(t);
            }
        }
    }
}

/// Length limits of the context's fields, in UTF-8 bytes (names: [`identifier::MAX_NAME_BYTES`]).
pub mod limits {
    /// `sessionId`, `device.hash`, geo `region`/`city`, param names.
    pub const MAX_ID_BYTES: usize = 256;
    /// `ip`, `originIp` (an IPv6 address with a zone fits).
    pub const MAX_IP_BYTES: usize = 64;
    /// Geo `countryCode`.
    pub const MAX_COUNTRY_CODE_BYTES: usize = 8;
    /// `device.description` / `originDevice.description` (a user agent fits).
    pub const MAX_DESCRIPTION_BYTES: usize = 1024;
    /// Entries in `roles`.
    pub const MAX_ROLES: usize = 256;
    /// Entries in `params`.
    pub const MAX_PARAMS: usize = 256;
    /// All string param values together.
    pub const MAX_PARAM_TEXT_BYTES: usize = 64 * 1024;
}

/// A name the gate matches on: [`identifier::name_problem`], and NFC.
fn name(field: &str, s: &str) -> Result<()> {
    match name_problem(s) {
        Some(problem) => Err(KavachError::InvalidArgument(format!("{field} {problem}"))),
        None => Ok(()),
    }
}

/// Why `s` cannot be a name the gate matches on (the field is added by the caller), or `None`.
fn name_problem(s: &str) -> Option<String> {
    if identifier::is_plain_ascii_name(s) {
        return None;
    }
    if let Some(problem) = identifier::name_problem(s) {
        return Some(problem);
    }
    if !identifier::is_nfc_name(s) {
        return Some(format!(
            "'{}' is not in Unicode NFC",
            identifier::excerpt(s)
        ));
    }
    None
}

/// A string field of at most `limit` bytes.
fn capped(field: &str, s: Option<&str>, limit: usize) -> Result<()> {
    match s {
        Some(s) if s.len() > limit => Err(KavachError::InvalidArgument(format!(
            "{field} is {} bytes long, over the limit of {limit} bytes",
            s.len()
        ))),
        _ => Ok(()),
    }
}
