//! Durable JSONL storage for a chain: append-only file, every line written then fsynced
//! (or fsynced in groups), verified and continued on open.
//!
//! Crash handling: a line is acknowledged only after the fsync that covers it. A crash can
//! therefore leave at most an unterminated final line that was never acknowledged. On open,
//! an unterminated final line that parses and verifies as the next entry is kept (its `\n` is
//! added); anything else in that position is truncated and reported
//! ([`FileState::torn_bytes_truncated`]). A complete line that fails verification makes the
//! open fail: nothing acknowledged is ever dropped silently. A line over
//! [`MAX_LINE_BYTES`](crate::audit::chain_entry::MAX_LINE_BYTES), terminated or not, fails the
//! open (`CHAIN_INVALID`) and the file is left as it is: no writer produces such a line, so it
//! is not a torn write, and only its first `MAX_LINE_BYTES + 1` bytes are read (a sparse hole
//! of any size costs no more).
//!
//! Only one writer at a time: the file is locked exclusively (advisory lock) while open.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::audit::verify::{line_too_long, ChainVerifier, LineRead, LineWindow};
use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};

/// How often appends are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOptions {
    /// `Some(true)` hybrid, `Some(false)` PQ-only, `None`: the key pair's mode, which is
    /// hybrid (every key pair has an Ed25519 key). Never the file's: the file is what an
    /// attacker may have rewritten. A file in another mode is refused (`ALGORITHM_MISMATCH`),
    /// so a PQ-only file is opened with `Some(false)`.
    pub hybrid: Option<bool>,
    /// fsync after every `sync_every` appends (1 = every append). Appends after the last fsync
    /// are written but not yet acknowledged (see `durable_length`).
    pub sync_every: u32,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            hybrid: None,
            sync_every: 1,
        }
    }
}

/// Open file plus what the open found.
#[derive(Debug)]
pub struct FileState {
    pub path: PathBuf,
    /// `None` once closed (the lock is released with the descriptor).
    pub file: Option<File>,
    pub sync_every: u32,
    pub unsynced: u32,
    pub durable_len: u64,
    /// Bytes of an incomplete final line removed on open (0 when the file was clean).
    pub torn_bytes_truncated: u64,
    /// Set after a failed write: the file may hold a partial line, so refuse further appends
    /// until reopened (reopening repairs it).
    pub poisoned: bool,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> PqError {
    PqError::Io(format!("{what} '{}': {e}", path.display()))
}

/// Open (or create) `path`, verify every complete line under `bundle`, repair a torn tail.
/// Returns the file state and the verifier positioned after the last entry.
pub fn open_and_verify(
    path: &Path,
    bundle: &PublicKeyBundle,
    opts: FileOptions,
) -> Result<(FileState, ChainVerifier)> {
    if opts.sync_every == 0 {
        return Err(PqError::InvalidArgument(
            "sync_every must be at least 1".into(),
        ));
    }
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io(path, "cannot open audit file", e))?;
    if !existed {
        sync_parent_dir(path)?;
    }
    file.try_lock().map_err(|e| {
        PqError::Io(format!(
            "audit file '{}' is locked by another writer: {e}",
            path.display()
        ))
    })?;
    let mut verifier = ChainVerifier::new(bundle, opts.hybrid, None)?;
    let (good_end, tail) = verify_complete_lines(path, &file, &mut verifier)?;
    let torn = repair_tail(path, &mut file, good_end, tail, &mut verifier)?;
    file.seek(SeekFrom::End(0))
        .map_err(|e| io(path, "cannot seek audit file", e))?;
    let state = FileState {
        path: path.to_path_buf(),
        file: Some(file),
        sync_every: opts.sync_every,
        unsynced: 0,
        durable_len: verifier.len(),
        torn_bytes_truncated: torn,
        poisoned: false,
    };
    Ok((state, verifier))
}

/// What follows the last complete line of the file.
enum Tail {
    /// Nothing: the file ends in `\n` (or is empty).
    Clean,
    /// An unterminated final line.
    Torn(Vec<u8>),
}

/// Verify every complete line (in windows) and return where the last one ends and what
/// follows it. A line over `MAX_LINE_BYTES`, complete or not, is `CHAIN_INVALID` after the
/// lines before it verify; nothing past its first `MAX_LINE_BYTES + 1` bytes is read.
fn verify_complete_lines(
    path: &Path,
    file: &File,
    verifier: &mut ChainVerifier,
) -> Result<(u64, Tail)> {
    let read_err = |e| io(path, "cannot read audit file", e);
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut window = LineWindow::default();
    let mut good_end: u64 = 0;
    let tail = loop {
        match window.read_line(&mut reader).map_err(read_err)? {
            LineRead::End => break Tail::Clean,
            LineRead::Line {
                complete: false, ..
            } => break Tail::Torn(window.pop().unwrap_or_default()),
            LineRead::Line { bytes, .. } => good_end += bytes,
            LineRead::TooLong => {
                window.flush(verifier)?;
                return Err(line_too_long(verifier.len()));
            }
        }
        if window.is_full() {
            window.flush(verifier)?;
        }
    };
    window.flush(verifier)?;
    Ok((good_end, tail))
}

/// Keep a torn final line that verifies as the next entry (adding its `\n`), truncate any
/// other at `good_end`; returns the bytes truncated.
fn repair_tail(
    path: &Path,
    file: &mut File,
    good_end: u64,
    tail: Tail,
    verifier: &mut ChainVerifier,
) -> Result<u64> {
    let torn = match tail {
        Tail::Clean => return Ok(0),
        Tail::Torn(line) if verifier.push_line(&line).is_ok() => {
            // A complete entry missing only its newline: keep it.
            file.write_all(b"\n")
                .map_err(|e| io(path, "cannot repair audit file", e))?;
            0
        }
        Tail::Torn(line) => line.len() as u64,
    };
    if torn > 0 {
        file.set_len(good_end)
            .map_err(|e| io(path, "cannot truncate torn line of audit file", e))?;
    }
    file.sync_all()
        .map_err(|e| io(path, "cannot sync audit file", e))?;
    Ok(torn)
}

/// Make a newly created file's directory entry durable (otherwise a crash could lose the
/// whole file even though its lines were fsynced).
#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(parent, "cannot sync directory of audit file", e))
}

#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> Result<()> {
    Ok(())
}

impl FileState {
    /// The open file, or `CHAIN_CLOSED` after `close`.
    fn open_file(&mut self) -> Result<&mut File> {
        if self.poisoned {
            return Err(PqError::Io(format!(
                "audit file '{}' had a failed write; reopen it to repair",
                self.path.display()
            )));
        }
        match self.file.as_mut() {
            Some(f) => Ok(f),
            None => Err(PqError::ChainClosed(format!(
                "audit file '{}' is closed",
                self.path.display()
            ))),
        }
    }

    /// Append one line (`line` without `\n`); fsync when the group is full. Returns true when
    /// this append was fsynced (acknowledged).
    pub fn append_line(&mut self, line: &str, new_len: u64) -> Result<bool> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.write(&buf)?;
        self.unsynced += 1;
        if self.unsynced >= self.sync_every {
            self.sync(new_len)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Group commit: write a block of complete lines at once and fsync it. `new_len` becomes
    /// the durable length.
    pub fn append_block(&mut self, block: &[u8], new_len: u64) -> Result<()> {
        self.write(block)?;
        self.sync(new_len)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self.open_file()?;
        if let Err(e) = file.write_all(bytes) {
            self.poisoned = true;
            return Err(io(&self.path, "cannot write audit file", e));
        }
        Ok(())
    }

    /// fsync everything written so far; `len` becomes the durable length.
    pub fn sync(&mut self, len: u64) -> Result<()> {
        let file = self.open_file()?;
        if let Err(e) = file.sync_data() {
            self.poisoned = true;
            return Err(io(&self.path, "cannot sync audit file", e));
        }
        self.unsynced = 0;
        self.durable_len = len;
        Ok(())
    }

    /// fsync what is pending, then close the descriptor, which releases the lock. The file is
    /// closed even when the fsync fails (its error is returned: those entries were never
    /// acknowledged, and a reopen verifies whatever reached the disk).
    pub fn close(&mut self, len: u64) -> Result<()> {
        let synced = if self.unsynced > 0 && !self.poisoned {
            self.sync(len)
        } else {
            Ok(())
        };
        if let Some(file) = self.file.take() {
            // Explicit unlock: dropping the descriptor releases a flock too, but a duplicated
            // descriptor (fork) would keep it alive.
            let _ = file.unlock();
        }
        synced
    }
}
