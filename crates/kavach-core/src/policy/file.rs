//! Reading policy text. A policy file must be a regular file (a FIFO, a device such as
//! `/dev/zero`, a socket or a directory would block or never end) of at most
//! [`MAX_POLICY_FILE_BYTES`], and its bytes must be UTF-8: an invalid byte is a `POLICY_PARSE`
//! error naming its offset, never replaced (a Latin-1 `löschen_*` would otherwise load as a
//! pattern nothing matches). A leading UTF-8 byte-order mark is dropped, for TOML and JSON
//! alike.

use std::io::Read;
use std::path::Path;

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

/// Opens without blocking on a FIFO that has no writer (the type check then refuses it).
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK on Linux; a regular file reads the same with it.
        options.custom_flags(0o4000);
    }
    options.open(path)
}

/// The text of the policy file at `path` (see the module docs). Errors name the path: a
/// missing, unreadable, non-regular or oversized file is `INVALID_ARGUMENT`, bad UTF-8 is
/// `POLICY_PARSE`.
pub fn read_policy_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let fail = |why: String| KavachError::InvalidArgument(format!("policy file '{shown}' {why}"));
    // A FIFO is refused before it is opened where the platform cannot open it without blocking.
    if let Some(why) = not_a_regular_file(path) {
        return Err(fail(why));
    }
    let file = open(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    if !meta.file_type().is_file() {
        return Err(fail(format!(
            "is not a regular file ({})",
            describe_kind(&meta.file_type())
        )));
    }
    let too_big = || {
        fail(format!(
            "is larger than the limit of {MAX_POLICY_FILE_BYTES} bytes (MAX_POLICY_FILE_BYTES)"
        ))
    };
    if meta.len() > MAX_POLICY_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the limit tells a file that grew while being read.
    file.take(MAX_POLICY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_POLICY_FILE_BYTES {
        return Err(too_big());
    }
    utf8_text(bytes, &format!("policy file '{shown}'"))
}

/// Why `path` cannot be read as a file (`is not a regular file (a FIFO)`, `cannot be read: ...`),
/// or `None`. For every API that reads a whole file the caller names: a FIFO, device, socket or
/// directory would block or never end. The path is followed through symlinks.
pub fn not_a_regular_file(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) => Some(format!("cannot be read: {e}")),
        Ok(m) if m.file_type().is_file() => None,
        Ok(m) => Some(format!(
            "is not a regular file ({})",
            describe_kind(&m.file_type())
        )),
    }
}

fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}
