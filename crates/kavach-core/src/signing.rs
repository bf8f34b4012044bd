//! Hook for signing permits. Implemented outside core (kavach-pq via the binding) so the core
//! stays free of cryptography.

use crate::verdict::PermitToken;

pub trait PermitSigner: Send + Sync {
    /// The signature envelope bytes for `token` (FORMATS.md). An error refuses the action
    /// (`IDENTITY_FAILED`): an unsigned permit is never handed out by a signing gate.
    fn sign(&self, token: &PermitToken) -> Result<Vec<u8>, String>;

    /// Why `sign` would fail now, found without signing anything (a verifier-only signer, an
    /// expired key pair): `Gate::explain` asks this, so its verdict is the `IDENTITY_FAILED`
    /// refusal `evaluate` would return. The default, `Ok`, is for signers that cannot fail so.
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
