//! The permit-token fields a signer covers, and their canonical signed bytes (FORMATS.md
//! "Permit token: the signed bytes").

use uuid::Uuid;

use crate::error::{PqError, Result};

/// What a permit signature covers. Times are unix seconds: sub-second precision is not
/// signed, so a token rebuilt from a verdict's `issuedAt`/`expiresAt` verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFields {
    /// Permit token id.
    pub token_id: Uuid,
    /// Id of the evaluation that produced the permit.
    pub evaluation_id: Uuid,
    /// Issue time (unix seconds).
    pub issued_at: i64,
    /// Expiry time (unix seconds).
    pub expires_at: i64,
    /// The permitted action.
    pub action_name: String,
}

impl TokenFields {
    /// Build from string UUIDs (as the JS layer passes them), each in the canonical
    /// lowercase hyphenated form (any other spelling is `INVALID_ARGUMENT`).
    pub fn parse(
        token_id: &str,
        evaluation_id: &str,
        issued_at: i64,
        expires_at: i64,
        action_name: impl Into<String>,
    ) -> Result<Self> {
        let action_name = action_name.into();
        check_action_name(&action_name)?;
        Ok(Self {
            token_id: parse_uuid("tokenId", token_id)?,
            evaluation_id: parse_uuid("evaluationId", evaluation_id)?,
            issued_at,
            expires_at,
            action_name,
        })
    }

    /// Build from a token as JS hands it over: times as numbers, and the unsigned
    /// `observeOnly` flag a verdict's `permitToken` carries. The signed bytes hold whole
    /// seconds and no observe flag, so anything they would round or drop is refused here
    /// instead of verifying as a different token: a time must be an integer (a fraction such
    /// as `+0.999` is an error naming the field), and `observeOnly` must be absent or `false`
    /// (observe-only permits are never signed, so a signed token cannot be one).
    pub fn from_js(
        token_id: &str,
        evaluation_id: &str,
        issued_at: f64,
        expires_at: f64,
        action_name: impl Into<String>,
        observe_only: Option<bool>,
    ) -> Result<Self> {
        if observe_only == Some(true) {
            return Err(PqError::InvalidArgument(
                "observeOnly is true: observe-only permits are never signed, so no signature \
                 can vouch for one (pass false or leave it out)"
                    .into(),
            ));
        }
        Self::parse(
            token_id,
            evaluation_id,
            whole_unix_seconds("issuedAt", issued_at)?,
            whole_unix_seconds("expiresAt", expires_at)?,
            action_name,
        )
    }

    /// `token_id (16) ‖ evaluation_id (16) ‖ issued_at i64 LE ‖ expires_at i64 LE ‖ action UTF-8`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.action_name.len());
        out.extend_from_slice(self.token_id.as_bytes());
        out.extend_from_slice(self.evaluation_id.as_bytes());
        out.extend_from_slice(&self.issued_at.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(self.action_name.as_bytes());
        out
    }
}

/// Largest integer a JS number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JS number that is a whole unix second; anything the i64 field would round is refused.
fn whole_unix_seconds(field: &str, v: f64) -> Result<i64> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER {
        Ok(v as i64)
    } else {
        Err(PqError::InvalidArgument(format!(
            "{field} must be a whole unix time in seconds (an integer; fractions are not signed), got {v}"
        )))
    }
}

/// A UUID in its one canonical spelling: 36 characters, lowercase hex, hyphenated (what the
/// gate issues and FORMATS.md shows). The signed bytes hold the 16 raw bytes, so every other
/// spelling the `uuid` crate reads (uppercase, braces, `urn:uuid:`, no hyphens) would verify
/// under the same signature as a different string, and a caller that keeps used token ids as
/// strings could be replayed with a respelled id.
fn parse_uuid(field: &str, s: &str) -> Result<Uuid> {
    let shown = crate::excerpt::excerpt(s);
    let id = Uuid::try_parse(s)
        .map_err(|e| PqError::InvalidArgument(format!("{field} '{shown}' is not a UUID: {e}")))?;
    let mut canonical = Uuid::encode_buffer();
    if id.hyphenated().encode_lower(&mut canonical) != s {
        return Err(PqError::InvalidArgument(format!(
            "{field} '{shown}' is not in canonical form: write it as 36 lowercase hex digits \
             with hyphens, as the gate issues it ('{}')",
            id.hyphenated()
        )));
    }
    // The signed bytes carry no label saying they are a permit's, so the shape the gate gives
    // them is what tells a permit from a signed payload (`data ‖ nonce ‖ ts`) made with the
    // same key: ids the gate issues are random (version 4) UUIDs, which the bytes an audit
    // entry starts with (`{"id":"`) are not.
    if id.get_version_num() != 4 || id.get_variant() != uuid::Variant::RFC4122 {
        return Err(PqError::InvalidArgument(format!(
            "{field} '{shown}' is not a random (version 4) UUID, and the gate issues no other"
        )));
    }
    Ok(id)
}

/// An action name the gate could have signed: non-empty, no control characters. A channel
/// message's signed bytes end in NUL-separated, length-prefixed fields, so this keeps a
/// channel signature made with the gate's key from passing as a permit for an action ending
/// in those bytes.
fn check_action_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(PqError::InvalidArgument(
            "actionName must be a non-empty string".into(),
        ));
    }
    if let Some((i, c)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(PqError::InvalidArgument(format!(
            "actionName '{}' contains the control character {} at character {i}: the gate \
             signs no such action name",
            crate::excerpt::excerpt(name),
            c.escape_unicode()
        )));
    }
    Ok(())
}
