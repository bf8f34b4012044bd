//! Reading policy text. A policy file must be a regular file (a FIFO, a device such as
//! `/dev/zero`, a socket or a directory would block or never end; crates/kavach-files) of at most
//! [`MAX_POLICY_FILE_BYTES`], and its bytes must be UTF-8: an invalid byte is a `POLICY_PARSE`
//! error naming its offset, never replaced (a Latin-1 `löschen_*` would otherwise load as a
//! pattern nothing matches). A leading UTF-8 byte-order mark is dropped, for TOML and JSON
//! alike.

use std::path::Path;

pub use kavach_files::not_a_regular_file;

use crate::error::{KavachError, Result};

/// The largest policy file read, in bytes (64 MiB: far above 100,000 policies).
pub const MAX_POLICY_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The byte-order mark some editors put at the start of UTF-8 files.
const BOM: char = '\u{FEFF}';

/// `text` without a leading byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// `bytes` as UTF-8 text, or a `POLICY_PARSE` error naming the offset of the first bad byte.
pub fn utf8_text(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let byte = e.as_bytes().get(at).copied().unwrap_or(0);
        KavachError::PolicyParse(format!(
            "{what} is not valid UTF-8: byte 0x{byte:02X} at offset {at} (save the file as UTF-8)"
        ))
    })
}

/// The text of the policy file at `path` (see the module docs). Errors name the path: a
/// missing, unreadable, non-regular or oversized file is `INVALID_ARGUMENT`, bad UTF-8 is
/// `POLICY_PARSE`.
pub fn read_policy_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let bytes = kavach_files::read_bounded(path, MAX_POLICY_FILE_BYTES, "MAX_POLICY_FILE_BYTES")
        .map_err(|why| KavachError::InvalidArgument(format!("policy file '{shown}' {why}")))?;
    utf8_text(bytes, &format!("policy file '{shown}'"))
}
