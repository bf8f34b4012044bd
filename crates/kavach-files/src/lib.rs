//! Reading a whole file whose path a caller names (a policy file, a key-directory manifest, an
//! audit file): the one rule every kavach crate applies. Only a regular file is read. A FIFO
//! with no writer would block the thread for ever (and with it Node's event loop), a device
//! such as `/dev/zero` never ends, a directory or socket has no contents; each is refused,
//! naming what it is. The file is opened without blocking and its type checked on the opened
//! file, so a path swapped for a FIFO after a first check cannot block either. A read is
//! bounded by the caller's limit, checked before and while reading (a file that grows past it
//! while being read is refused too), so a wrong path cannot make the process allocate without
//! end.
//!
//! Problems are returned as the words that follow the path in an error message
//! (`is not a regular file (a FIFO)`, `cannot be read: ...`, `is larger than the limit of N
//! bytes (NAME)`); each crate wraps them in its own error type.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Why `path` cannot be read as a file, or `None`: the check for APIs that keep a path to read
/// later. The path is followed through symlinks.
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

/// `path` opened for reading, if it is a regular file (see the crate docs).
pub fn open_regular(path: &Path) -> Result<File, String> {
    // Refused before it is opened where the platform cannot open a FIFO without blocking.
    if let Some(why) = not_a_regular_file(path) {
        return Err(why);
    }
    let file = open_nonblocking(path).map_err(|e| format!("cannot be read: {e}"))?;
    let kind = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?
        .file_type();
    if !kind.is_file() {
        return Err(format!("is not a regular file ({})", describe_kind(&kind)));
    }
    Ok(file)
}

/// The whole contents of the regular file at `path`, at most `max_bytes` of them; `limit_name`
/// names the limit in the error (`MAX_POLICY_FILE_BYTES`).
pub fn read_bounded(path: &Path, max_bytes: u64, limit_name: &str) -> Result<Vec<u8>, String> {
    let file = open_regular(path)?;
    let too_big = || format!("is larger than the limit of {max_bytes} bytes ({limit_name})");
    let len = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?
        .len();
    if len > max_bytes {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // One byte past the limit tells a file that grew while being read.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Opens without blocking on a FIFO that has no writer (the type check then refuses it).
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("kavach-files-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_a_regular_file_up_to_the_limit() {
        let p = dir("ok").join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_bounded(&p, 5, "LIMIT").unwrap(), b"12345");
        assert_eq!(
            read_bounded(&p, 4, "LIMIT").unwrap_err(),
            "is larger than the limit of 4 bytes (LIMIT)"
        );
    }

    #[test]
    fn a_large_sparse_file_is_refused_before_it_is_read() {
        let p = dir("sparse").join("f");
        let f = File::create(&p).unwrap();
        f.set_len(1 << 40).unwrap(); // 1 TiB of holes: no disk used, far beyond memory
        let why = read_bounded(&p, 1 << 20, "LIMIT").unwrap_err();
        assert_eq!(why, "is larger than the limit of 1048576 bytes (LIMIT)");
    }

    #[test]
    fn directories_devices_and_missing_files_are_refused_naming_what_they_are() {
        let d = dir("kinds");
        assert_eq!(
            read_bounded(&d, 10, "LIMIT").unwrap_err(),
            "is not a regular file (a directory)"
        );
        #[cfg(unix)]
        assert_eq!(
            read_bounded(Path::new("/dev/zero"), 10, "LIMIT").unwrap_err(),
            "is not a regular file (a character device)"
        );
        let missing = read_bounded(&d.join("missing"), 10, "LIMIT").unwrap_err();
        assert!(missing.starts_with("cannot be read: "), "{missing}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_without_a_writer_is_refused_without_blocking() {
        let p = dir("fifo").join("pipe");
        let _ = std::fs::remove_file(&p);
        let made = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(made.success());
        // On a thread, so a regression fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let q = p.clone();
        std::thread::spawn(move || tx.send(read_bounded(&q, 10, "LIMIT")).unwrap());
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO blocked");
        assert_eq!(got.unwrap_err(), "is not a regular file (a FIFO)");
        assert_eq!(
            open_regular(&p).unwrap_err(),
            "is not a regular file (a FIFO)"
        );
    }
}
