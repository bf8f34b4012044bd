//! `AuditEntry`: what one line of the audit chain records, serialised as the `data` of its
//! signed payload (FORMATS.md "Audit chain": compact JSON, fixed field order, absent optional
//! fields as `null`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{PqError, Result};

/// The three verdicts the chain records.
pub const VERDICTS: [&str; 3] = ["permit", "refuse", "invalidate"];

/// An entry's strings and context snapshot may total at most this many bytes (1 MiB). An entry
/// is serialised, signed and held several times over while it is appended, so an unbounded
/// one (a 128 MB `detail`) would cost many times its size; the gate's own entries are a few
/// hundred bytes.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

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
        check_size(&id, principal_id, action_name, detail, &options)?;
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
        crate::json_object::from_slice(data)
            .map_err(|e| PqError::Format(format!("invalid audit entry JSON: {e}")))
    }
}

/// Refuses an entry over [`MAX_ENTRY_BYTES`], naming its largest field. The snapshot is
/// measured by serialising it into a byte budget, which stops at the limit.
fn check_size(
    id: &str,
    principal_id: &str,
    action_name: &str,
    detail: &str,
    o: &AuditEntryOptions,
) -> Result<()> {
    let optional = |name, v: &Option<String>| (name, v.as_ref().map_or(0, String::len));
    let mut fields = [
        ("id", id.len()),
        ("principalId", principal_id.len()),
        ("actionName", action_name.len()),
        ("detail", detail.len()),
        optional("resource", &o.resource),
        optional("decidedBy", &o.decided_by),
        optional("ip", &o.ip),
        optional("evaluationId", &o.evaluation_id),
        optional("sessionId", &o.session_id),
        ("contextSnapshot", 0),
    ];
    let strings: usize = fields.iter().map(|(_, n)| n).sum();
    // The snapshot's serialised length, or None when it alone overflows what the strings left.
    let mut snapshot_len = Some(0);
    if let Some(snapshot) = &o.context_snapshot {
        let room = MAX_ENTRY_BYTES.saturating_sub(strings);
        let mut budget = Budget(room);
        snapshot_len = serde_json::to_writer(&mut budget, snapshot)
            .ok()
            .map(|()| room - budget.0);
    }
    let Some(snapshot_len) = snapshot_len else {
        return Err(too_large(format!(
            "contextSnapshot is over {} bytes as JSON",
            MAX_ENTRY_BYTES.saturating_sub(strings)
        )));
    };
    if strings + snapshot_len <= MAX_ENTRY_BYTES {
        return Ok(());
    }
    if let Some(last) = fields.last_mut() {
        last.1 = snapshot_len;
    }
    let (name, len) = fields
        .iter()
        .max_by_key(|(_, n)| *n)
        .copied()
        .unwrap_or(("detail", 0));
    Err(too_large(format!("{name} is {len} bytes")))
}

fn too_large(what: String) -> PqError {
    PqError::InvalidArgument(format!(
        "audit entry too large: {what}; an entry's fields may total at most {MAX_ENTRY_BYTES} bytes"
    ))
}

/// A writer that accepts at most its remaining byte count, then fails.
struct Budget(usize);

impl std::io::Write for Budget {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self
            .0
            .checked_sub(buf.len())
            .ok_or_else(|| std::io::Error::other("over the entry size limit"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry_with(detail: &str, options: AuditEntryOptions) -> Result<AuditEntry> {
        AuditEntry::new("agent-0", "issue_refund", "refuse", detail, options)
    }

    #[test]
    fn entries_over_the_size_limit_are_refused_naming_the_largest_field() {
        let big = "x".repeat(MAX_ENTRY_BYTES + 1);
        let e = entry_with(&big, AuditEntryOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("invalid argument: audit entry too large: detail is {} bytes; an entry's fields may total at most 1048576 bytes", MAX_ENTRY_BYTES + 1)
        );
        let resource = AuditEntryOptions {
            resource: Some("r".repeat(MAX_ENTRY_BYTES)),
            ..Default::default()
        };
        let e = entry_with("d", resource).unwrap_err();
        assert!(e.to_string().contains("resource is 1048576 bytes"), "{e}");
        // Just under the limit with the fixed fields counted: accepted and serialisable.
        let id_len = uuid::Uuid::nil().to_string().len();
        let fits = "y".repeat(MAX_ENTRY_BYTES - id_len - "agent-0".len() - "issue_refund".len());
        let ok = entry_with(&fits, AuditEntryOptions::default()).unwrap();
        assert_eq!(ok.verdict_detail.len(), fits.len());
        let over = format!("{fits}y");
        assert!(entry_with(&over, AuditEntryOptions::default()).is_err());
    }

    #[test]
    fn a_context_snapshot_counts_as_its_json() {
        let snapshot = |n: usize| AuditEntryOptions {
            context_snapshot: Some(serde_json::json!({ "note": "z".repeat(n) })),
            ..Default::default()
        };
        assert!(entry_with("d", snapshot(1000)).is_ok());
        let e = entry_with("d", snapshot(MAX_ENTRY_BYTES)).unwrap_err();
        assert!(e.to_string().contains("contextSnapshot is over"), "{e}");
        // Escapes count as written: each string of 200,000 quotes is 400,000 bytes of JSON.
        let quotes = AuditEntryOptions {
            context_snapshot: Some(serde_json::Value::Array(vec![
                serde_json::Value::String(
                    "\"".repeat(200_000)
                );
                3
            ])),
            ..Default::default()
        };
        assert!(entry_with("d", quotes).is_err());
    }

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
