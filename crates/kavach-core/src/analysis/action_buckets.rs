//! Which policies' actions can meet. The analysis compares policies pairwise (an earlier
//! policy that shadows a later one, a permit and a refuse that overlap), and two policies can
//! only match one call if their first action conditions have an action in common: a shadowing
//! policy matches every call the later one matches, and overlapping policies match one call
//! together, so in both cases some action matches both first conditions. Filing the policies
//! by their first action condition turns the comparisons of a set whose policies name
//! different actions from quadratic into nearly linear (10,000 policies, one action each:
//! every policy was compared with every earlier one). A policy with no action condition, or
//! `*`, meets every policy, as before.

use std::collections::BTreeMap;

use crate::policy::pattern::Pattern;
use crate::policy::{Condition, Policy};

/// The policies of a set filed by their first action condition.
pub struct ActionBuckets<'a> {
    exact: BTreeMap<&'a str, Vec<usize>>,
    /// By stem (`tool_*` under `tool_`).
    prefix: BTreeMap<&'a str, Vec<usize>>,
    any: Vec<usize>,
    /// Every policy meets every other (the unfiled form, to check the filed one against).
    unfiled: bool,
    len: usize,
}

/// A policy's first action condition; `None` when it has none (every action).
pub fn first_action(p: &Policy) -> Option<&Pattern> {
    p.conditions.iter().find_map(|c| match c {
        Condition::Action(a) => Some(a),
        _ => None,
    })
}

impl<'a> ActionBuckets<'a> {
    pub fn new(policies: &'a [Policy]) -> Self {
        let mut b = Self {
            exact: BTreeMap::new(),
            prefix: BTreeMap::new(),
            any: Vec::new(),
            unfiled: false,
            len: policies.len(),
        };
        for (i, p) in policies.iter().enumerate() {
            match first_action(p) {
                Some(Pattern::Exact(name)) => b.exact.entry(name.as_str()).or_default().push(i),
                Some(Pattern::Prefix(stem)) => b.prefix.entry(stem.as_str()).or_default().push(i),
                Some(Pattern::Any) | None => b.any.push(i),
            }
        }
        b
    }

    /// Every policy meeting every other: the analysis without filing.
    #[cfg(test)]
    pub fn unfiled(policies: &'a [Policy]) -> Self {
        Self {
            unfiled: true,
            ..Self::new(policies)
        }
    }

    /// Positions, ascending, of the policies whose first action condition has an action in
    /// common with `pattern` (`None`: every action).
    pub fn meeting(&self, pattern: Option<&Pattern>) -> Vec<usize> {
        let mut out = match (self.unfiled, pattern) {
            (true, _) | (false, Some(Pattern::Any) | None) => return (0..self.len).collect(),
            (false, Some(Pattern::Exact(name))) => {
                let mut out = self.exact.get(name.as_str()).cloned().unwrap_or_default();
                // Stems that begin the name, the name itself included.
                self.extend_with_stems_beginning(name, name.len(), &mut out);
                out
            }
            (false, Some(Pattern::Prefix(stem))) => {
                // Names and stems that begin with the stem, then stems shorter than it that
                // begin it.
                let mut out: Vec<usize> = starting_with(&self.exact, stem)
                    .chain(starting_with(&self.prefix, stem))
                    .collect();
                self.extend_with_stems_beginning(stem, stem.len().saturating_sub(1), &mut out);
                out
            }
        };
        out.extend_from_slice(&self.any);
        out.sort_unstable();
        out
    }

    /// Adds the policies filed under a stem that is `text[..k]` for some `k <= max_len`.
    fn extend_with_stems_beginning(&self, text: &str, max_len: usize, out: &mut Vec<usize>) {
        for (k, _) in text.char_indices().skip(1).chain([(text.len(), ' ')]) {
            if k > max_len {
                break;
            }
            if let Some(list) = self.prefix.get(&text[..k]) {
                out.extend_from_slice(list);
            }
        }
    }
}

/// The positions filed under keys that begin with `start`.
fn starting_with<'m>(
    map: &'m BTreeMap<&str, Vec<usize>>,
    start: &'m str,
) -> impl Iterator<Item = usize> + 'm {
    map.range(start..)
        .take_while(move |(key, _)| key.starts_with(start))
        .flat_map(|(_, list)| list.iter().copied())
}
