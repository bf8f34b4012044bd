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
    /// Build from string UUIDs (as the JS layer passes them).
    pub fn parse(
        token_id: &str,
        evaluation_id: &str,
        issued_at: i64,
        expires_at: i64,
        action_name: impl Into<String>,
    ) -> Result<Self> {
        Ok(Self {
            token_id: parse_uuid("tokenId", token_id)?,
            evaluation_id: parse_uuid("evaluationId", evaluation_id)?,
            issued_at,
            expires_at,
            action_name: action_name.into(),
        })
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

fn parse_uuid(field: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s)
        .map_err(|e| PqError::InvalidArgument(format!("{field} '{s}' is not a UUID: {e}")))
}
