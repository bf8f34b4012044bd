//! Wire JSON of the secure channel (FORMATS.md "Secure channel").
//!
//! ```text
//! sealed:  {"kem_ciphertext":[…],"encrypted_data":[…ciphertext ‖ 16-byte tag…],"nonce":[12 bytes],
//!           "auth_tag":[],"ephemeral_x25519_pk":[32 bytes],"recipient_key_id":"…","payload_id":"<uuid>"}
//! signed:  {"signed_payload":{…},"context_id":"…","correlation_id":"…","channel_version":2}
//! ```
//!
//! `channel_version` is this package's v2 marker (absent in v1 messages of the other SDKs,
//! which ignore unknown fields).

use serde::{Deserialize, Serialize};

use crate::signed_payload::SignedPayload;

/// One encrypted message. A key not listed here is refused, as in the token envelope and the
/// key formats: ignoring it would let a renamed `auth_tag` (which may be absent) pass as an
/// unchanged message, so a changed byte of the wrapper would go unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedPayload {
    #[serde(with = "crate::json_bytes::bytes")]
    pub kem_ciphertext: Vec<u8>,
    #[serde(with = "crate::json_bytes::bytes")]
    pub encrypted_data: Vec<u8>,
    #[serde(with = "crate::json_bytes::bytes")]
    pub nonce: Vec<u8>,
    /// Always empty when written here (the tag ends `encrypted_data`); a 16-byte tag written
    /// separately by another implementation is appended before opening.
    #[serde(with = "crate::json_bytes::bytes", default)]
    pub auth_tag: Vec<u8>,
    /// The sender's ephemeral X25519 public key; absent only in PQ-only messages, which a
    /// hybrid receiver refuses.
    #[serde(with = "crate::json_bytes::opt_bytes", default)]
    pub ephemeral_x25519_pk: Option<Vec<u8>>,
    pub recipient_key_id: String,
    pub payload_id: String,
}

/// The plaintext of a signed channel message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMessage {
    #[serde(deserialize_with = "crate::json_object::object")]
    pub signed_payload: SignedPayload,
    pub context_id: String,
    pub correlation_id: String,
    /// `2` for this package's format; absent (`None`) in v1 messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_version: Option<u32>,
}
