//! Kavach post-quantum identity: ML-DSA-65 (+ Ed25519) key pairs, signed permit tokens, key
//! directories, exported secrets, and (audit/, channel/) the signed audit chain and secure
//! channel. Byte formats are fixed by the shared FORMATS.md; see each module.
//!
//! This crate does not depend on kavach-core: the Node binding adapts it to core's traits.

pub mod bundle;
pub mod directory;
pub mod envelope;
pub mod error;
pub mod excerpt;
pub mod json_bytes;
pub mod json_direct;
pub mod json_object;
pub mod keys;
pub mod primitives;
pub mod secret;
pub mod secret_export;
pub mod signer;
pub mod sizes;
pub mod token;
pub mod verifier;

// --- audit-channel modules (owned by the audit-channel engineer; add `pub mod` lines here) ---
pub mod audit;
pub mod channel;
pub mod signed_payload;
// --- end audit-channel modules ---

pub use bundle::PublicKeyBundle;
pub use directory::PublicKeyDirectory;
pub use envelope::{Algorithm, SignatureEnvelope, ALG_HYBRID, ALG_PQ_ONLY};
pub use error::{PqError, Result};
pub use keys::{KavachKeyPair, KEY_ID_PREFIX};
pub use secret::{SecretBytes, SecretVec};
pub use signer::PqTokenSigner;
pub use token::TokenFields;
pub use verifier::DirectoryTokenVerifier;

// Re-exported so the binding uses exactly the versions in this crate's public types.
pub use chrono;
pub use uuid;
