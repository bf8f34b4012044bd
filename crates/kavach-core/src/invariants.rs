//! Invariants: hard caps that run after policy; no permit overrides them.

#[derive(Debug, Clone, PartialEq)]
pub struct Invariant {
    pub name: String,
    pub field: String,
    pub max_value: f64,
}
