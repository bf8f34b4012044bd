//! Hook for signing permits. Implemented outside core (kavach-pq via the binding) so the core
//! stays free of cryptography.

use crate::verdict::PermitToken;

pub trait PermitSigner: Send + Sync {
    /// The signature envelope bytes for `token` (FORMATS.md). An error refuses the action
    /// (`IDENTITY_FAILED`): an unsigned permit is never handed out by a signing gate.
    fn sign(&self, token: &PermitToken) -> Result<Vec<u8>, String>;
}
