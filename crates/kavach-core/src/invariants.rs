//! Invariants: hard caps that run after policy; no permit overrides them. An invariant on a
//! param the action does not carry does not apply; a text value where a number is capped is a
//! violation (fail closed).

use crate::context::{ActionContext, ParamValue};
use crate::error::{KavachError, Result};
use crate::policy::identifier;

#[derive(Debug, Clone, PartialEq)]
pub struct Invariant {
    pub name: String,
    pub field: String,
    pub max_value: f64,
}

impl Invariant {
    /// A validated invariant: name and field follow the name rules (as policy names do), finite
    /// max.
    pub fn new(name: impl Into<String>, field: impl Into<String>, max_value: f64) -> Result<Self> {
        // The name goes into every violation's reason: it follows the rules of policy names
        // (no control, invisible or mixed-script text) and is held in NFC like them. The field
        // is in NFC, as contexts carry their param names (`ActionContext::normalize`).
        let name = name.into();
        if let Some(problem) = identifier::name_problem(&name) {
            return Err(KavachError::InvalidOptions(format!(
                "invariant name {problem}"
            )));
        }
        let (name, field) = (
            identifier::nfc(&name).into_owned(),
            identifier::nfc(&field.into()).into_owned(),
        );
        if field.is_empty() {
            return Err(KavachError::InvalidOptions(format!(
                "invariant '{name}': field must be a non-empty string"
            )));
        }
        // A field no context's param name can equal would be a cap that never applies.
        if let Some(problem) = identifier::name_problem(&field) {
            return Err(KavachError::InvalidOptions(format!(
                "invariant '{name}': field {problem}"
            )));
        }
        if !max_value.is_finite() {
            return Err(KavachError::InvalidOptions(format!(
                "invariant '{name}': max must be a finite number, got {max_value}"
            )));
        }
        Ok(Self {
            name,
            field,
            max_value,
        })
    }

    /// Checks what `new` checks, for invariants built as struct literals.
    pub fn validate(&self) -> Result<()> {
        Self::new(self.name.as_str(), self.field.as_str(), self.max_value).map(|_| ())
    }

    /// `Some(reason)` when the action breaks this invariant.
    pub fn violation(&self, ctx: &ActionContext) -> Option<String> {
        match ctx.param(&self.field)? {
            ParamValue::Number(n) if *n <= self.max_value => None,
            ParamValue::Number(n) => Some(format!(
                "invariant '{}' violated: param '{}' is {n}, above the cap of {}",
                self.name, self.field, self.max_value
            )),
            ParamValue::Text(_) => Some(format!(
                "invariant '{}' violated: param '{}' is not a number",
                self.name, self.field
            )),
        }
    }
}
