//! Streaming verification of an audit chain: one line at a time, holding only the running
//! head (index, previous hash, mode), so memory stays bounded however long the chain is.
//!
//! The mode (hybrid or PQ-only) is fixed before the first line: the caller's, or else the
//! verifying key's own, which is hybrid for every Kavach bundle (it carries an Ed25519 key).
//! It is never read from the chain: the entry hashes are unkeyed, so whoever can write the
//! file can null every `ed25519_signature` and relink, and a verifier that took the mode from
//! entry 0 would accept the stripped chain as PQ-only. A PQ-only chain therefore verifies only
//! when the caller asks for PQ-only.
//!
//! Checks per entry, in this order, each failure naming `entry <n>`: the line parses, the
//! index is `n`, `previous_hash` is the previous entry's hash (`genesis` for entry 0), the
//! entry's mode is the verifier's (`ALGORITHM_MISMATCH`, before any cryptography), the key id
//! is the verifying key's, the entry hash recomputes, both signatures verify, and, with a
//! checkpoint, the entry at `length - 1` carries the checkpoint's head hash. `finish` then
//! refuses a chain shorter than the checkpoint. A checkpoint is held to the same mode.
//!
//! Speed: [`ChainVerifier::push_lines`] takes a bounded window of lines and does the work that
//! does not depend on chain position (parsing, entry hash, signatures) on every core, then runs
//! the checks above in order, one entry at a time, with those results: the outcome and the
//! error (first failing entry, first failing check) are exactly those of `push_line`. Entries
//! whose mode or key id already disagree with the chain get no signature check (the downgrade
//! defence refuses them before any cryptography).

use std::io::{BufRead, Read};

use crate::audit::chain_entry::{entry_hash, is_blank, ChainEntry, GENESIS, MAX_LINE_BYTES};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::entry::AuditEntry;
use crate::audit::par;
use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};
use crate::excerpt::excerpt;
use crate::signed_payload::{mode_name, PayloadVerifier};

/// Running state of a chain verification.
#[derive(Debug)]
pub struct ChainVerifier {
    verifier: PayloadVerifier,
    /// Hybrid (`true`) or PQ-only, fixed at construction.
    mode: bool,
    next_index: u64,
    head: String,
    checkpoint: Option<Checkpoint>,
}

/// Lines per verification window: bounds memory (a PQ-only line is ~13 KB, hybrid ~14 KB)
/// while giving every thread a few hundred milliseconds of work.
pub const WINDOW_LINES: usize = 512;

/// Bytes per verification window (whichever of the two limits is reached first).
pub const WINDOW_BYTES: usize = 16 << 20;

/// Lines per verifying thread below which a window is checked on the calling thread.
const MIN_VERIFY_PER_THREAD: usize = 8;

/// Position-independent work on one line, done in parallel.
enum Prepared {
    Blank,
    Malformed(String),
    Entry(Box<ChainEntry>, Option<Crypto>),
}

/// Entry hash (computed with the entry's own index, used only once that index is checked)
/// and the signature outcome.
struct Crypto {
    hash: String,
    signature: Result<()>,
}

fn invalid(n: u64, what: impl std::fmt::Display) -> PqError {
    PqError::ChainInvalid(format!("entry {n}: {what}"))
}

/// A parse error of a line, which may quote the line: cut short.
fn malformed(e: &str) -> String {
    format!("malformed line: {}", crate::excerpt::message(e))
}

impl ChainVerifier {
    /// Start verifying under `bundle`. `mode`: `Some(true)` hybrid, `Some(false)` PQ-only,
    /// `None` the key's own mode (hybrid for a bundle with an Ed25519 key, see the module
    /// docs). A checkpoint is verified here, in that mode, before any entry.
    pub fn new(
        bundle: &PublicKeyBundle,
        mode: Option<bool>,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<Self> {
        let verifier = PayloadVerifier::new(bundle)?;
        let mode = verifier.mode(mode);
        if let Some(cp) = checkpoint {
            cp.verify_with(&verifier, mode)?;
        }
        Ok(Self {
            verifier,
            mode,
            next_index: 0,
            head: GENESIS.to_string(),
            checkpoint: checkpoint.cloned(),
        })
    }

    /// Entries accepted so far.
    pub fn len(&self) -> u64 {
        self.next_index
    }

    /// True before the first entry.
    pub fn is_empty(&self) -> bool {
        self.next_index == 0
    }

    /// Hash of the last accepted entry (`genesis` before the first).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The mode entries are verified in (`true`: hybrid).
    pub fn is_hybrid(&self) -> bool {
        self.mode
    }

    /// Feed one line (without its `\n`); blank lines are ignored. State changes only when the
    /// entry is accepted.
    pub fn push_line(&mut self, line: &[u8]) -> Result<()> {
        if is_blank(line) {
            return Ok(());
        }
        let n = self.next_index;
        let entry = ChainEntry::from_line(line).map_err(|e| invalid(n, malformed(&e)))?;
        self.push_entry(&entry)
    }

    /// Feed a window of lines (each without its `\n`), as if by `push_line` one after the
    /// other, with parsing and signature checks spread over the available cores. Stops at the
    /// first failing entry; entries before it stay accepted.
    pub fn push_lines<L: AsRef<[u8]> + Sync>(&mut self, lines: &[L]) -> Result<()> {
        // Blank lines are dropped first: a window of them must cost no threads (a file padded
        // with newlines would otherwise start threads per window for nothing).
        let lines: Vec<&[u8]> = lines
            .iter()
            .map(AsRef::as_ref)
            .filter(|l| !is_blank(l))
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        let mode = self.mode;
        let verifier = &self.verifier;
        let prepared = par::map(&lines, MIN_VERIFY_PER_THREAD, |l| {
            prepare(verifier, mode, l)
        })
        .ok_or_else(|| invalid(self.next_index, "verification thread panicked"))?;
        for p in prepared {
            match p {
                Prepared::Blank => {}
                Prepared::Malformed(e) => return Err(invalid(self.next_index, malformed(&e))),
                Prepared::Entry(e, crypto) => self.check_entry(&e, crypto)?,
            }
        }
        Ok(())
    }

    /// Check one parsed entry as the next one.
    pub fn push_entry(&mut self, e: &ChainEntry) -> Result<()> {
        self.check_entry(e, None)
    }

    /// The ordered checks; `crypto` carries the hash and signature outcome when they were
    /// computed ahead (in parallel), otherwise they are computed here, after the cheap checks.
    fn check_entry(&mut self, e: &ChainEntry, crypto: Option<Crypto>) -> Result<()> {
        let n = self.next_index;
        if e.index != n {
            return Err(invalid(n, format!("index is {}, expected {n}", e.index)));
        }
        if e.previous_hash != self.head {
            let which = if n == 0 {
                "'genesis'".to_string()
            } else {
                format!("the hash of entry {}", n - 1)
            };
            return Err(invalid(
                n,
                format!(
                    "previous hash does not match {which} (entries removed, reordered or spliced)"
                ),
            ));
        }
        let p = &e.signed_payload;
        let entry_mode = p.is_hybrid();
        if entry_mode != self.mode {
            return Err(mode_mismatch(n, entry_mode, self.mode));
        }
        if p.key_id != self.verifier.key_id() {
            return Err(invalid(
                n,
                format!(
                    "key id '{}' is not the verifying key '{}'",
                    excerpt(&p.key_id),
                    excerpt(self.verifier.key_id())
                ),
            ));
        }
        let (computed, signature) = match crypto {
            Some(c) => (c.hash, Some(c.signature)),
            None => (entry_hash(n, &e.previous_hash, p), None),
        };
        if computed != e.entry_hash {
            return Err(invalid(
                n,
                "signature verification failed (entry hash mismatch: entry modified)",
            ));
        }
        signature
            .unwrap_or_else(|| self.verifier.verify(p, entry_mode))
            .map_err(|err| invalid(n, format!("signature verification failed ({err})")))?;
        // The signed bytes `data ‖ nonce ‖ ts` carry no label saying they are an audit
        // entry's, so a signature the same key made for something else (a permit for an action
        // ending in a nonce and a time) would verify here too; an audit entry's data is its
        // JSON object, which those bytes are not.
        if let Err(e) = AuditEntry::from_json_bytes(&p.data) {
            return Err(invalid(n, format!("its data is not an audit entry ({e})")));
        }
        if let Some(cp) = &self.checkpoint {
            if cp.length == n + 1 && cp.head_hash != e.entry_hash {
                return Err(invalid(
                    n,
                    format!(
                        "hash differs from the checkpoint's head at length {} (chain rewritten \
                         before the checkpoint)",
                        cp.length
                    ),
                ));
            }
        }
        self.head = computed;
        self.next_index = n + 1;
        Ok(())
    }

    /// End of input: with a checkpoint, the chain must reach its length.
    pub fn finish(self) -> Result<u64> {
        if let Some(cp) = &self.checkpoint {
            if self.next_index < cp.length {
                return Err(PqError::ChainInvalid(format!(
                    "entry {}: missing; the chain has {} entries but the checkpoint covers {} \
                     (truncated)",
                    self.next_index, self.next_index, cp.length
                )));
            }
        }
        Ok(self.next_index)
    }
}

/// `ALGORITHM_MISMATCH` for entry `n` whose mode is not the verifier's. Entry 0 in the other
/// mode is a whole chain of the other mode (a hybrid chain stripped of its Ed25519
/// signatures, or a PQ-only chain read without asking for PQ-only); a later one is a splice.
fn mode_mismatch(n: u64, entry_hybrid: bool, verifier_hybrid: bool) -> PqError {
    let what = if n == 0 {
        format!("{} chain", mode_name(entry_hybrid))
    } else {
        format!(
            "{} entry in a chain of {} entries (mixed modes: splice)",
            mode_name(entry_hybrid),
            mode_name(verifier_hybrid)
        )
    };
    let hint = if verifier_hybrid {
        "; a chain written pq-only on purpose verifies only when pq-only is asked for \
         explicitly (hybrid: false)"
    } else {
        ""
    };
    PqError::AlgorithmMismatch(format!(
        "entry {n}: {what} refused by a {} verifier (hybrid mode must match; downgrade refused \
         before any signature check){hint}",
        mode_name(verifier_hybrid)
    ))
}

/// Parse one line and, when its mode and key id fit the chain (so the ordered checks will get
/// as far as the signatures), compute its entry hash and check its signatures.
fn prepare(verifier: &PayloadVerifier, mode: bool, line: &[u8]) -> Prepared {
    if is_blank(line) {
        return Prepared::Blank;
    }
    let e = match ChainEntry::from_line(line) {
        Ok(e) => e,
        Err(err) => return Prepared::Malformed(err),
    };
    let p = &e.signed_payload;
    let crypto = (mode == p.is_hybrid() && p.key_id == verifier.key_id()).then(|| Crypto {
        hash: entry_hash(e.index, &e.previous_hash, p),
        signature: verifier.verify(p, p.is_hybrid()),
    });
    Prepared::Entry(Box::new(e), crypto)
}

/// Verify a JSONL blob in windows of lines (bounded memory beyond the blob itself) and return
/// the number of entries. `mode`: `None` is the key's own mode (never the blob's).
pub fn verify_jsonl(
    blob: &[u8],
    bundle: &PublicKeyBundle,
    mode: Option<bool>,
    checkpoint: Option<&Checkpoint>,
) -> Result<u64> {
    let mut v = ChainVerifier::new(bundle, mode, checkpoint)?;
    let mut window: Vec<&[u8]> = Vec::with_capacity(WINDOW_LINES);
    let mut bytes = 0;
    for line in blob.split(|b| *b == b'\n') {
        bytes += line.len();
        window.push(line);
        if window.len() >= WINDOW_LINES || bytes >= WINDOW_BYTES {
            v.push_lines(&window)?;
            window.clear();
            bytes = 0;
        }
    }
    v.push_lines(&window)?;
    v.finish()
}

/// Verify a chain from a reader (a file), one window of lines in memory at a time.
pub fn verify_reader<R: BufRead>(
    reader: R,
    bundle: &PublicKeyBundle,
    mode: Option<bool>,
    checkpoint: Option<&Checkpoint>,
) -> Result<u64> {
    verify_reader_to_head(reader, bundle, mode, checkpoint).map(|(n, _)| n)
}

/// [`verify_reader`], also returning the hash of the last entry (`genesis` for none), so a
/// caller that knows the chain's head can hold the file to it. A line over
/// [`MAX_LINE_BYTES`] is `CHAIN_INVALID` ([`line_too_long`]) once the lines before it verify.
pub fn verify_reader_to_head<R: BufRead>(
    mut reader: R,
    bundle: &PublicKeyBundle,
    mode: Option<bool>,
    checkpoint: Option<&Checkpoint>,
) -> Result<(u64, String)> {
    let mut v = ChainVerifier::new(bundle, mode, checkpoint)?;
    let mut window = LineWindow::default();
    loop {
        match window.read_line(&mut reader)? {
            LineRead::End => break,
            LineRead::TooLong => {
                window.flush(&mut v)?;
                return Err(line_too_long(v.len()));
            }
            LineRead::Line { .. } if window.is_full() => window.flush(&mut v)?,
            LineRead::Line { .. } => {}
        }
    }
    window.flush(&mut v)?;
    let head = v.head().to_string();
    Ok((v.finish()?, head))
}

/// `CHAIN_INVALID` for entry `n`, whose line is longer than any writer produces.
pub fn line_too_long(n: u64) -> PqError {
    invalid(n, format!("line over {MAX_LINE_BYTES} bytes"))
}

/// What one bounded line read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// End of input.
    End,
    /// A line of `bytes` bytes, its `\n` included when `complete` (an unterminated line ends
    /// the input).
    Line { bytes: u64, complete: bool },
    /// A line over [`MAX_LINE_BYTES`]: its first `MAX_LINE_BYTES + 1` bytes were consumed
    /// (and are not kept), the rest is unread.
    TooLong,
}

/// Append the next line, `\n` included, to `buf`, reading at most one byte past
/// [`MAX_LINE_BYTES`] and its `\n`. On `TooLong`, `buf` is left as it was.
pub fn read_bounded_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<LineRead> {
    let start = buf.len();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let n = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(LineRead::End);
    }
    let complete = buf.last() == Some(&b'\n');
    if !complete && n > MAX_LINE_BYTES {
        buf.truncate(start);
        buf.shrink_to(start);
        return Ok(LineRead::TooLong);
    }
    Ok(LineRead::Line {
        bytes: n as u64,
        complete,
    })
}

/// Lines read into a bounded window, verified together with [`ChainVerifier::push_lines`].
/// Line buffers are reused from one window to the next.
#[derive(Debug, Default)]
pub struct LineWindow {
    lines: Vec<Vec<u8>>,
    used: usize,
    bytes: usize,
}

impl LineWindow {
    /// Read the next line into the window, its `\n` removed (see [`read_bounded_line`]; a
    /// line over [`MAX_LINE_BYTES`] is not added).
    pub fn read_line<R: BufRead>(&mut self, reader: &mut R) -> std::io::Result<LineRead> {
        if self.used == self.lines.len() {
            self.lines.push(Vec::new());
        }
        let buf = &mut self.lines[self.used];
        buf.clear();
        let read = read_bounded_line(reader, buf)?;
        if let LineRead::Line { bytes, complete } = read {
            if complete {
                buf.pop();
            }
            self.used += 1;
            self.bytes += bytes as usize;
        }
        Ok(read)
    }

    /// Take back the line read last (a torn final line, handled apart).
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        self.used = self.used.checked_sub(1)?;
        let line = std::mem::take(&mut self.lines[self.used]);
        self.bytes = self.bytes.saturating_sub(line.len());
        Some(line)
    }

    /// True when the window should be verified before reading more.
    pub fn is_full(&self) -> bool {
        self.used >= WINDOW_LINES || self.bytes >= WINDOW_BYTES
    }

    /// Verify the lines read so far and empty the window.
    pub fn flush(&mut self, v: &mut ChainVerifier) -> Result<()> {
        let r = v.push_lines(&self.lines[..self.used]);
        self.used = 0;
        self.bytes = 0;
        r
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::io::{BufReader, Cursor, Read};
    use std::sync::Arc;

    use super::*;
    use crate::audit::entry::{AuditEntryOptions, MAX_ENTRY_BYTES};
    use crate::audit::SignedAuditChain;
    use crate::keys::KavachKeyPair;

    /// Endless `x` bytes that fail once more than `budget` were read: a stand-in for the memory
    /// a reader of an unbounded line would exhaust.
    struct Endless {
        budget: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.budget = self.budget.checked_sub(buf.len()).ok_or_else(|| {
                std::io::Error::other("read past the budget: the line was not bounded")
            })?;
            buf.fill(b'x');
            Ok(buf.len())
        }
    }

    fn chain_of(n: usize) -> (Arc<KavachKeyPair>, Vec<u8>) {
        let kp = Arc::new(KavachKeyPair::generate().unwrap());
        let mut c = SignedAuditChain::new(kp.clone(), true);
        for i in 0..n {
            let e = AuditEntry::new(
                &format!("agent-{i}"),
                "read",
                "permit",
                "ok",
                Default::default(),
            )
            .unwrap();
            c.append(&e).unwrap();
        }
        (kp, c.export_jsonl().unwrap())
    }

    #[test]
    fn an_endless_line_is_refused_after_reading_one_bound_naming_its_entry() {
        let (kp, blob) = chain_of(2);
        let endless = Endless {
            budget: 2 * MAX_LINE_BYTES,
        };
        let reader = BufReader::new(Cursor::new(blob.clone()).chain(endless));
        let e = verify_reader(reader, kp.bundle_ref(), None, None).unwrap_err();
        assert_eq!(e.code(), "CHAIN_INVALID", "{e}");
        assert_eq!(
            e.to_string(),
            format!("audit chain invalid: entry 2: line over {MAX_LINE_BYTES} bytes")
        );
        assert_eq!(MAX_LINE_BYTES, 26_227_892);
        // The lines before it are verified first: a bad one among them is the error.
        let mut tampered = blob;
        tampered[0] = b'[';
        let endless = Endless {
            budget: 2 * MAX_LINE_BYTES,
        };
        let reader = BufReader::new(Cursor::new(tampered).chain(endless));
        let e = verify_reader(reader, kp.bundle_ref(), None, None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("audit chain invalid: entry 0: malformed line"),
            "{e}"
        );
    }

    #[test]
    fn a_line_of_the_bound_is_read_and_one_byte_more_is_not() {
        let mut exact = vec![b'x'; MAX_LINE_BYTES];
        exact.push(b'\n');
        let mut over = vec![b'x'; MAX_LINE_BYTES + 1];
        over.extend_from_slice(b"\nnext\n");
        let unterminated = vec![b'x'; MAX_LINE_BYTES];

        let mut buf = Vec::new();
        let read = read_bounded_line(&mut Cursor::new(&exact), &mut buf).unwrap();
        let bytes = MAX_LINE_BYTES as u64 + 1;
        assert_eq!(
            read,
            LineRead::Line {
                bytes,
                complete: true
            }
        );
        assert_eq!(buf, exact);

        let mut r = Cursor::new(&over);
        let mut buf = b"kept".to_vec();
        assert_eq!(
            read_bounded_line(&mut r, &mut buf).unwrap(),
            LineRead::TooLong
        );
        assert_eq!(buf, b"kept");
        // Only the first `MAX_LINE_BYTES + 1` bytes were consumed: the rest of the line (here
        // its `\n`) is what a next read finds.
        let mut buf = Vec::new();
        let read = read_bounded_line(&mut r, &mut buf).unwrap();
        assert_eq!(
            (read, buf.as_slice()),
            (
                LineRead::Line {
                    bytes: 1,
                    complete: true
                },
                &b"\n"[..]
            )
        );

        let mut buf = Vec::new();
        let read = read_bounded_line(&mut Cursor::new(&unterminated), &mut buf).unwrap();
        let bytes = MAX_LINE_BYTES as u64;
        assert_eq!(
            read,
            LineRead::Line {
                bytes,
                complete: false
            }
        );
    }

    #[test]
    fn the_largest_entry_a_writer_signs_fits_the_line_bound() {
        let kp = Arc::new(KavachKeyPair::generate().unwrap());
        let mut c = SignedAuditChain::new(kp.clone(), true);
        // Control characters: 6 JSON bytes each in `data`, the most any field byte costs.
        let room = MAX_ENTRY_BYTES - 36 - "a".len() - "read".len();
        let detail = "\u{1}".repeat(room);
        let e =
            AuditEntry::new("a", "read", "permit", &detail, AuditEntryOptions::default()).unwrap();
        c.append(&e).unwrap();
        let blob = c.export_jsonl().unwrap();
        let line_len = blob.len() - 1;
        assert!(line_len > 16 << 20, "{line_len}");
        assert!(line_len <= MAX_LINE_BYTES, "{line_len}");
        let n = verify_reader(
            BufReader::new(Cursor::new(blob)),
            kp.bundle_ref(),
            None,
            None,
        );
        assert_eq!(n.unwrap(), 1);
    }
}
