//! `DirectoryTokenVerifier`: verifies permit envelopes from any signer listed in a directory.

use std::sync::Arc;

use chrono::Utc;

use crate::directory::PublicKeyDirectory;
use crate::envelope::SignatureEnvelope;
use crate::error::Result;
use crate::token::TokenFields;

/// Verifies envelopes of one mode (hybrid or PQ-only) against a key directory.
#[derive(Debug, Clone)]
pub struct DirectoryTokenVerifier {
    directory: Arc<PublicKeyDirectory>,
    hybrid: bool,
}

impl DirectoryTokenVerifier {
    /// `hybrid` selects the only algorithm accepted (downgrade defence).
    pub fn new(directory: Arc<PublicKeyDirectory>, hybrid: bool) -> Self {
        Self { directory, hybrid }
    }

    /// True in hybrid mode.
    pub fn is_hybrid(&self) -> bool {
        self.hybrid
    }

    /// The directory used.
    pub fn directory(&self) -> &Arc<PublicKeyDirectory> {
        &self.directory
    }

    /// Check `envelope` over `token`: algorithm (before any crypto), key lookup by the
    /// envelope's key id (`public key not found`), bundle expiry when `enforce_expiry`
    /// (`KEY_EXPIRED`, naming the key), then the signatures (`signature verification failed`).
    /// The token's own `expires_at` is not judged here (audits replay old permits).
    pub fn verify(&self, token: &TokenFields, envelope: &[u8], enforce_expiry: bool) -> Result<()> {
        let env = SignatureEnvelope::from_bytes(envelope)?;
        env.check_algorithm(self.hybrid)?;
        let entry = self.directory.entry(&env.key_id)?;
        if enforce_expiry {
            entry.bundle.check_not_expired_at(Utc::now())?;
        }
        env.verify(
            &token.canonical_bytes(),
            self.hybrid,
            &entry.ml_dsa,
            Some(&entry.ed25519),
        )
    }
}
