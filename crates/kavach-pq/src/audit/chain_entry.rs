//! One line of the audit chain and its linkage hash (FORMATS.md "Audit chain").
//!
//! ```text
//! {"index":0,"previous_hash":"genesis","signed_payload":{…},"entry_hash":"<64 lowercase hex>"}
//! entry_hash = hex(SHA-256( index as u64 LE ‖ previous_hash ‖ data ‖ ml_dsa_signature
//!                         ‖ ed25519_signature (if present) ‖ nonce ‖ ts ))
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{PqError, Result};
use crate::signed_payload::{render_ts, SignedPayload};

/// `previous_hash` of entry 0 and `head_hash` of an empty chain.
pub const GENESIS: &str = "genesis";

/// One chain line. Field order is the JSON field order of FORMATS.md.
/// Unknown fields are an error: nothing outside the signed payload and the linkage hash may
/// ride along a verified line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEntry {
    pub index: u64,
    pub previous_hash: String,
    pub signed_payload: SignedPayload,
    pub entry_hash: String,
}

/// The linkage hash of an entry, recomputed from its parts.
pub fn entry_hash(index: u64, previous_hash: &str, p: &SignedPayload) -> String {
    let mut h = Sha256::new();
    h.update(index.to_le_bytes());
    h.update(previous_hash.as_bytes());
    h.update(&p.data);
    h.update(&p.ml_dsa_signature);
    if let Some(ed) = &p.ed25519_signature {
        h.update(ed);
    }
    h.update(p.nonce.as_bytes());
    h.update(render_ts(&p.signed_at).as_bytes());
    hex::encode(h.finalize())
}

impl ChainEntry {
    /// Link `payload` after `previous_hash` at `index`.
    pub fn link(index: u64, previous_hash: String, signed_payload: SignedPayload) -> Self {
        let entry_hash = entry_hash(index, &previous_hash, &signed_payload);
        Self {
            index,
            previous_hash,
            signed_payload,
            entry_hash,
        }
    }

    /// The compact JSON line, without the trailing `\n`.
    pub fn to_line(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| PqError::Format(format!("cannot serialise audit chain entry: {e}")))
    }

    /// Parse one line (surrounding whitespace allowed).
    pub fn from_line(line: &[u8]) -> std::result::Result<Self, String> {
        serde_json::from_slice(line).map_err(|e| e.to_string())
    }
}

/// True for a line that holds only whitespace (ignored on read).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}
