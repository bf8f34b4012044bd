//! Byte sizes of every key, signature and ciphertext (FORMATS.md, "Algorithms").

/// ML-DSA-65 signing-key seed (xi).
pub const ML_DSA_SEED_LEN: usize = 32;
/// ML-DSA-65 verifying key.
pub const ML_DSA_VK_LEN: usize = 1952;
/// ML-DSA-65 signature.
pub const ML_DSA_SIG_LEN: usize = 3309;
/// Ed25519 seed.
pub const ED25519_SEED_LEN: usize = 32;
/// Ed25519 verifying key.
pub const ED25519_VK_LEN: usize = 32;
/// Ed25519 signature.
pub const ED25519_SIG_LEN: usize = 64;
/// ML-KEM-768 decapsulation-key seed (d ‖ z).
pub const ML_KEM_SEED_LEN: usize = 64;
/// ML-KEM-768 encapsulation key.
pub const ML_KEM_EK_LEN: usize = 1184;
/// ML-KEM-768 ciphertext.
pub const ML_KEM_CT_LEN: usize = 1088;
/// Shared secret of ML-KEM-768 and of X25519.
pub const SHARED_SECRET_LEN: usize = 32;
/// X25519 secret and public key.
pub const X25519_LEN: usize = 32;
