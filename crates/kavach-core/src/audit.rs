//! Hook for recording verdicts (the signed audit chain implements it outside core).

/// One verdict as the audit trail records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord<'a> {
    pub evaluation_id: String,
    pub principal_id: &'a str,
    pub action_name: &'a str,
    pub resource: Option<&'a str>,
    /// `permit`, `refuse` or `invalidate`.
    pub verdict: &'static str,
    /// permit: the token id; refuse: `[CODE] reason`; invalidate: the scope.
    pub detail: String,
    pub decided_by: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// True for an observe-only gate's would-be verdict.
    pub observed: bool,
}

pub trait AuditSink: Send + Sync {
    fn record(&self, record: &AuditRecord<'_>) -> Result<(), String>;

    /// Why `record` would fail now, found without recording anything (a chain whose key pair
    /// expired, a closed chain): `Gate::explain` asks this, so its verdict is the
    /// `AUDIT_FAILED` refusal `evaluate` would return. The default, `Ok`, is for sinks that
    /// cannot fail so.
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
