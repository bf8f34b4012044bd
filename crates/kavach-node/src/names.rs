//! Names a gate has interned: action names, roles and param names come from the small
//! vocabulary of an application, so the TS layer sends each one once (`internName`) and then
//! only its index, in the name's length slot of the scratch array (`layout.rs` `fast_in`).
//! A context made of known names then crosses as numbers and the principal id alone, with no
//! concatenated text for V8 to flatten and no per-character copy here. The core still checks
//! every name of every context: interning changes how a name travels, not how it is judged.
//!
//! The table only grows, so an index the TS layer holds always means the name it was given
//! for; it is bounded (`fast_in::MAX_NAMES` names of at most `fast_in::MAX_NAME_UNITS` ASCII
//! characters), and names past the bound travel in the text as before. The speed-layer switch
//! `interned-names` turns interning off for names not yet interned (the ablation bench).

use kavach_redis::speed_layers::{self, Layer};
use napi_derive::napi;

use crate::error::{codes, to_js, Result};
use crate::exact_u32::ExactU32;
use crate::fast;
use crate::layout::fast_in;

/// One gate's interned names, by index.
#[derive(Default)]
pub struct Names {
    list: Vec<String>,
}

impl Names {
    /// The index of `name`, newly added, or `None` when it cannot be interned: not ASCII
    /// (ASCII needs no normalization, so the stored text is exactly what the text path would
    /// produce), empty, too long, or the table is full.
    pub fn add(&mut self, name: &str) -> Option<u32> {
        let fits = !name.is_empty() && name.len() <= fast_in::MAX_NAME_UNITS && name.is_ascii();
        if !fits || self.list.len() >= fast_in::MAX_NAMES {
            return None;
        }
        self.list.push(name.to_owned());
        u32::try_from(self.list.len() - 1).ok()
    }

    /// The name for a slot value `-1 - index` (see `fast_in`), if there is one.
    pub fn by_slot(&self, slot: f64) -> Option<&str> {
        let index = -1.0 - slot;
        // `as` saturates; the round trip gives `index` back only for a whole number in range.
        let i = index as usize;
        self.list
            .get(i)
            .filter(|_| i as f64 == index)
            .map(String::as_str)
    }
}

/// Interns `name` for the gate `handle`: its index, or -1 when it must travel as text (see
/// [`Names::add`]; also for a gate that is gone, whose evaluations fail on their own).
// The napi registration is not compiled into the unit-test build, which sees no caller.
#[cfg_attr(test, allow(dead_code))]
#[napi(catch_unwind, ts_args_type = "handle: number, name: string")]
pub fn intern_name(ExactU32(handle): ExactU32, name: String) -> Result<i32> {
    let Ok(entry) = fast::entry(handle) else {
        return Ok(-1);
    };
    if !speed_layers::on(Layer::InternedNames) {
        return Ok(-1);
    }
    let mut names = entry
        .names
        .try_borrow_mut()
        .map_err(|_| to_js(codes::INTERNAL, "internName re-entered an evaluation"))?;
    Ok(names
        .add(&name)
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(-1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn interns_short_ascii_names_up_to_the_bound() {
        let mut n = Names::default();
        assert_eq!(n.add("refund"), Some(0));
        assert_eq!(n.add("support"), Some(1));
        assert_eq!(n.by_slot(-1.0), Some("refund"));
        assert_eq!(n.by_slot(-2.0), Some("support"));
        assert_eq!(n.add(""), None);
        assert_eq!(n.add("opérateur"), None);
        assert_eq!(n.add(&"a".repeat(fast_in::MAX_NAME_UNITS)), Some(2));
        assert_eq!(n.add(&"a".repeat(fast_in::MAX_NAME_UNITS + 1)), None);
        for i in 3..fast_in::MAX_NAMES {
            assert_eq!(n.add(&format!("n{i}")), Some(i as u32));
        }
        assert_eq!(n.add("one_more"), None);
    }

    #[test]
    fn a_slot_that_names_no_entry_is_an_error() {
        let mut n = Names::default();
        n.add("read").unwrap();
        for slot in [-2.0, -1.5, -0.5, f64::NAN, f64::NEG_INFINITY, -1e300] {
            assert_eq!(n.by_slot(slot), None, "{slot}");
        }
    }
}
