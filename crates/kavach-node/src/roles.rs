//! A context's `roles` as JS passes them. The array's length is checked against the core's
//! bound before anything is allocated: napi's `Vec` conversion reserves `length` slots up
//! front, and a sparse array such as `Object.assign([], { length: 2 ** 32 - 1 })` would abort
//! the process on that allocation (an allocation failure is not a panic `catch_unwind` sees).

use crate::layout::context_limits::MAX_ROLES;
use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Status, ValueType};

/// The roles of one context, at most [`MAX_ROLES`] of them.
pub struct Roles(pub Vec<String>);

impl TypeName for Roles {
    fn type_name() -> &'static str {
        "Array<string>"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Roles {}

impl FromNapiValue for Roles {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut is_array = false;
        // SAFETY: `env` and `value` are the current call's (this trait's contract). Exercised
        // by __test__/hostile-input.test.ts (roles with a huge length).
        let status = unsafe { sys::napi_is_array(env, value, &mut is_array) };
        if status == sys::Status::napi_ok && is_array {
            let mut len = 0u32;
            // SAFETY: as above; `value` is an array.
            let status = unsafe { sys::napi_get_array_length(env, value, &mut len) };
            if status != sys::Status::napi_ok {
                return Err(napi::Error::new(
                    Status::ArrayExpected,
                    "roles: cannot read the array's length",
                ));
            }
            if usize::try_from(len).map_or(true, |n| n > MAX_ROLES) {
                return Err(napi::Error::new(
                    Status::InvalidArg,
                    format!("roles has {len} entries, over the limit of {MAX_ROLES}"),
                ));
            }
        }
        // Not an array: napi's conversion names the problem. An array: its length is bounded.
        // SAFETY: as above.
        unsafe { Vec::<String>::from_napi_value(env, value) }.map(Roles)
    }
}
