//! `gate.analyze()` for JS: the core's static analysis of the live policy set
//! (`kavach_core::analysis`), as plain objects.

use kavach_core::analysis::{analyze, Finding, KnownActions, MAX_KNOWN_ACTION_INPUT_BYTES};
use napi_derive::napi;

use super::Gate;
use crate::dense_array::{CappedString, DenseArray};
use crate::error::{CoreResultExt, Result};

/// One finding of the policy analysis.
#[napi(object, object_from_js = false)]
pub struct PolicyFinding {
    /// `shadowed`, `refuse_never_fires`, `unsatisfiable`, `param_min_above_max`,
    /// `time_window_never_opens`, `rate_limit_never_binds`, `overlap`, `deny_list`,
    /// `refuse_skips_strings`, `literal_pattern_character`, `unmentioned_action`.
    pub kind: String,
    #[napi(ts_type = "'warning' | 'info'")]
    pub severity: String,
    /// The policies concerned, the one the finding is about first.
    pub policies: Vec<String>,
    pub message: String,
}

/// Options of `gate.analyze()`.
#[napi(object, object_to_js = false)]
pub struct AnalyzeOptions {
    /// Actions the application performs: those no policy names are reported.
    #[napi(ts_type = "Array<string>")]
    pub known_actions: Option<DenseArray<CappedString<MAX_KNOWN_ACTION_INPUT_BYTES>>>,
}

fn to_js(f: Finding) -> PolicyFinding {
    PolicyFinding {
        kind: f.kind.to_owned(),
        severity: f.severity.as_str().to_owned(),
        policies: f.policies,
        message: f.message,
    }
}

#[napi]
impl Gate {
    /// Static analysis of the live policy set: policies that never decide, conditions that
    /// never hold, rate limits that never bind, overlaps, deny lists, numeric refusals a
    /// string passes (unless an invariant of this gate caps the param), patterns that look like
    /// globs, unnamed actions.
    #[napi(catch_unwind)]
    pub fn analyze(&self, options: Option<AnalyzeOptions>) -> Result<Vec<PolicyFinding>> {
        let known = match options.and_then(|o| o.known_actions) {
            Some(actions) => {
                Some(KnownActions::new(actions.0.into_iter().map(|a| a.0).collect()).js()?)
            }
            None => None,
        };
        let capped: Vec<String> = (self.inner.config().invariants.iter())
            .map(|i| i.field.clone())
            .collect();
        Ok(analyze(&self.inner.policies(), known.as_ref(), &capped)
            .into_iter()
            .map(to_js)
            .collect())
    }
}
