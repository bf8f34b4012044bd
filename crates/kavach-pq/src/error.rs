//! Errors of the post-quantum crate, each with a stable string code.
//!
//! The binding turns these into JS errors whose `code` is [`PqError::code`]; users match on
//! the code and on a few words of the message (`signature verification failed`, `public key
//! not found`, `expired`, `hybrid`, `replay`, `context`, `entry <n>`), so keep both stable.

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, PqError>;

/// Every failure of key handling, signing, verification, directories, audit chains and the
/// secure channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PqError {
    /// A signature (ML-DSA, Ed25519, manifest, audit entry) did not verify.
    #[error("signature verification failed: {0}")]
    SignatureInvalid(String),
    /// No bundle with this key id in the directory.
    #[error("public key not found: '{0}'")]
    KeyNotFound(String),
    /// The key (bundle or key pair) is past its `expires_at`.
    #[error("keypair expired: key '{key_id}' expired at {expired_at}")]
    KeyExpired {
        /// Id of the expired key.
        key_id: String,
        /// When it expired (RFC 3339).
        expired_at: String,
    },
    /// Envelope or chain algorithm does not match the verifier's mode (downgrade defence).
    #[error("algorithm mismatch: {0}")]
    AlgorithmMismatch(String),
    /// A directory manifest is malformed or its root signature is wrong.
    #[error("invalid manifest: {0}")]
    ManifestInvalid(String),
    /// Key bytes of the wrong length or an unusable key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Any other bad input from the caller.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// AEAD open failed or a KEM/DH exchange produced an unusable secret.
    #[error("decryption failed: {0}")]
    DecryptionFailed(String),
    /// A message nonce was seen before or is outside the replay window.
    #[error("replay detected: {0}")]
    Replay(String),
    /// A channel message was bound to another context.
    #[error("context mismatch: {0}")]
    ContextMismatch(String),
    /// An exported secret could not be opened with the given passphrase, or was modified.
    #[error("invalid passphrase or modified secret: {0}")]
    PassphraseInvalid(String),
    /// An audit chain failed verification (the message names `entry <n>`).
    #[error("audit chain invalid: {0}")]
    ChainInvalid(String),
    /// Malformed JSON or binary encoding of a token, envelope, bundle or payload.
    #[error("malformed data: {0}")]
    Format(String),
    /// Signing could not complete (randomness unavailable, missing signing key, ...).
    #[error("signing failed: {0}")]
    SigningFailed(String),
    /// The OS random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// File system failure.
    #[error("i/o error: {0}")]
    Io(String),
    /// An append (or other write) on an audit chain after `close()`.
    #[error("audit chain closed: {0}")]
    ChainClosed(String),
}

impl PqError {
    /// Stable machine-readable code, the `code` of the JS error.
    pub fn code(&self) -> &'static str {
        match self {
            PqError::SignatureInvalid(_) => "SIGNATURE_INVALID",
            PqError::KeyNotFound(_) => "KEY_NOT_FOUND",
            PqError::KeyExpired { .. } => "KEY_EXPIRED",
            PqError::AlgorithmMismatch(_) => "ALGORITHM_MISMATCH",
            PqError::ManifestInvalid(_) => "MANIFEST_INVALID",
            PqError::InvalidKey(_) => "INVALID_KEY",
            PqError::InvalidArgument(_) => "INVALID_ARGUMENT",
            PqError::DecryptionFailed(_) => "DECRYPTION_FAILED",
            PqError::Replay(_) => "REPLAY",
            PqError::ContextMismatch(_) => "CONTEXT_MISMATCH",
            PqError::PassphraseInvalid(_) => "PASSPHRASE_INVALID",
            PqError::ChainInvalid(_) => "CHAIN_INVALID",
            PqError::Format(_) => "FORMAT_INVALID",
            PqError::SigningFailed(_) => "SIGNING_FAILED",
            PqError::Rng(_) => "RNG_FAILED",
            PqError::Io(_) => "IO",
            PqError::ChainClosed(_) => "CHAIN_CLOSED",
        }
    }

    /// All codes this crate can produce, for the binding's error table.
    pub const CODES: &'static [&'static str] = &[
        "SIGNATURE_INVALID",
        "KEY_NOT_FOUND",
        "KEY_EXPIRED",
        "ALGORITHM_MISMATCH",
        "MANIFEST_INVALID",
        "INVALID_KEY",
        "INVALID_ARGUMENT",
        "DECRYPTION_FAILED",
        "REPLAY",
        "CONTEXT_MISMATCH",
        "PASSPHRASE_INVALID",
        "CHAIN_INVALID",
        "FORMAT_INVALID",
        "SIGNING_FAILED",
        "RNG_FAILED",
        "IO",
        "CHAIN_CLOSED",
    ];
}

impl From<std::io::Error> for PqError {
    fn from(e: std::io::Error) -> Self {
        PqError::Io(e.to_string())
    }
}

impl From<getrandom::Error> for PqError {
    fn from(e: getrandom::Error) -> Self {
        PqError::Rng(e.to_string())
    }
}

/// Fill `buf` from the OS random number generator.
pub(crate) fn os_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(PqError::from)
}
