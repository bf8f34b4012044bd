//! Relations between conditions: does one imply another (every context matching `a` matches
//! `b`), can two hold together. Both answers are conservative in the direction that avoids
//! false findings: `implies` says yes only when it is certain, `disjoint` says yes only when
//! no context can satisfy both.

use std::borrow::Cow;
use std::cell::OnceCell;

use ahash::AHashMap;

use crate::context::PrincipalKind;
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

/// How many minutes `sample_minutes` yields.
const SAMPLE_COUNT: usize = 12 * 24 * 60;
const SAMPLE_WORDS: usize = SAMPLE_COUNT / 64;
// Every bit of every word is a sample, so a full set and a complement need no masking.
const _: () = assert!(SAMPLE_WORDS * 64 == SAMPLE_COUNT);

/// A set of sampled minutes, one bit each in `sample_minutes` order. Judging a window at each
/// sample is a time-zone conversion; once a window is a set, comparing windows is a few
/// hundred word operations.
#[derive(Clone)]
struct SampleSet {
    words: [u64; SAMPLE_WORDS],
}

impl SampleSet {
    fn all() -> Self {
        Self {
            words: [u64::MAX; SAMPLE_WORDS],
        }
    }

    fn of_window(window: &TimeWindow) -> Self {
        let mut set = Self {
            words: [0; SAMPLE_WORDS],
        };
        for (i, t) in sample_minutes().enumerate() {
            if window.contains(t) {
                set.words[i / 64] |= 1 << (i % 64);
            }
        }
        set
    }

    fn intersect(&mut self, other: &SampleSet) {
        for (mine, theirs) in self.words.iter_mut().zip(&other.words) {
            *mine &= theirs;
        }
    }

    fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    fn is_subset_of(&self, other: &SampleSet) -> bool {
        self.words
            .iter()
            .zip(&other.words)
            .all(|(mine, theirs)| mine & !theirs == 0)
    }
}

/// The sampled minutes of each distinct time window of a policy set, each computed on first
/// use and kept for the whole analysis: a window repeated in many conditions, or compared in
/// many policy pairs, is converted once.
pub struct WindowSamples {
    by_window: AHashMap<TimeWindow, OnceCell<Box<SampleSet>>>,
}

impl WindowSamples {
    /// Room for every window among `conditions` (nothing is computed yet).
    pub fn for_conditions<'c>(conditions: impl IntoIterator<Item = &'c Condition>) -> Self {
        let by_window = conditions
            .into_iter()
            .filter_map(as_window)
            .map(|w| (w.clone(), OnceCell::new()))
            .collect();
        Self { by_window }
    }

    /// The samples inside `window`; computed on the spot for a window the set did not hold.
    fn samples_of(&self, window: &TimeWindow) -> Cow<'_, SampleSet> {
        match self.by_window.get(window) {
            Some(cell) => {
                Cow::Borrowed(cell.get_or_init(|| Box::new(SampleSet::of_window(window))))
            }
            None => Cow::Owned(SampleSet::of_window(window)),
        }
    }

    /// The samples inside every one of `windows` (all samples for none).
    fn common<'c>(&self, windows: impl IntoIterator<Item = &'c TimeWindow>) -> SampleSet {
        let mut common = SampleSet::all();
        for w in windows {
            common.intersect(&self.samples_of(w));
        }
        common
    }
}

fn as_window(c: &Condition) -> Option<&TimeWindow> {
    match c {
        Condition::TimeWindow(w) => Some(w),
        _ => None,
    }
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

/// One policy's conditions as the premise of implications: what holds in every context that
/// policy matches.
pub struct Premise<'a> {
    conditions: &'a [Condition],
    windows: &'a WindowSamples,
    /// The samples inside all of its time windows (None when it has none), computed on first
    /// use: most premises are never asked about a time window.
    window_samples: OnceCell<Option<SampleSet>>,
}

impl<'a> Premise<'a> {
    pub fn new(conditions: &'a [Condition], windows: &'a WindowSamples) -> Self {
        Self {
            conditions,
            windows,
            window_samples: OnceCell::new(),
        }
    }

    /// Every context matching the premise matches `c` (rate limits are never implied: they
    /// depend on history, not on the context).
    pub fn implies(&self, c: &Condition) -> bool {
        match c {
            Condition::RateLimit(_) => false,
            Condition::TimeWindow(w) => self
                .window_samples()
                .is_some_and(|inside| inside.is_subset_of(&self.windows.samples_of(w))),
            _ => self.conditions.iter().any(|g| implies(g, c)),
        }
    }

    fn window_samples(&self) -> Option<&SampleSet> {
        self.window_samples
            .get_or_init(|| {
                let mut windows = self.conditions.iter().filter_map(as_window).peekable();
                windows
                    .peek()
                    .is_some()
                    .then(|| self.windows.common(windows))
            })
            .as_ref()
    }
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

/// Why no context can satisfy some conditions together.
pub enum Conflict<'c> {
    IdentityKinds(PrincipalKind, PrincipalKind),
    IdentityIds(&'c str, &'c str),
    Actions,
    Resources,
    ParamRange { field: &'c str, min: f64, max: f64 },
    ParamInLists(&'c str),
    ParamTypes(&'c str),
    TimeWindows,
}

impl Conflict<'_> {
    /// The finding kind of a policy that can never match for this reason.
    pub fn kind(&self) -> &'static str {
        match self {
            Conflict::ParamRange { .. } => "param_min_above_max",
            Conflict::TimeWindows => "time_window_never_opens",
            _ => "unsatisfiable",
        }
    }

    pub fn why(&self) -> String {
        match self {
            Conflict::IdentityKinds(x, y) => format!(
                "identity_kind '{}' and '{}' cannot both hold",
                x.as_str(),
                y.as_str()
            ),
            Conflict::IdentityIds(x, y) => format!("identity_id '{x}' and '{y}' cannot both hold"),
            Conflict::Actions => "its action conditions match no common action".to_owned(),
            Conflict::Resources => "its resource conditions match no common resource".to_owned(),
            Conflict::ParamRange { field, min, max } => {
                format!("param_min {min} is above param_max {max} on '{field}'")
            }
            Conflict::ParamInLists(f) => format!("param_in lists on '{f}' share no value"),
            Conflict::ParamTypes(f) => {
                format!("'{f}' must be text for param_in and a number for param_max/param_min")
            }
            Conflict::TimeWindows => "its time windows never open at the same time".to_owned(),
        }
    }
}

/// The first reason no context can satisfy all of `conds` together (each pair in order, then
/// the time windows together), or None when one might. Takes an iterator so that two
/// policies' conditions can be judged together without collecting them.
pub fn contradiction<'c>(
    conds: impl Iterator<Item = &'c Condition> + Clone,
    windows: &WindowSamples,
) -> Option<Conflict<'c>> {
    let mut rest = conds.clone();
    while let Some(a) = rest.next() {
        if let Some(conflict) = rest.clone().find_map(|b| pair_conflict(a, b)) {
            return Some(conflict);
        }
    }
    let in_windows = conds.filter_map(as_window);
    let several = in_windows.clone().nth(1).is_some();
    (several && windows.common(in_windows).is_empty()).then_some(Conflict::TimeWindows)
}

/// Why `a` and `b` cannot both hold, if they cannot.
fn pair_conflict<'c>(a: &'c Condition, b: &'c Condition) -> Option<Conflict<'c>> {
    use Condition as C;
    match (a, b) {
        (C::IdentityKind(x), C::IdentityKind(y)) if x != y => Some(Conflict::IdentityKinds(*x, *y)),
        (C::IdentityId(x), C::IdentityId(y)) if x != y => Some(Conflict::IdentityIds(x, y)),
        (C::Action(x), C::Action(y)) if patterns_disjoint(x, y) => Some(Conflict::Actions),
        (C::Resource(x), C::Resource(y)) if patterns_disjoint(x, y) => Some(Conflict::Resources),
        (C::ParamMin { field: f, min }, C::ParamMax { field: g, max })
        | (C::ParamMax { field: g, max }, C::ParamMin { field: f, min })
            if f == g && min > max =>
        {
            Some(Conflict::ParamRange {
                field: f,
                min: *min,
                max: *max,
            })
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
        ) if f == g && !a.iter().any(|v| b.contains(v)) => Some(Conflict::ParamInLists(f)),
        (
            C::ParamIn { field: f, .. },
            C::ParamMax { field: g, .. } | C::ParamMin { field: g, .. },
        )
        | (
            C::ParamMax { field: g, .. } | C::ParamMin { field: g, .. },
            C::ParamIn { field: f, .. },
        ) if f == g => Some(Conflict::ParamTypes(f)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_set_has_one_bit_per_sampled_minute() {
        assert_eq!(sample_minutes().count(), SAMPLE_COUNT);
    }

    #[test]
    fn a_window_holds_the_samples_it_contains() {
        let w = TimeWindow::parse("09:00-17:00 America/New_York").unwrap();
        let set = SampleSet::of_window(&w);
        for (i, t) in sample_minutes().enumerate() {
            assert_eq!(set.words[i / 64] >> (i % 64) & 1 == 1, w.contains(t));
        }
    }

    #[test]
    fn a_window_the_set_does_not_hold_is_judged_the_same() {
        let held = TimeWindow::parse("22:00-06:00 Asia/Kolkata").unwrap();
        let other = TimeWindow::parse("10:00-11:00 America/New_York").unwrap();
        let windows = WindowSamples::for_conditions(&[Condition::TimeWindow(held.clone())]);
        for w in [&held, &other] {
            assert!(windows.common([w]).words == SampleSet::of_window(w).words);
        }
    }
}
