//! Relations between conditions: does one imply another (every context matching `a` matches
//! `b`), can two hold together. Both answers are conservative in the direction that avoids
//! false findings: `implies` says yes only when it is certain, `disjoint` says yes only when
//! no context can satisfy both.

use crate::policy::pattern::Pattern;
use crate::policy::time_window::TimeWindow;
use crate::policy::Condition;

/// Minutes sampled to compare time windows, as unix ms: every minute of one day in each month
/// of a year. A window repeats daily, so 24 hours at a steady UTC offset show every local
/// minute of the day; one day a month meets every offset a zone keeps for weeks (daylight
/// saving either side of the equator, a month-long suspension of it such as Morocco's).
fn sample_minutes() -> impl Iterator<Item = i64> {
    // 2026-01-20T00:00Z, then every 30.5 days (the 20th or 21st of each month).
    const FIRST_DAY: i64 = 1_768_867_200_000;
    const DAY_MS: i64 = 86_400_000;
    (0..12_i64).flat_map(|month| {
        let day = FIRST_DAY + month * 61 * DAY_MS / 2;
        (0..24 * 60).map(move |m| day + m * 60_000)
    })
}

/// True when some sampled minute lies inside every window (an empty list: always).
pub fn windows_meet(windows: &[&TimeWindow]) -> bool {
    sample_minutes().any(|t| windows.iter().all(|w| w.contains(t)))
}

/// True when every sampled minute inside all of `inner` is inside `outer`.
fn windows_within(inner: &[&TimeWindow], outer: &TimeWindow) -> bool {
    sample_minutes()
        .filter(|&t| inner.iter().all(|w| w.contains(t)))
        .all(|t| outer.contains(t))
}

/// Every name `inner` matches is matched by `outer`.
pub fn pattern_within(inner: &Pattern, outer: &Pattern) -> bool {
    match (inner, outer) {
        (_, Pattern::Any) => true,
        (Pattern::Any, _) => false,
        (Pattern::Exact(a), Pattern::Exact(b)) => a == b,
        (Pattern::Exact(a) | Pattern::Prefix(a), Pattern::Prefix(p)) => a.starts_with(p.as_str()),
        (Pattern::Prefix(_), Pattern::Exact(_)) => false,
    }
}

/// No name matches both.
pub fn patterns_disjoint(a: &Pattern, b: &Pattern) -> bool {
    match (a, b) {
        (Pattern::Any, _) | (_, Pattern::Any) => false,
        (Pattern::Exact(x), Pattern::Exact(y)) => x != y,
        (Pattern::Exact(x), Pattern::Prefix(p)) | (Pattern::Prefix(p), Pattern::Exact(x)) => {
            !x.starts_with(p.as_str())
        }
        (Pattern::Prefix(p), Pattern::Prefix(q)) => {
            !p.starts_with(q.as_str()) && !q.starts_with(p.as_str())
        }
    }
}

/// Every context matching all of `given` matches `c` (rate limits are never implied: they
/// depend on history, not on the context).
pub fn implied_by(c: &Condition, given: &[&Condition]) -> bool {
    if matches!(c, Condition::RateLimit(_)) {
        return false;
    }
    if let Condition::TimeWindow(w) = c {
        let windows: Vec<&TimeWindow> = given
            .iter()
            .filter_map(|g| match g {
                Condition::TimeWindow(w) => Some(w),
                _ => None,
            })
            .collect();
        return !windows.is_empty() && windows_within(&windows, w);
    }
    given.iter().any(|g| implies(g, c))
}

/// One condition implies another.
fn implies(a: &Condition, b: &Condition) -> bool {
    use Condition as C;
    match (a, b) {
        (C::IdentityKind(x), C::IdentityKind(y)) => x == y,
        (C::IdentityRole(x), C::IdentityRole(y)) | (C::IdentityId(x), C::IdentityId(y)) => x == y,
        (C::Action(x), C::Action(y)) | (C::Resource(x), C::Resource(y)) => pattern_within(x, y),
        (C::ParamMax { field: f, max: a }, C::ParamMax { field: g, max: b }) => f == g && a <= b,
        (C::ParamMin { field: f, min: a }, C::ParamMin { field: g, min: b }) => f == g && a >= b,
        (
            C::ParamIn {
                field: f,
                values: a,
            },
            C::ParamIn {
                field: g,
                values: b,
            },
        ) => f == g && a.iter().all(|v| b.contains(v)),
        (C::SessionAgeMax { max_ms: a, .. }, C::SessionAgeMax { max_ms: b, .. }) => a <= b,
        _ => false,
    }
}

/// Why no context can satisfy all of `conds` together, or None when one might.
pub fn contradiction(conds: &[&Condition]) -> Option<String> {
    use Condition as C;
    for (i, a) in conds.iter().enumerate() {
        for b in &conds[i + 1..] {
            let why = match (a, b) {
                (C::IdentityKind(x), C::IdentityKind(y)) if x != y => Some(format!(
                    "identity_kind '{}' and '{}' cannot both hold",
                    x.as_str(),
                    y.as_str()
                )),
                (C::IdentityId(x), C::IdentityId(y)) if x != y => {
                    Some(format!("identity_id '{x}' and '{y}' cannot both hold"))
                }
                (C::Action(x), C::Action(y)) if patterns_disjoint(x, y) => {
                    Some("its action conditions match no common action".to_owned())
                }
                (C::Resource(x), C::Resource(y)) if patterns_disjoint(x, y) => {
                    Some("its resource conditions match no common resource".to_owned())
                }
                (C::ParamMin { field: f, min }, C::ParamMax { field: g, max })
                | (C::ParamMax { field: g, max }, C::ParamMin { field: f, min })
                    if f == g && min > max =>
                {
                    Some(format!("param_min {min} is above param_max {max} on '{f}'"))
                }
                (
                    C::ParamIn {
                        field: f,
                        values: a,
                    },
                    C::ParamIn {
                        field: g,
                        values: b,
                    },
                ) if f == g && !a.iter().any(|v| b.contains(v)) => {
                    Some(format!("param_in lists on '{f}' share no value"))
                }
                (
                    C::ParamIn { field: f, .. },
                    C::ParamMax { field: g, .. } | C::ParamMin { field: g, .. },
                )
                | (
                    C::ParamMax { field: g, .. } | C::ParamMin { field: g, .. },
                    C::ParamIn { field: f, .. },
                ) if f == g => Some(format!(
                    "'{f}' must be text for param_in and a number for param_max/param_min"
                )),
                _ => None,
            };
            if why.is_some() {
                return why;
            }
        }
    }
    let windows: Vec<&TimeWindow> = conds
        .iter()
        .filter_map(|c| match c {
            C::TimeWindow(w) => Some(w),
            _ => None,
        })
        .collect();
    if windows.len() > 1 && !windows_meet(&windows) {
        return Some("its time windows never open at the same time".to_owned());
    }
    None
}
