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
}
