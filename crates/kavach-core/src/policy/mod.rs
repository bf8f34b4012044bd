//! The policy language: one strict schema for TOML, JSON and plain objects (`schema`),
//! compiled conditions (`conditions`), and candidate lookup by action (`index`).

pub mod conditions;
pub mod duration;
pub mod file;
pub mod identifier;
pub mod index;
pub mod pattern;
pub mod schema;
mod strict_json;
pub mod time_window;
mod toml_source;

use serde_json::Value;

use crate::error::{KavachError, Result};

pub use conditions::{Condition, EvalEnv, RateLimit, CONDITION_KEYS};
pub use index::Candidates;
pub use schema::PolicyCompiler;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Permit,
    Refuse,
}

impl Effect {
    pub const fn as_str(self) -> &'static str {
        match self {
            Effect::Permit => "permit",
            Effect::Refuse => "refuse",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub effect: Effect,
    /// AND-ed, judged in order, short-circuit; empty matches everything.
    pub conditions: Vec<Condition>,
    pub description: Option<String>,
    /// Lower runs first (default 100).
    pub priority: i64,
    /// Position in the document: breaks priority ties.
    pub order: usize,
}

/// A compiled, immutable policy set. Reloads build a new one and swap it in whole.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Sorted by (priority, order): a policy's position is its rank.
    policies: Vec<Policy>,
    index: index::PolicyIndex,
    /// The params some condition reads, sorted, each once (`reads_param`).
    param_fields: Box<[String]>,
}

impl PolicySet {
    /// The empty set: valid, and refuses everything (the kill switch).
    pub fn empty() -> Self {
        Self::default()
    }

    /// From a parsed document.
    pub fn from_value(root: &Value) -> Result<Self> {
        Self::from_compiled(schema::parse_policies(root)?)
    }

    /// Ranks policies in declaration order and indexes them.
    fn from_compiled(mut policies: Vec<Policy>) -> Result<Self> {
        // A list compiled one policy at a time grew by doubling; the set keeps only its size.
        policies.shrink_to_fit();
        policies.sort_by_key(|p| (p.priority, p.order));
        if u32::try_from(policies.len()).is_err() {
            return Err(KavachError::PolicyParse("too many policies".into()));
        }
        let index = index::PolicyIndex::build(&policies);
        let mut fields: Vec<String> = policies
            .iter()
            .flat_map(|p| p.conditions.iter().filter_map(Condition::param_field))
            .map(str::to_owned)
            .collect();
        fields.sort_unstable();
        fields.dedup();
        Ok(Self {
            policies,
            index,
            param_fields: fields.into_boxed_slice(),
        })
    }

    /// From JSON text (duplicate keys rejected). Blank text is a parse error, not the empty
    /// set: a truncated deploy must not switch every action off on reload.
    pub fn from_json(text: &str) -> Result<Self> {
        let text = file::strip_bom(text);
        if text.trim().is_empty() {
            return Err(KavachError::PolicyParse("empty JSON document".into()));
        }
        let mut compiler = PolicyCompiler::default();
        let skeleton = strict_json::parse_streaming(text, &mut |item| compiler.push(item))
            .map_err(|e| KavachError::PolicyParse(format!("invalid JSON: {e}")))?;
        Self::from_streamed(&skeleton, compiler)
    }

    /// From a document a loader read piece by piece: `compiler` has been given every element
    /// of its top-level policy list, and `skeleton` is the rest of the document (that list
    /// left empty). Reports the problems `from_value` would, in the same order: the
    /// document's shape first, then its policies.
    pub fn from_streamed(skeleton: &Value, compiler: PolicyCompiler) -> Result<Self> {
        schema::policy_list(skeleton)?;
        Self::from_compiled(compiler.finish()?)
    }

    /// From TOML text (`[[policy]]` tables). Blank text is the empty set.
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::from_value(&toml_source::toml_to_value(file::strip_bom(text))?)
    }

    /// From a JSON file (`Gate.fromJsonFile`); see [`file::read_policy_file`] for the file rules.
    pub fn from_json_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::from_json(&file::read_policy_file(path.as_ref())?)
    }

    /// From a TOML file (`Gate.fromFile`); see [`file::read_policy_file`] for the file rules.
    pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::from_toml(&file::read_policy_file(path.as_ref())?)
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Policies in evaluation order (priority, then declaration order).
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Whether a condition of some policy reads the param `field` (a name in NFC).
    pub fn reads_param(&self, field: &str) -> bool {
        self.param_fields
            .binary_search_by(|f| f.as_str().cmp(field))
            .is_ok()
    }

    /// The policies that may match `action`, in evaluation order.
    pub fn candidates<'a>(&'a self, action: &str) -> impl Iterator<Item = &'a Policy> + 'a {
        let ranks = self.index.candidates(action);
        ranks.filter_map(move |r| self.policies.get(r as usize))
    }
}
