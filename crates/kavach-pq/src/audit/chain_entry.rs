//! One line of the audit chain and its linkage hash (FORMATS.md "Audit chain").
//!
//! ```text
//! {"index":0,"previous_hash":"genesis","signed_payload":{…},"entry_hash":"<64 lowercase hex>"}
//! entry_hash = hex(SHA-256( index as u64 LE ‖ previous_hash ‖ data ‖ ml_dsa_signature
//!                         ‖ ed25519_signature (if present) ‖ nonce ‖ ts ))
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::entry::MAX_ENTRY_BYTES;
use crate::error::{PqError, Result};
use crate::json_direct;
use crate::signed_payload::{render_ts, SignedPayload};
use crate::sizes::{ED25519_SIG_LEN, ML_DSA_SIG_LEN};

/// `previous_hash` of entry 0 and `head_hash` of an empty chain.
pub const GENESIS: &str = "genesis";

/// The longest line (without its `\n`) a chain writer produces, so the longest a reader takes:
/// an entry's `data` is its JSON, at most 6 bytes per byte of its fields (a control character
/// is written `\u00XX`) and those total at most [`MAX_ENTRY_BYTES`]; `data` and both
/// signatures are written as byte arrays, at most 4 bytes per byte (`255,`); 1 MiB more covers
/// the field names, index, hashes, nonce, time and a key id (a secret export carries at most
/// 64 KiB of it, 6 bytes per byte escaped). A reader stops a line here, so a file holding one
/// endless line (a sparse hole) costs bounded memory.
pub const MAX_LINE_BYTES: usize =
    4 * (6 * MAX_ENTRY_BYTES + ML_DSA_SIG_LEN + ED25519_SIG_LEN) + (1 << 20);

/// One chain line. Field order is the JSON field order of FORMATS.md.
/// Unknown fields are an error: nothing outside the signed payload and the linkage hash may
/// ride along a verified line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEntry {
    pub index: u64,
    pub previous_hash: String,
    #[serde(deserialize_with = "crate::json_object::object")]
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

    /// The compact JSON line, without the trailing `\n`, written directly
    /// ([`crate::json_direct`]); byte-identical to [`Self::to_line_serde`].
    pub fn to_line(&self) -> Result<String> {
        let p = &self.signed_payload;
        let sigs = p.ml_dsa_signature.len() + p.ed25519_signature.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(256 + (p.data.len() + sigs) * 4);
        out.push(b'{');
        json_direct::write_key(&mut out, "index", true);
        out.extend_from_slice(self.index.to_string().as_bytes());
        json_direct::write_key(&mut out, "previous_hash", false);
        json_direct::write_str(&mut out, &self.previous_hash);
        json_direct::write_key(&mut out, "signed_payload", false);
        p.write_json(&mut out);
        json_direct::write_key(&mut out, "entry_hash", false);
        json_direct::write_str(&mut out, &self.entry_hash);
        out.push(b'}');
        String::from_utf8(out)
            .map_err(|e| PqError::Format(format!("cannot serialise audit chain entry: {e}")))
    }

    /// The same line through serde (the reference for tests and the profile example).
    pub fn to_line_serde(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| PqError::Format(format!("cannot serialise audit chain entry: {e}")))
    }

    /// Parse one line (surrounding whitespace allowed). The layout every implementation
    /// writes is read in one pass; anything else goes through serde, so what is accepted and
    /// the error messages are serde's.
    pub fn from_line(line: &[u8]) -> std::result::Result<Self, String> {
        match Self::read_direct(line) {
            Some(e) => Ok(e),
            None => Self::from_line_serde(line),
        }
    }

    /// Parse through serde only (the fallback, and the switched-off variant in the profile).
    pub fn from_line_serde(line: &[u8]) -> std::result::Result<Self, String> {
        crate::json_object::from_slice(line).map_err(|e| e.to_string())
    }

    fn read_direct(line: &[u8]) -> Option<Self> {
        let mut r = json_direct::Reader::new(line);
        r.lit(b"{")?;
        r.key("index")?;
        let index = r.u64()?;
        r.next_key("previous_hash")?;
        let previous_hash = r.string()?.to_string();
        r.next_key("signed_payload")?;
        let signed_payload = SignedPayload::read_json(&mut r)?;
        r.next_key("entry_hash")?;
        let entry_hash = r.string()?.to_string();
        r.end_object()?;
        Some(Self {
            index,
            previous_hash,
            signed_payload,
            entry_hash,
        })
    }
}

/// True for a line that holds only whitespace (ignored on read).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::keys::KavachKeyPair;
    use chrono::TimeZone;

    const NONCE: &str = "66666666-6666-4666-8666-666666666660";

    fn entry(hybrid: bool, key_id: &str, nanos: u32) -> ChainEntry {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 15, 30)
            .unwrap()
            + chrono::Duration::nanoseconds(i64::from(nanos));
        let kp = KavachKeyPair::from_seeds(key_id, [1; 32], [2; 32], [3; 64], [4; 32], at, None)
            .unwrap();
        let data = br#"{"id":"e-1","verdict":"permit","detail":"quote \" and \u00e9"}"#.to_vec();
        let p = SignedPayload::sign_deterministic_at(&kp, data, hybrid, at, NONCE.into()).unwrap();
        ChainEntry::link(7, "genesis".into(), p)
    }

    #[test]
    fn the_direct_writer_writes_serdes_bytes_and_the_reader_reads_them_back() {
        for (hybrid, key_id, nanos) in [
            (true, "kavach-key-1", 0),
            (false, "kavach-key-1", 120_000_000),
            (true, "k\"é\n∑", 123_456_789),
        ] {
            let e = entry(hybrid, key_id, nanos);
            let line = e.to_line().unwrap();
            assert_eq!(line, e.to_line_serde().unwrap());
            assert_eq!(
                ChainEntry::read_direct(line.as_bytes()).is_some(),
                !key_id.contains('"')
            );
            assert_eq!(ChainEntry::from_line(line.as_bytes()).unwrap(), e);
        }
    }

    #[test]
    fn lines_off_the_fast_path_get_serdes_result_and_errors() {
        let line = entry(true, "kavach-key-1", 0).to_line().unwrap();
        let spaced = line.replacen(",\"previous_hash\"", " , \"previous_hash\" ", 1);
        // The nonce's first hyphen written as a JSON escape: the same string.
        let escaped = line.replacen("66666666-", "66666666\\u002d", 1);
        let zero_lead = line.replacen("\"index\":7", "\"index\":07", 1);
        let unknown = line.replacen("{\"index\"", "{\"extra\":1,\"index\"", 1);
        let missing = line.replacen(&format!(",\"nonce\":\"{NONCE}\""), "", 1);
        for variant in [&line, &spaced, &escaped, &zero_lead, &unknown, &missing] {
            assert_eq!(
                ChainEntry::from_line(variant.as_bytes()),
                ChainEntry::from_line_serde(variant.as_bytes()),
                "{}",
                &variant[..60]
            );
        }
        assert!(ChainEntry::from_line(escaped.as_bytes()).is_ok());
        assert!(ChainEntry::from_line(zero_lead.as_bytes()).is_err());
        assert!(ChainEntry::from_line(unknown.as_bytes()).is_err());
        assert!(ChainEntry::from_line(missing.as_bytes()).is_err());
    }
}
