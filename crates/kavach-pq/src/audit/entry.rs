//! `AuditEntry`: what one line of the audit chain records, serialised as the `data` of its
//! signed payload (FORMATS.md "Audit chain": compact JSON, fixed field order, absent optional
//! fields as `null`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{PqError, Result};

/// The three verdicts the chain records.
pub const VERDICTS: [&str; 3] = ["permit", "refuse", "invalidate"];

/// Optional fields of an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntryOptions {
    pub resource: Option<String>,
    pub decided_by: Option<String>,
    pub ip: Option<String>,
    /// The gate's evaluation id; a fresh UUID v4 when absent.
    pub evaluation_id: Option<String>,
    pub session_id: Option<String>,
    /// Free-form JSON kept verbatim (the gate adapter marks observe-only verdicts here).
    pub context_snapshot: Option<serde_json::Value>,
}

/// One audited decision. Field order is the JSON field order of FORMATS.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub evaluation_id: String,
    #[serde(with = "crate::json_bytes::rfc3339_z")]
    pub timestamp: DateTime<Utc>,
    pub principal_id: String,
    pub action_name: String,
    pub resource: Option<String>,
    pub verdict: String,
    pub verdict_detail: String,
    pub decided_by: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub context_snapshot: Option<serde_json::Value>,
}

impl AuditEntry {
    /// A new entry stamped now with a fresh UUID v4 id. `verdict` must be `permit`, `refuse`
    /// or `invalidate`.
    pub fn new(
        principal_id: &str,
        action_name: &str,
        verdict: &str,
        detail: &str,
        options: AuditEntryOptions,
    ) -> Result<Self> {
        Self::new_at(
            uuid::Uuid::new_v4().to_string(),
            Utc::now(),
            principal_id,
            action_name,
            verdict,
            detail,
            options,
        )
    }

    /// Same with a caller-chosen id and time (golden tests, fixtures).
    pub fn new_at(
        id: String,
        timestamp: DateTime<Utc>,
        principal_id: &str,
        action_name: &str,
        verdict: &str,
        detail: &str,
        options: AuditEntryOptions,
    ) -> Result<Self> {
        if !VERDICTS.contains(&verdict) {
            return Err(PqError::InvalidArgument(format!(
                "verdict must be 'permit', 'refuse' or 'invalidate', got '{}'",
                crate::excerpt::excerpt(verdict)
            )));
        }
        if principal_id.is_empty() {
            return Err(PqError::InvalidArgument("principal id is empty".into()));
        }
        if action_name.is_empty() {
            return Err(PqError::InvalidArgument("action name is empty".into()));
        }
        Ok(Self {
            id,
            evaluation_id: options
                .evaluation_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            timestamp,
            principal_id: principal_id.to_string(),
            action_name: action_name.to_string(),
            resource: options.resource,
            verdict: verdict.to_string(),
            verdict_detail: detail.to_string(),
            decided_by: options.decided_by,
            session_id: options.session_id,
            ip: options.ip,
            context_snapshot: options.context_snapshot,
        })
    }

    /// The compact JSON that becomes the signed payload's `data`.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| PqError::Format(format!("cannot serialise audit entry: {e}")))
    }

    /// Parse an entry back from a payload's `data`.
    pub fn from_json_bytes(data: &[u8]) -> Result<Self> {
        serde_json::from_slice(data)
            .map_err(|e| PqError::Format(format!("invalid audit entry JSON: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn data_json_has_fixed_field_order_and_nulls() {
        let e = AuditEntry::new_at(
            "33333333-3333-4333-8333-333333333330".into(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            "agent-0",
            "issue_refund",
            "permit",
            "token_id=abc",
            AuditEntryOptions {
                evaluation_id: Some("44444444-4444-4444-8444-444444444440".into()),
                session_id: Some("55555555-5555-4555-8555-555555555550".into()),
                ..Default::default()
            },
        )
        .unwrap();
        // Byte-for-byte the data of entry 0 in crates/kavach-pq/tests/data/interop/audit-hybrid.jsonl.
        assert_eq!(
            String::from_utf8(e.to_json_bytes().unwrap()).unwrap(),
            r#"{"id":"33333333-3333-4333-8333-333333333330","evaluation_id":"44444444-4444-4444-8444-444444444440","timestamp":"2026-01-01T00:00:00Z","principal_id":"agent-0","action_name":"issue_refund","resource":null,"verdict":"permit","verdict_detail":"token_id=abc","decided_by":null,"session_id":"55555555-5555-4555-8555-555555555550","ip":null,"context_snapshot":null}"#
        );
    }

    #[test]
    fn unknown_verdict_is_refused() {
        let err = AuditEntry::new("p", "a", "allow", "", AuditEntryOptions::default()).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains("'allow'"));
    }
}
