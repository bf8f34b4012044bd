//! Candidate lookup by action name, without scanning every policy: an exact-name map, a prefix
//! map probed only at the prefix lengths that occur, and the list of policies with no action
//! condition (or `*`). Policies are stored sorted by (priority, declaration order), so a
//! policy's position is its rank and candidates are merged by position.

use ahash::AHashMap;

use super::conditions::Condition;
use super::pattern::Pattern;
use super::Policy;

/// More matching prefix lists than this fall back to a sorted Vec (rare: deeply nested
/// prefixes such as `a*`, `ab*`, `abc*`, ... all matching one action).
const INLINE_LISTS: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct PolicyIndex {
    exact: AHashMap<String, Vec<u32>>,
    prefix: AHashMap<String, Vec<u32>>,
    /// Distinct prefix lengths in bytes, ascending.
    prefix_lens: Vec<usize>,
    match_all: Vec<u32>,
}

impl PolicyIndex {
    /// `policies` must already be sorted by rank; each policy is filed under its first
    /// `action` condition (any further action conditions are checked at evaluation).
    pub fn build(policies: &[Policy]) -> Self {
        let mut idx = PolicyIndex::default();
        for (rank, p) in policies.iter().enumerate() {
            let rank = u32::try_from(rank).unwrap_or(u32::MAX);
            let first_action = p.conditions.iter().find_map(|c| match c {
                Condition::Action(pat) => Some(pat),
                _ => None,
            });
            match first_action {
                Some(Pattern::Exact(name)) => idx.exact.entry(name.clone()).or_default().push(rank),
                Some(Pattern::Prefix(pre)) => {
                    if !idx.prefix_lens.contains(&pre.len()) {
                        idx.prefix_lens.push(pre.len());
                    }
                    idx.prefix.entry(pre.clone()).or_default().push(rank)
                }
                Some(Pattern::Any) | None => idx.match_all.push(rank),
            }
        }
        idx.prefix_lens.sort_unstable();
        idx
    }

    /// Ranks of the policies that may match `action`, ascending.
    pub fn candidates(&self, action: &str) -> Candidates<'_> {
        let mut lists: [&[u32]; INLINE_LISTS] = [&[]; INLINE_LISTS];
        let mut n = 0usize;
        let mut overflow: Vec<&[u32]> = Vec::new();
        if let Some(l) = self.exact.get(action) {
            lists[n] = l;
            n += 1;
        }
        if !self.match_all.is_empty() {
            lists[n] = &self.match_all;
            n += 1;
        }
        for &len in &self.prefix_lens {
            if len > action.len() {
                break;
            }
            let Some(stem) = action.get(..len) else {
                continue;
            };
            if let Some(l) = self.prefix.get(stem) {
                if n < INLINE_LISTS {
                    lists[n] = l;
                    n += 1;
                } else {
                    overflow.push(l);
                }
            }
        }
        if overflow.is_empty() {
            Candidates::Inline { lists, n }
        } else {
            let mut all: Vec<u32> = lists[..n]
                .iter()
                .chain(overflow.iter())
                .flat_map(|l| l.iter().copied())
                .collect();
            all.sort_unstable();
            Candidates::Sorted(all.into_iter())
        }
    }
}

/// A k-way merge of a few sorted rank lists (no allocation in the common case).
pub enum Candidates<'a> {
    Inline {
        lists: [&'a [u32]; INLINE_LISTS],
        n: usize,
    },
    Sorted(std::vec::IntoIter<u32>),
}

impl Iterator for Candidates<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            Candidates::Sorted(it) => it.next(),
            Candidates::Inline { lists, n } => {
                let mut best: Option<(usize, u32)> = None;
                for (i, l) in lists[..*n].iter().enumerate() {
                    if let Some(&head) = l.first() {
                        if best.is_none_or(|(_, b)| head < b) {
                            best = Some((i, head));
                        }
                    }
                }
                let (i, rank) = best?;
                lists[i] = &lists[i][1..];
                Some(rank)
            }
        }
    }
}
