//! JS arrays read one own element at a time (key bundles, audit entries, invariants, known
//! actions). napi's `Vec` conversion reserves the array's `length` up front, so a sparse array
//! such as `Object.assign([], { length: 2 ** 32 - 1 })` would abort the process on that
//! allocation (an allocation failure is not a panic `catch_unwind` sees), and it reads elements
//! through the prototype chain, so `Array.prototype` would answer for a hole. Here the vector
//! grows with the elements actually read, and a hole or an element of the wrong kind is an
//! error naming its index.

use napi::bindgen_prelude::{ClassInstance, FromNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Status, ValueType};

use crate::options::InvariantInput;

/// What an array may hold, and how a wrong element is named.
pub trait Element: Sized {
    /// Converts one element.
    ///
    /// # Safety
    /// `env` and `value` must be the current native call's.
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self>;
    /// "element 3 of the array is not a string", from the conversion's error.
    fn problem(index: u32, error: &napi::Error) -> String;
}

impl Element for String {
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: per this function's contract.
        unsafe { String::from_napi_value(env, value) }
    }
    fn problem(index: u32, _: &napi::Error) -> String {
        format!("element {index} of the array is not a string")
    }
}

/// A string of at most `MAX` bytes of UTF-8, its length read before the text is copied: a
/// megabyte element costs a length read, not a megabyte copy.
pub struct CappedString<const MAX: usize>(pub String);

impl<const MAX: usize> Element for CappedString<MAX> {
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut len = 0usize;
        // SAFETY: per this function's contract (`env` and `value` are this call's); a null
        // buffer with length 0 asks N-API for the UTF-8 length only and writes nothing.
        // Exercised by __test__/analyze.test.ts (a megabyte known action, a control character).
        let status = unsafe {
            sys::napi_get_value_string_utf8(env, value, std::ptr::null_mut(), 0, &mut len)
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(Status::StringExpected, "not a string"));
        }
        if len > MAX {
            return Err(invalid(format!(
                "is {len} bytes long, over the limit of {} bytes",
                kavach_core::policy::identifier::MAX_NAME_BYTES
            )));
        }
        // SAFETY: per this function's contract; `value` is a string (the length read above
        // succeeded). Exercised by the same test.
        unsafe { String::from_napi_value(env, value) }.map(Self)
    }
    fn problem(index: u32, error: &napi::Error) -> String {
        match error.status {
            Status::InvalidArg => format!("element {index} of the array {}", error.reason),
            _ => format!("element {index} of the array is not a string"),
        }
    }
}

impl<'env, T: 'env + TypeName> Element for ClassInstance<'env, T>
where
    ClassInstance<'env, T>: FromNapiValue,
{
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: per this function's contract. The conversion checks the object really wraps
        // a `T` (napi's class identity check) before using it.
        unsafe { ClassInstance::<'env, T>::from_napi_value(env, value) }
    }
    fn problem(index: u32, _: &napi::Error) -> String {
        // `T::type_name()`: the JS class name napi-derive gives the class.
        format!(
            "element {index} of the array is not an instance of {}",
            T::type_name()
        )
    }
}

impl Element for InvariantInput {
    unsafe fn read(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: per this function's contract.
        unsafe { InvariantInput::from_napi_value(env, value) }
    }
    fn problem(index: u32, error: &napi::Error) -> String {
        format!("invariants[{index}]: {}", error.reason)
    }
}

/// A dense JS array of `T`.
pub struct DenseArray<T>(pub Vec<T>);

impl<T> TypeName for DenseArray<T> {
    fn type_name() -> &'static str {
        "Array"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: Element> ValidateNapiValue for DenseArray<T> {}

fn invalid(message: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message)
}

impl<T: Element> FromNapiValue for DenseArray<T> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut is_array = false;
        // SAFETY: `env` and `value` are the current call's (this trait's contract), as in every
        // block below. Exercised by __test__/dense-arrays.test.ts.
        let status = unsafe { sys::napi_is_array(env, value, &mut is_array) };
        if status != sys::Status::napi_ok || !is_array {
            return Err(napi::Error::new(Status::ArrayExpected, "expected an array"));
        }
        let mut len = 0u32;
        // SAFETY: as above; `value` is an array.
        let status = unsafe { sys::napi_get_array_length(env, value, &mut len) };
        if status != sys::Status::napi_ok {
            return Err(invalid("cannot read the array's length".into()));
        }
        let mut out = Vec::new();
        for i in 0..len {
            let key_text = i.to_string();
            let mut key = std::ptr::null_mut();
            let mut own = false;
            // SAFETY: as above; `key_text` outlives the call that copies it into a JS string.
            let status = unsafe {
                let s = sys::napi_create_string_utf8(
                    env,
                    key_text.as_ptr().cast(),
                    key_text.len() as isize,
                    &mut key,
                );
                if s == sys::Status::napi_ok {
                    sys::napi_has_own_property(env, value, key, &mut own)
                } else {
                    s
                }
            };
            if status != sys::Status::napi_ok {
                return Err(invalid(format!("cannot read element {i} of the array")));
            }
            if !own {
                return Err(invalid(format!(
                    "element {i} of the array is a hole: arrays must be dense"
                )));
            }
            let mut element = std::ptr::null_mut();
            // SAFETY: as above.
            let status = unsafe { sys::napi_get_element(env, value, i, &mut element) };
            if status != sys::Status::napi_ok {
                return Err(invalid(format!("cannot read element {i} of the array")));
            }
            // SAFETY: as above; `element` is a value of this call.
            let item = unsafe { T::read(env, element) }.map_err(|e| invalid(T::problem(i, &e)))?;
            out.push(item);
        }
        Ok(Self(out))
    }
}
