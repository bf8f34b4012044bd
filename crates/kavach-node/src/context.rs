//! `EvaluateOptions`: the typed object `evaluate()` receives (one boundary crossing, no JSON),
//! converted into `kavach_core::ActionContext`. Wrong values are `INVALID_ARGUMENT` errors that
//! name the field or param; nothing is coerced into something that could permit.

use kavach_core::policy::identifier::excerpt;
use kavach_core::verdict::ScopeKind;
use kavach_core::{ActionContext, DeviceFingerprint, GeoLocation, ParamValue, PrincipalKind};
use napi::bindgen_prelude::{
    FromNapiValue, JsObjectValue, Object, TypeName, Unknown, ValidateNapiValue,
};
use napi::{sys, JsString, JsValue, ValueType};
use napi_derive::napi;

use crate::error::{codes, invalid_argument, to_js, CoreResultExt, Result};
use crate::layout::fast_in;
use crate::names::Names;
use crate::roles::Roles;

#[napi(object, object_to_js = false)]
pub struct GeoLocationInput {
    /// ISO 3166-1 alpha-2, e.g. `IN`.
    pub country_code: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[napi(object, object_to_js = false)]
pub struct DeviceInput {
    pub hash: String,
    pub description: Option<String>,
}

/// Everything the gate needs to know about one attempted action.
#[napi(object, object_to_js = false)]
pub struct EvaluateOptions<'env> {
    pub principal_id: String,
    #[napi(ts_type = "'user' | 'agent' | 'service' | 'scheduler' | 'external'")]
    pub principal_kind: String,
    pub action_name: String,
    #[napi(ts_type = "Array<string>")]
    pub roles: Option<Roles>,
    pub resource: Option<String>,
    /// Numbers feed param_max/param_min and invariants, strings feed param_in. Anything else
    /// (booleans, objects, NaN, ±Infinity) is rejected naming the param.
    #[napi(ts_type = "Record<string, number | string>")]
    pub params: Option<Params<'env>>,
    pub ip: Option<String>,
    /// Opaque; when given, the gate keeps session state.
    pub session_id: Option<String>,
    /// IP at session start (else learned on first sight).
    pub origin_ip: Option<String>,
    pub current_geo: Option<GeoLocationInput>,
    pub origin_geo: Option<GeoLocationInput>,
    pub device: Option<DeviceInput>,
    pub origin_device: Option<DeviceInput>,
    /// Unix seconds (else learned on first sight).
    pub session_started_at: Option<f64>,
    /// Else counted by the gate.
    pub action_count: Option<f64>,
}

/// A context's `params` object, entry by entry, each name decoded strictly
/// ([`decode_utf16`]): napi's `HashMap` conversion reads names as UTF-8, where a lone
/// surrogate becomes U+FFFD and the property is then looked up under that other name (and left
/// out). Entries whose value is `undefined` are left out, as there.
pub struct Params<'env>(Vec<ParamEntry<'env>>);

/// One param as read from JS: its name, the name's first lone surrogate, its value.
pub struct ParamEntry<'env> {
    name: String,
    lone: Option<LoneSurrogate>,
    value: Unknown<'env>,
}

impl TypeName for Params<'_> {
    fn type_name() -> &'static str {
        "Record<string, number | string>"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Params<'_> {}

impl FromNapiValue for Params<'_> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: `env` and `value` are the current call's (this trait's contract). Exercised
        // by every `gate.explain` with params in __test__/.
        let obj = unsafe { Object::from_napi_value(env, value) }?;
        // The names `for...in` visits, as napi's `HashMap` conversion reads them.
        let names = obj.get_property_names()?;
        let len = names.get_array_length()?;
        let mut entries = Vec::new();
        for i in 0..len {
            let key: Unknown<'_> = names.get_element(i)?;
            let (name, lone) = js_text(key.coerce_to_string()?)?;
            let value: Unknown<'_> = obj.get_property(key)?;
            if value.get_type()? != ValueType::Undefined {
                entries.push(ParamEntry { name, lone, value });
            }
        }
        Ok(Self(entries))
    }
}

/// The optional fields of `EvaluateOptions` other than roles and params: the hot path
/// (`Gate.evaluateParts`) passes the common fields positionally and this object only when
/// one of these is set, so a typical call reads no absent properties.
#[napi(object, object_to_js = false)]
pub struct ContextExtras {
    pub resource: Option<String>,
    pub ip: Option<String>,
    pub session_id: Option<String>,
    pub origin_ip: Option<String>,
    pub current_geo: Option<GeoLocationInput>,
    pub origin_geo: Option<GeoLocationInput>,
    pub device: Option<DeviceInput>,
    pub origin_device: Option<DeviceInput>,
    pub session_started_at: Option<f64>,
    pub action_count: Option<f64>,
}

/// The same conversion as `TryFrom<EvaluateOptions>`, from positional parts.
pub fn from_parts(
    principal_id: String,
    principal_kind: String,
    action_name: String,
    roles: Option<Vec<String>>,
    params: Option<Params<'_>>,
    extras: Option<ContextExtras>,
) -> Result<ActionContext> {
    // Read as `Params` (names decoded strictly), not napi's `HashMap`: that reads names as
    // UTF-8, so a name with a lone surrogate is looked up as another name and left out.
    let params = params.map(|p| p.0);
    let mut ctx = base(principal_id, &principal_kind, action_name, roles, params)?;
    if let Some(e) = extras {
        apply_extras(&mut ctx, e.into())?;
    }
    ctx.normalize();
    Ok(ctx)
}

/// A JS `Float64Array` shared with one TS `Gate` (src/gate.ts): the fast path reads the
/// principal kind and the params' numbers from it and writes the verdict's numbers back, so
/// none of them costs a property read. Rust holds only a strong reference to the array's
/// `ArrayBuffer` and the view's position in it, never a pointer across calls: JS can detach
/// or shrink the buffer at any time (`attachScratch` is reachable through `gate.native`, and
/// `structuredClone(a, { transfer: [a.buffer] })` detaches), so every call re-derives the data
/// pointer and checks the buffer still holds the view ([`Scratch::view`]). The buffer, not the
/// typed array, is what each call asks for: `napi_get_arraybuffer_info` costs a fraction of
/// `napi_get_typedarray_info`, which also walks the element types.
pub struct Scratch {
    env: sys::napi_env,
    buffer: sys::napi_ref,
    /// The view's start in the buffer, in bytes, and its length in numbers, as attached.
    byte_offset: usize,
    len: usize,
}

/// The typed array's backing store as it is during one native call (see [`Scratch::view`]).
pub struct ScratchView<'a> {
    ptr: *mut f64,
    len: usize,
    _scratch: std::marker::PhantomData<&'a Scratch>,
}

/// `attachScratch`'s argument: any value, checked to be a `Float64Array` by [`Scratch::new`].
pub struct ScratchArg {
    env: sys::napi_env,
    value: sys::napi_value,
}

impl TypeName for ScratchArg {
    fn type_name() -> &'static str {
        "Float64Array"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for ScratchArg {}

impl FromNapiValue for ScratchArg {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(Self { env, value })
    }
}

impl Scratch {
    pub fn new(arg: ScratchArg) -> Result<Self> {
        let not_an_array = || invalid_argument("attachScratch needs a Float64Array");
        let mut is_typed = false;
        // SAFETY: `env`/`value` belong to the current call (`attachScratch`).
        let status = unsafe { sys::napi_is_typedarray(arg.env, arg.value, &mut is_typed) };
        if status != sys::Status::napi_ok || !is_typed {
            return Err(not_an_array());
        }
        let mut kind = sys::TypedarrayType::int8_array;
        let mut len = 0usize;
        let mut data = std::ptr::null_mut();
        let mut buffer = std::ptr::null_mut();
        let mut byte_offset = 0usize;
        // SAFETY: as above; the out-pointers are live locals.
        let status = unsafe {
            sys::napi_get_typedarray_info(
                arg.env,
                arg.value,
                &mut kind,
                &mut len,
                &mut data,
                &mut buffer,
                &mut byte_offset,
            )
        };
        if status != sys::Status::napi_ok || kind != sys::TypedarrayType::float64_array {
            return Err(not_an_array());
        }
        if len < fast_in::SCRATCH_LEN {
            return Err(invalid_argument(format!(
                "attachScratch needs a Float64Array of at least {} numbers",
                fast_in::SCRATCH_LEN
            )));
        }
        let mut reference = std::ptr::null_mut();
        // SAFETY: as above; the reference is deleted in `Drop`, on the same thread.
        let status = unsafe { sys::napi_create_reference(arg.env, buffer, 1, &mut reference) };
        if status != sys::Status::napi_ok {
            return Err(to_js(
                codes::INTERNAL,
                "attachScratch: cannot hold the array",
            ));
        }
        let scratch = Self {
            env: arg.env,
            buffer: reference,
            byte_offset,
            len,
        };
        scratch.view()?;
        Ok(scratch)
    }

    /// The array's data as it is now. Only valid until JS runs again: callers derive it
    /// inside one native call and never keep it, so a detached or shrunk buffer is an
    /// `INTERNAL` error, never freed memory.
    pub fn view(&self) -> Result<ScratchView<'_>> {
        let mut value = std::ptr::null_mut();
        let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
        let mut byte_len = 0usize;
        // SAFETY: on the JS thread that created the reference (the registry is thread-local),
        // inside a native call; the out-pointers are live locals.
        let status = unsafe {
            let s = sys::napi_get_reference_value(self.env, self.buffer, &mut value);
            if s != sys::Status::napi_ok || value.is_null() {
                sys::Status::napi_generic_failure
            } else {
                sys::napi_get_arraybuffer_info(self.env, value, &mut data, &mut byte_len)
            }
        };
        let view_end = self
            .len
            .checked_mul(std::mem::size_of::<f64>())
            .and_then(|n| n.checked_add(self.byte_offset));
        let holds_view = view_end.is_some_and(|end| end <= byte_len);
        let start = (data as usize).wrapping_add(self.byte_offset);
        if status != sys::Status::napi_ok
            || data.is_null()
            || !holds_view
            || !start.is_multiple_of(std::mem::align_of::<f64>())
        {
            return Err(to_js(
                codes::INTERNAL,
                "the gate's scratch array was detached or emptied; build a new Gate",
            ));
        }
        Ok(ScratchView {
            // In bounds: the buffer holds `byte_offset + len * 8` bytes (checked above).
            ptr: data.cast::<u8>().wrapping_add(self.byte_offset).cast(),
            len: self.len,
            _scratch: std::marker::PhantomData,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: dropped on the JS thread (the registry entry is an `Rc` in a thread-local,
        // the gate a JS-thread object); a failure only leaks the reference.
        unsafe {
            sys::napi_delete_reference(self.env, self.buffer);
        }
    }
}

impl ScratchView<'_> {
    pub fn get(&self, i: usize) -> f64 {
        if i < self.len {
            // SAFETY: `ptr`/`len` were read from the live array in this native call and no JS
            // has run since (see `Scratch::view`); `i` is in bounds. Exercised by
            // __test__/native-safety.test.ts (detached scratch).
            unsafe { *self.ptr.add(i) }
        } else {
            f64::NAN
        }
    }

    pub fn set(&self, i: usize, v: f64) {
        if i < self.len {
            // SAFETY: as in `get`; JS thread only, nothing else touches the array meanwhile.
            unsafe { *self.ptr.add(i) = v }
        }
    }
}

/// A JS string argument read later, in one N-API call, with the length the TS layer wrote
/// into the scratch array (napi-rs's `String` asks for the length first: two calls).
pub struct RawText {
    env: sys::napi_env,
    value: sys::napi_value,
}

impl TypeName for RawText {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for RawText {}

impl FromNapiValue for RawText {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(Self { env, value })
    }
}

impl RawText {
    /// Claimed lengths up to this many UTF-16 units are allocated without asking the string.
    const TRUSTED_LEN: usize = 1 << 16;

    /// The string's length in UTF-16 units, asked of N-API.
    fn actual_len(&self) -> Result<usize> {
        let mut len = 0usize;
        // SAFETY: `env`/`value` belong to the current call; a null buffer asks for the length
        // only. Exercised by __test__/native-safety.test.ts (a text length that lies).
        let status = unsafe {
            sys::napi_get_value_string_utf16(
                self.env,
                self.value,
                std::ptr::null_mut(),
                0,
                &mut len,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(to_js(codes::INTERNAL, "fast path: text must be a string"));
        }
        Ok(len)
    }

    /// Reads the string as UTF-16 into `buf` (replacing its contents); `len` must be its exact
    /// length. The buffer is reused from call to call by the synchronous fast path.
    fn read_into(&self, len: usize, buf: &mut Vec<u16>) -> Result<()> {
        // The length comes from the scratch array, which any JS holding the gate can write: a
        // large claim is checked against the string before the buffer is sized for it (a
        // 2-unit string claiming 10^9 units would allocate 2 GB, and a failed allocation
        // aborts). Small claims skip the extra call: their buffer costs nothing to get wrong.
        if len > Self::TRUSTED_LEN && self.actual_len()? != len {
            return Err(to_js(codes::INTERNAL, "fast path: text length mismatch"));
        }
        buf.clear();
        buf.resize(len + 1, 0);
        let mut written = 0usize;
        // SAFETY: `env`/`value` belong to the current call; the buffer holds `len + 1` units.
        let status = unsafe {
            sys::napi_get_value_string_utf16(
                self.env,
                self.value,
                buf.as_mut_ptr(),
                buf.len(),
                &mut written,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(to_js(codes::INTERNAL, "fast path: text must be a string"));
        }
        if written != len {
            return Err(to_js(codes::INTERNAL, "fast path: text length mismatch"));
        }
        buf.truncate(len);
        Ok(())
    }
}

/// The fast path's context as an owned value (`evaluateSubmit` queues it).
pub fn from_fast(
    scratch: &ScratchView<'_>,
    text: &RawText,
    names: &Names,
    extras: Option<ContextExtras>,
) -> Result<ActionContext> {
    let mut units = Vec::new();
    let mut ctx = ActionContext::new(String::new(), PrincipalKind::User, String::new());
    read_fast(scratch, text, &mut units)?;
    fill_fast(scratch, &units, names, extras, &mut ctx)?;
    Ok(ctx)
}

/// Reads the fast path's text (its length is in the scratch array) into `units`.
pub fn read_fast(scratch: &ScratchView<'_>, text: &RawText, units: &mut Vec<u16>) -> Result<()> {
    text.read_into(len_of(scratch.get(fast_in::TEXT_LEN))?, units)
}

/// Sets every field of `ctx` from the fast path's input, keeping the strings' and vectors'
/// buffers, so the synchronous path allocates nothing for a context it has seen the shape of.
/// The TS layer already checked the kind is known, the id and the action are strings, and
/// every param is a finite number or a string (anything else goes through `from_parts` and
/// its errors).
pub fn fill_fast(
    scratch: &ScratchView<'_>,
    text: &[u16],
    names: &Names,
    extras: Option<ContextExtras>,
    ctx: &mut ActionContext,
) -> Result<()> {
    ctx.principal_kind = PrincipalKind::ALL
        .get(len_of(scratch.get(fast_in::KIND))?)
        .copied()
        .ok_or_else(|| to_js(codes::INTERNAL, "fast path: bad principal kind index"))?;
    let mut at = 0usize;
    // Whether every text was ASCII, which is already in NFC (see the end).
    let mut ascii = true;
    // Returns the text's first lone surrogate, if any.
    let mut take = |len: f64, into: &mut String| -> Result<Option<LoneSurrogate>> {
        if len < 0.0 {
            // An interned name (ASCII, so `ascii` stands).
            let name = names
                .by_slot(len)
                .ok_or_else(|| to_js(codes::INTERNAL, "fast path: unknown interned name"))?;
            into.clear();
            into.push_str(name);
            return Ok(None);
        }
        let end = at.saturating_add(len_of(len)?);
        let s = text
            .get(at..end)
            .ok_or_else(|| to_js(codes::INTERNAL, "fast path: text out of range"))?;
        at = end;
        Ok(match set_text(into, s) {
            Decoded::Ascii => None,
            Decoded::Unicode => {
                ascii = false;
                None
            }
            Decoded::IllFormed(lone) => {
                ascii = false;
                Some(lone)
            }
        })
    };
    // A lone surrogate in the principal id, the action or a role reads as U+FFFD, which the
    // name rules refuse (`validate`); in a param it is noted here, for `validate` to refuse.
    ctx.ill_formed_param = None;
    take(scratch.get(fast_in::ID_LEN), &mut ctx.principal_id)?;
    take(scratch.get(fast_in::ACTION_LEN), &mut ctx.action_name)?;
    if ctx.principal_id.is_empty() {
        return Err(invalid_argument("principalId must be a non-empty string"));
    }
    if ctx.action_name.is_empty() {
        return Err(invalid_argument("actionName must be a non-empty string"));
    }
    // Roles travel in `text` too: one string read instead of an array and a string per role.
    let role_count = len_of(scratch.get(fast_in::ROLE_COUNT))?;
    if role_count > fast_in::MAX_ROLES {
        return Err(to_js(codes::INTERNAL, "fast path: too many roles"));
    }
    ctx.roles.truncate(role_count);
    for r in 0..role_count {
        if r == ctx.roles.len() {
            ctx.roles.push(String::new());
        }
        take(scratch.get(fast_in::ROLES + r), &mut ctx.roles[r])?;
    }
    let count = len_of(scratch.get(fast_in::PARAM_COUNT))?;
    if count > fast_in::MAX_PARAMS {
        return Err(to_js(codes::INTERNAL, "fast path: too many params"));
    }
    ctx.params.truncate(count);
    let mut i = fast_in::PARAMS;
    for p in 0..count {
        if p == ctx.params.len() {
            ctx.params.push((String::new(), ParamValue::Number(0.0)));
        }
        let (name, value) = &mut ctx.params[p];
        let lone = take(scratch.get(i), name)?;
        note_ill_formed(&mut ctx.ill_formed_param, lone, || param_name_field(name));
        let v = scratch.get(i + 2);
        if scratch.get(i + 1) == 0.0 {
            if !v.is_finite() {
                return Err(invalid_argument(format!(
                    "param '{}' must be a finite number, got {v}",
                    excerpt(name)
                )));
            }
            *value = ParamValue::Number(v);
        } else {
            if !matches!(value, ParamValue::Text(_)) {
                *value = ParamValue::Text(String::new());
            }
            if let ParamValue::Text(t) = value {
                let lone = take(v, t)?;
                note_ill_formed(&mut ctx.ill_formed_param, lone, || param_field(name));
            }
        }
        i += fast_in::STRIDE;
    }
    match extras {
        Some(e) => apply_extras(ctx, e.into())?,
        // Every optional field is reset: none survives from the previous context.
        None if has_extras(ctx) => apply_extras(ctx, Extras::default())?,
        None => {}
    }
    // `normalize` rewrites the names and the resource into NFC; ASCII names need nothing.
    if !ascii || ctx.resource.is_some() {
        ctx.normalize();
    }
    Ok(())
}

/// Whether any optional field of `ctx` is set. Lists every field, so a new one cannot be
/// forgotten here (the pattern would not compile).
fn has_extras(ctx: &ActionContext) -> bool {
    let ActionContext {
        principal_id: _,
        principal_kind: _,
        action_name: _,
        roles: _,
        params: _,
        resource,
        ip,
        session_id,
        origin_ip,
        current_geo,
        origin_geo,
        device,
        origin_device,
        session_started_at,
        action_count,
        ill_formed_param: _,
    } = ctx;
    resource.is_some()
        || ip.is_some()
        || session_id.is_some()
        || origin_ip.is_some()
        || current_geo.is_some()
        || origin_geo.is_some()
        || device.is_some()
        || origin_device.is_some()
        || session_started_at.is_some()
        || action_count.is_some()
}

/// How a text read from UTF-16 code units turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoded {
    /// Every unit was ASCII (already in NFC).
    Ascii,
    /// Well-formed, not all ASCII.
    Unicode,
    /// Not well-formed: this is its first lone surrogate.
    IllFormed(LoneSurrogate),
}

/// Replaces `out` by UTF-16 code units, strictly (see [`decode_utf16`]). Names are nearly
/// always ASCII: those are narrowed unit by unit into the buffer `out` already has, instead of
/// decoded character by character.
fn set_text(out: &mut String, units: &[u16]) -> Decoded {
    out.clear();
    if units.iter().all(|&u| u < 0x80) {
        // SAFETY: every unit is below 0x80 (checked just above), so every byte pushed is ASCII
        // and the string stays valid UTF-8. Exercised by `tests::set_text_reads_ascii_and_any_
        // other_text_as_utf16_says` and by every `gate.evaluate` in __test__/.
        unsafe { out.as_mut_vec() }.extend(units.iter().map(|&u| u.to_le_bytes()[0]));
        return Decoded::Ascii;
    }
    match decode_utf16(out, units) {
        Some(lone) => Decoded::IllFormed(lone),
        None => Decoded::Unicode,
    }
}

/// The first lone surrogate of a UTF-16 text: a high surrogate not followed by a low one, or a
/// low one not preceded by a high one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoneSurrogate {
    /// In UTF-16 units, as JS indexes strings.
    index: usize,
    unit: u16,
}

impl LoneSurrogate {
    /// Why the text of `field` cannot stand for itself, worded as the TS layer words the same
    /// refusal (`wellFormedProblem`, src/well-formed.ts), so the message is one whichever side
    /// finds the surrogate.
    pub(crate) fn problem(self, field: &str) -> String {
        format!(
            "{field} has a lone surrogate (\\u{:04X}) at index {}: only well-formed strings are accepted",
            self.unit, self.index
        )
    }
}

/// Appends `units` decoded to `out`, and returns their first lone surrogate, if any. Each lone
/// surrogate is appended as U+FFFD, as napi's own conversion would: the caller refuses the
/// text, so `'acme\u{D800}'` never stands for `'acme\u{DFFF}'` or `'acme\u{FFFD}'`. One pass,
/// the one decoding needs anyway.
pub(crate) fn decode_utf16(out: &mut String, units: &[u16]) -> Option<LoneSurrogate> {
    out.reserve(units.len());
    let mut index = 0usize;
    let mut first = None;
    for decoded in char::decode_utf16(units.iter().copied()) {
        match decoded {
            Ok(c) => {
                out.push(c);
                index += c.len_utf16();
            }
            Err(e) => {
                first.get_or_insert(LoneSurrogate {
                    index,
                    unit: e.unpaired_surrogate(),
                });
                out.push(char::REPLACEMENT_CHARACTER);
                index += 1;
            }
        }
    }
    first
}

/// A JS string decoded strictly (see [`decode_utf16`]).
pub(crate) fn js_text(s: JsString<'_>) -> napi::Result<(String, Option<LoneSurrogate>)> {
    let len = s.utf16_len()?;
    let units = s.into_utf16()?;
    // napi's buffer ends with a terminating NUL after the text's own units: only those count.
    let text = units
        .as_slice()
        .get(..len)
        .ok_or_else(|| napi::Error::from_reason("a string changed length while it was read"))?;
    let mut out = String::new();
    let lone = decode_utf16(&mut out, text);
    Ok((out, lone))
}

/// A param, as errors name it.
fn param_field(name: &str) -> String {
    format!("param '{}'", excerpt(name))
}

/// A param's name, as errors name it (with U+FFFD where its lone surrogate was).
fn param_name_field(name: &str) -> String {
    format!("param name '{}'", excerpt(name))
}

/// Keeps the first ill-formed param's problem in `slot` (`ActionContext::ill_formed_param`,
/// which `validate` refuses the context with); `field` names the param.
fn note_ill_formed(
    slot: &mut Option<String>,
    lone: Option<LoneSurrogate>,
    field: impl FnOnce() -> String,
) {
    if let (None, Some(lone)) = (&slot, lone) {
        *slot = Some(lone.problem(&field()));
    }
}

/// A length or count written by the TS layer.
fn len_of(v: f64) -> Result<usize> {
    // `as` truncates (NaN becomes 0, out-of-range values saturate): the round trip gives `v`
    // back only for a whole number in range.
    let n = v as usize;
    if n <= 1_000_000_000 && n as f64 == v {
        Ok(n)
    } else {
        Err(to_js(codes::INTERNAL, "fast path: bad length"))
    }
}

impl From<ContextExtras> for Extras {
    fn from(e: ContextExtras) -> Self {
        Extras {
            resource: e.resource,
            ip: e.ip,
            session_id: e.session_id,
            origin_ip: e.origin_ip,
            current_geo: e.current_geo,
            origin_geo: e.origin_geo,
            device: e.device,
            origin_device: e.origin_device,
            session_started_at: e.session_started_at,
            action_count: e.action_count,
        }
    }
}

/// Field bundle shared by both entry points.
#[derive(Default)]
struct Extras {
    resource: Option<String>,
    ip: Option<String>,
    session_id: Option<String>,
    origin_ip: Option<String>,
    current_geo: Option<GeoLocationInput>,
    origin_geo: Option<GeoLocationInput>,
    device: Option<DeviceInput>,
    origin_device: Option<DeviceInput>,
    session_started_at: Option<f64>,
    action_count: Option<f64>,
}

fn base(
    principal_id: String,
    principal_kind: &str,
    action_name: String,
    roles: Option<Vec<String>>,
    params: Option<Vec<ParamEntry<'_>>>,
) -> Result<ActionContext> {
    let kind = PrincipalKind::parse(principal_kind).ok_or_else(|| {
        invalid_argument(format!(
            "principalKind must be one of {}, got '{}'",
            PrincipalKind::names(),
            excerpt(principal_kind)
        ))
    })?;
    let mut ctx = checked(principal_id, kind, action_name, roles)?;
    if let Some(params) = params {
        ctx.params.reserve(params.len());
        for ParamEntry { name, lone, value } in params {
            note_ill_formed(&mut ctx.ill_formed_param, lone, || param_name_field(&name));
            let (value, lone) = param_value(&name, value)?;
            note_ill_formed(&mut ctx.ill_formed_param, lone, || param_field(&name));
            ctx.params.push((name, value));
        }
    }
    Ok(ctx)
}

/// The context's required fields, checked.
fn checked(
    principal_id: String,
    kind: PrincipalKind,
    action_name: String,
    roles: Option<Vec<String>>,
) -> Result<ActionContext> {
    if principal_id.is_empty() {
        return Err(invalid_argument("principalId must be a non-empty string"));
    }
    if action_name.is_empty() {
        return Err(invalid_argument("actionName must be a non-empty string"));
    }
    let mut ctx = ActionContext::new(principal_id, kind, action_name);
    ctx.roles = roles.unwrap_or_default();
    Ok(ctx)
}

fn apply_extras(ctx: &mut ActionContext, o: Extras) -> Result<()> {
    ctx.resource = o.resource;
    ctx.ip = o.ip;
    ctx.session_id = o.session_id;
    ctx.origin_ip = o.origin_ip;
    ctx.current_geo = o.current_geo.map(|g| geo("currentGeo", g)).transpose()?;
    ctx.origin_geo = o.origin_geo.map(|g| geo("originGeo", g)).transpose()?;
    ctx.device = o.device.map(device);
    ctx.origin_device = o.origin_device.map(device);
    ctx.session_started_at = o
        .session_started_at
        .map(|v| whole("sessionStartedAt", v))
        .transpose()?;
    ctx.action_count = o
        .action_count
        .map(|v| whole("actionCount", v))
        .transpose()?
        .map(|v| v.unsigned_abs());
    Ok(())
}

impl<'env> TryFrom<EvaluateOptions<'env>> for ActionContext {
    type Error = napi::Error<&'static str>;

    fn try_from(o: EvaluateOptions<'env>) -> Result<Self> {
        let mut ctx = base(
            o.principal_id,
            &o.principal_kind,
            o.action_name,
            o.roles.map(|r| r.0),
            o.params.map(|p| p.0),
        )?;
        apply_extras(
            &mut ctx,
            Extras {
                resource: o.resource,
                ip: o.ip,
                session_id: o.session_id,
                origin_ip: o.origin_ip,
                current_geo: o.current_geo,
                origin_geo: o.origin_geo,
                device: o.device,
                origin_device: o.origin_device,
                session_started_at: o.session_started_at,
                action_count: o.action_count,
            },
        )?;
        ctx.normalize();
        Ok(ctx)
    }
}

/// A param's value, with the first lone surrogate of a string value.
fn param_value(name: &str, value: Unknown<'_>) -> Result<(ParamValue, Option<LoneSurrogate>)> {
    let ty = value
        .get_type()
        .map_err(|e| invalid_argument(format!("param '{}': {}", excerpt(name), e.reason)))?;
    let v = match ty {
        ValueType::Number => {
            let n: f64 = value
                .coerce_to_number()
                .and_then(|n| n.get_double())
                .map_err(|e| {
                    invalid_argument(format!("param '{}': {}", excerpt(name), e.reason))
                })?;
            if !n.is_finite() {
                return Err(invalid_argument(format!(
                    "param '{}' must be a finite number, got {n}",
                    excerpt(name)
                )));
            }
            ParamValue::Number(n)
        }
        ValueType::String => {
            let (s, lone) = value.coerce_to_string().and_then(js_text).map_err(|e| {
                invalid_argument(format!("param '{}': {}", excerpt(name), e.reason))
            })?;
            return Ok((ParamValue::Text(s), lone));
        }
        other => {
            return Err(invalid_argument(format!(
                "param '{}' must be a number or a string, got {}",
                excerpt(name),
                type_name(other)
            )))
        }
    };
    Ok((v, None))
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::External => "external",
        ValueType::BigInt => "bigint",
        _ => "unknown",
    }
}

fn geo(field: &str, g: GeoLocationInput) -> Result<GeoLocation> {
    if g.country_code.is_empty() {
        return Err(invalid_argument(format!(
            "{field}.countryCode must be a non-empty string"
        )));
    }
    // Half a pair reads as no coordinates at all: a geo drift threshold would then find the
    // distance unmeasurable instead of measuring what the caller meant (`GeoLocation` in
    // src/context.ts refuses it with the same words).
    let (given, missing) = match (g.latitude, g.longitude) {
        (Some(_), None) => ("latitude", "longitude"),
        (None, Some(_)) => ("longitude", "latitude"),
        _ => ("", ""),
    };
    if !missing.is_empty() {
        return Err(invalid_argument(format!(
            "{field}.{missing} is missing: {field}.{given} is given, and coordinates are a pair (latitude and longitude, or neither)"
        )));
    }
    if let Some(lat) = g.latitude {
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(invalid_argument(format!(
                "{field}.latitude must be a number between -90 and 90, got {lat}"
            )));
        }
    }
    if let Some(lon) = g.longitude {
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(invalid_argument(format!(
                "{field}.longitude must be a number between -180 and 180, got {lon}"
            )));
        }
    }
    Ok(GeoLocation {
        country_code: g.country_code,
        region: g.region,
        city: g.city,
        latitude: g.latitude,
        longitude: g.longitude,
    })
}

fn device(d: DeviceInput) -> DeviceFingerprint {
    DeviceFingerprint {
        hash: d.hash,
        description: d.description,
    }
}

/// A non-negative whole number that fits JS's exact integer range.
fn whole(field: &str, v: f64) -> Result<i64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        // A whole number below 2^53: exact as an i64.
        Ok(v as i64)
    } else {
        Err(invalid_argument(format!(
            "{field} must be a non-negative integer, got {v}"
        )))
    }
}

/// A revocation target from JS (`lift`, `publish`, `forget`): its kind, checked, and a
/// non-empty id.
pub(crate) fn scope_target(target_kind: &str, target_id: &str) -> Result<ScopeKind> {
    let kind = kavach_core::invalidation::parse_scope_kind(target_kind).js()?;
    if target_id.is_empty() {
        return Err(invalid_argument("targetId must be a non-empty string"));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::{decode_utf16, set_text, Decoded, LoneSurrogate};

    fn text_of(units: &[u16]) -> String {
        // Starts from a used buffer: nothing of it may survive.
        let mut out = String::from("previous contents");
        set_text(&mut out, units);
        out
    }

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn set_text_reads_ascii_and_any_other_text_as_utf16_says() {
        for s in [
            "",
            "read",
            "delete_user",
            "agent-bot 7~",
            "opérateur",
            "dеlete",
            "日本",
            "🔑key",
        ] {
            assert_eq!(text_of(&units(s)), s);
        }
        assert_eq!(text_of(&[0x61, 0xD800, 0x62]), "a\u{FFFD}b");
        assert_eq!(text_of(&[0x7F, 0x80]), "\u{7F}\u{80}");
        // ASCII longer than one 64-unit chunk, at and around the chunk boundary.
        for len in [63, 64, 65, 128, 150] {
            let s: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert_eq!(text_of(&units(&s)), s);
        }
    }

    #[test]
    fn set_text_says_whether_text_was_ascii_unicode_or_ill_formed() {
        let mut out = String::new();
        assert_eq!(set_text(&mut out, &units("read")), Decoded::Ascii);
        assert_eq!(set_text(&mut out, &units("🔑key")), Decoded::Unicode);
        assert_eq!(
            set_text(&mut out, &[0x61, 0xDFFF]),
            Decoded::IllFormed(LoneSurrogate {
                index: 1,
                unit: 0xDFFF
            })
        );
    }

    #[test]
    fn decoding_finds_the_first_lone_surrogate_at_its_utf16_index() {
        let lone = |units: &[u16]| {
            let mut out = String::new();
            decode_utf16(&mut out, units).map(|l| (l.index, l.unit, out))
        };
        // A high surrogate with no low one, a low one with no high one, after a pair.
        let acme: Vec<u16> = units("acme").into_iter().chain([0xD800]).collect();
        assert_eq!(lone(&acme), Some((4, 0xD800, "acme\u{FFFD}".to_owned())));
        let after_pair: Vec<u16> = units("🔑")
            .into_iter()
            .chain([0xDC00, 0x78, 0xDBFF])
            .collect();
        assert_eq!(lone(&after_pair).map(|(i, u, _)| (i, u)), Some((2, 0xDC00)));
        assert_eq!(
            lone(&[0xD800, 0x61]).map(|(i, u, _)| (i, u)),
            Some((0, 0xD800))
        );
        assert_eq!(lone(&units("acme\u{FFFD} 🔑")), None);
        assert_eq!(
            LoneSurrogate {
                index: 4,
                unit: 0xD800
            }
            .problem("param 'tenant'"),
            "param 'tenant' has a lone surrogate (\\uD800) at index 4: only well-formed strings are accepted"
        );
    }
}
