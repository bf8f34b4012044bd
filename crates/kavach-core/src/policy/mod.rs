//! The policy language: parse (TOML, JSON, plain objects through one schema), compile
//! (index by action), evaluate.

#[derive(Debug, Clone, Default)]
pub struct PolicySet {}
