//! `ExactU32`: a gate handle or a submission id as JS passes it. napi's own `u32` conversion
//! wraps (2^32 + 1 reads as 1, -1 as 4294967295, 1.5 as 1), which would let a wrong handle
//! answer with another gate; this one takes only a whole number in range.

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Status, ValueType};

/// A whole number 0 ..= `u32::MAX`, anything else refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactU32(pub u32);

impl ExactU32 {
    /// `v` if it is a whole number in range.
    pub fn of(v: f64) -> Option<Self> {
        // `as` saturates (NaN reads as 0); the round trip gives `v` back only when it fits.
        let n = v as u32;
        (f64::from(n) == v).then_some(Self(n))
    }
}

impl TypeName for ExactU32 {
    fn type_name() -> &'static str {
        "number"
    }
    fn value_type() -> ValueType {
        ValueType::Number
    }
}

impl ValidateNapiValue for ExactU32 {}

impl FromNapiValue for ExactU32 {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut v = 0f64;
        // SAFETY: `env`/`value` are the current call's (this trait's contract); `v` is a live
        // local. Exercised by __test__/native-handles.test.ts.
        let status = unsafe { sys::napi_get_value_double(env, value, &mut v) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                Status::NumberExpected,
                "expected a number",
            ));
        }
        // napi's InvalidArg status reaches JS as `INVALID_ARGUMENT` (src/errors.ts).
        Self::of(v).ok_or_else(|| {
            napi::Error::new(
                Status::InvalidArg,
                format!("expected a whole number from 0 to {}, got {v}", u32::MAX),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_numbers_in_range_are_taken() {
        assert_eq!(ExactU32::of(0.0), Some(ExactU32(0)));
        assert_eq!(ExactU32::of(7.0), Some(ExactU32(7)));
        assert_eq!(ExactU32::of(4_294_967_295.0), Some(ExactU32(u32::MAX)));
        for bad in [
            4_294_967_296.0,
            4_294_967_297.0,
            -1.0,
            -0.5,
            1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(ExactU32::of(bad), None, "{bad}");
        }
        // -0 is the number 0.
        assert_eq!(ExactU32::of(-0.0), Some(ExactU32(0)));
    }
}
