//! Fixed-size secret byte strings that are wiped on drop and never printed.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// `N` secret bytes: zeroized on drop, redacted in `Debug`, no `Display`, no serde.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes<const N: usize>([u8; N]);

impl<const N: usize> SecretBytes<N> {
    /// Take ownership of `bytes` (the caller should wipe any copy it keeps).
    pub fn new(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// Fresh bytes from the OS random number generator.
    pub fn random() -> crate::error::Result<Self> {
        let mut b = Self([0u8; N]);
        crate::error::os_random(&mut b.0)?;
        Ok(b)
    }

    /// Copy from a slice of exactly `N` bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != N {
            return None;
        }
        let mut b = Self([0u8; N]);
        b.0.copy_from_slice(bytes);
        Some(b)
    }

    /// Borrow the secret bytes.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> std::fmt::Debug for SecretBytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes<{N}>([REDACTED])")
    }
}

/// A secret byte vector (variable length), zeroized on drop and redacted in `Debug`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretVec(Vec<u8>);

impl SecretVec {
    /// Take ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Borrow the secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretVec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretVec([REDACTED; {}])", self.0.len())
    }
}
