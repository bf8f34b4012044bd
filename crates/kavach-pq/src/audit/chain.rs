//! `SignedAuditChain`: append-only chain of signed audit entries, in memory or in a durable
//! JSONL file ([`super::file`]). A file-backed chain keeps only its head in memory.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::audit::chain_entry::{is_blank, ChainEntry, GENESIS};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::entry::AuditEntry;
use crate::audit::file::{open_and_verify, FileOptions, FileState};
use crate::audit::par;
use crate::audit::verify::{
    line_too_long, read_bounded_line, verify_jsonl, verify_reader_to_head, ChainVerifier, LineRead,
};
use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};
use crate::keys::KavachKeyPair;
use crate::signed_payload::SignedPayload;

/// Entries per signing thread below which a batch is signed on the calling thread.
const MIN_SIGN_PER_THREAD: usize = 4;

/// Sign each data blob as a payload, on every available core (signing does not depend on the
/// chain position, only linking does).
fn sign_parallel(kp: &KavachKeyPair, data: &[Vec<u8>], hybrid: bool) -> Result<Vec<SignedPayload>> {
    par::map(data, MIN_SIGN_PER_THREAD, |d| {
        SignedPayload::sign(kp, d.clone(), hybrid)
    })
    .ok_or_else(|| PqError::SigningFailed("signing thread panicked".into()))?
    .into_iter()
    .collect()
}

#[derive(Debug)]
enum Store {
    /// Lines without their `\n`.
    Memory(Vec<String>),
    File(Box<FileState>),
}

/// A signed, hash-linked audit chain written by one key pair.
#[derive(Debug)]
pub struct SignedAuditChain {
    kp: Arc<KavachKeyPair>,
    hybrid: bool,
    len: u64,
    head: String,
    store: Store,
    /// Set by `close()`: appends are refused from then on.
    closed: bool,
}

impl SignedAuditChain {
    /// An empty in-memory chain; `hybrid` signs every entry with ML-DSA-65 and Ed25519.
    pub fn new(kp: Arc<KavachKeyPair>, hybrid: bool) -> Self {
        Self {
            kp,
            hybrid,
            len: 0,
            head: GENESIS.to_string(),
            store: Store::Memory(Vec::new()),
            closed: false,
        }
    }

    /// Open (or create) a durable chain at `path`: the existing lines are verified (streaming)
    /// under `kp`'s public keys in the mode of `opts.hybrid` (default: the key pair's, hybrid),
    /// a torn final line is repaired, and appends continue the chain in that mode.
    pub fn open_file(path: &Path, kp: Arc<KavachKeyPair>, opts: FileOptions) -> Result<Self> {
        let (state, verifier) = open_and_verify(path, kp.bundle_ref(), opts)?;
        let hybrid = verifier.is_hybrid();
        Ok(Self {
            kp,
            hybrid,
            len: verifier.len(),
            head: verifier.head().to_string(),
            store: Store::File(Box::new(state)),
            closed: false,
        })
    }

    /// Sign `entry`, link it and store it; returns the new length. For a file chain the line
    /// is written and (per `sync_every`) fsynced before this returns. An expired key pair
    /// appends nothing (`KEY_EXPIRED`): a gate auditing with it then refuses every call.
    pub fn append(&mut self, entry: &AuditEntry) -> Result<u64> {
        self.ensure_open()?;
        let payload = SignedPayload::sign(&self.kp, entry.to_json_bytes()?, self.hybrid)?;
        self.append_payload(payload)
    }

    /// Group commit: sign every entry (in parallel, on up to 4 threads: signing does not depend
    /// on chain position), link them in order, write them with one write and one fsync.
    /// Returns the new length; every entry of the batch is acknowledged when this returns.
    pub fn append_batch(&mut self, entries: &[AuditEntry]) -> Result<u64> {
        self.ensure_open()?;
        // Each signature checks too; checking once first refuses the batch before any work.
        self.kp.check_not_expired_at(Utc::now())?;
        let data: Vec<Vec<u8>> = entries
            .iter()
            .map(AuditEntry::to_json_bytes)
            .collect::<Result<_>>()?;
        let payloads = sign_parallel(&self.kp, &data, self.hybrid)?;
        let mut lines = String::new();
        let mut len = self.len;
        let mut head = self.head.clone();
        for p in payloads {
            let e = ChainEntry::link(len, head, p);
            lines.push_str(&e.to_line()?);
            lines.push('\n');
            head = e.entry_hash;
            len += 1;
        }
        match &mut self.store {
            Store::Memory(v) => v.extend(lines.lines().map(str::to_string)),
            Store::File(f) => f.append_block(lines.as_bytes(), len)?,
        }
        self.len = len;
        self.head = head;
        Ok(len)
    }

    /// Link an already signed payload (golden tests use fixed times and nonces). The payload
    /// must be signed by this chain's key in this chain's mode.
    pub fn append_payload(&mut self, payload: SignedPayload) -> Result<u64> {
        self.ensure_open()?;
        payload.check_mode(self.hybrid)?;
        if payload.key_id != self.kp.id() {
            return Err(PqError::InvalidArgument(format!(
                "payload key id '{}' is not the chain's key '{}'",
                crate::excerpt::excerpt(&payload.key_id),
                self.kp.id()
            )));
        }
        let entry = ChainEntry::link(self.len, self.head.clone(), payload);
        let line = entry.to_line()?;
        let new_len = self.len + 1;
        match &mut self.store {
            Store::Memory(lines) => lines.push(line),
            Store::File(f) => {
                f.append_line(&line, new_len)?;
            }
        }
        self.len = new_len;
        self.head = entry.entry_hash;
        Ok(new_len)
    }

    /// Flush and release: fsync entries not yet synced (grouped fsync), release the file lock
    /// and close the file, so another writer (or a reopen) can take it. Idempotent. Afterwards
    /// appends fail with `CHAIN_CLOSED`; reads (`len`, `head_hash`, `verify`, `export_jsonl`,
    /// `checkpoint`) keep working. If the final fsync fails the chain is still closed (the
    /// lock released) and the error is returned: the unsynced entries were never acknowledged.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let len = self.len;
        match &mut self.store {
            Store::Memory(_) => Ok(()),
            Store::File(f) => f.close(len),
        }
    }

    /// True after `close()`.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// What an append would refuse before signing (a closed chain, an expired key pair), so
    /// `explain` can say what `evaluate` would.
    pub fn check_ready(&self) -> Result<()> {
        self.ensure_open()?;
        self.kp.check_not_expired_at(Utc::now())
    }

    fn ensure_open(&self) -> Result<()> {
        if !self.closed {
            return Ok(());
        }
        Err(PqError::ChainClosed(match &self.store {
            Store::Memory(_) => "cannot append to a closed chain".to_string(),
            Store::File(f) => format!(
                "cannot append to '{}' after close(); open it again with openFile",
                f.path.display()
            ),
        }))
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the chain has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hash of the last entry, `genesis` when empty.
    pub fn head_hash(&self) -> &str {
        &self.head
    }

    /// True when entries carry Ed25519 signatures too.
    pub fn is_hybrid(&self) -> bool {
        self.hybrid
    }

    /// Id of the signing key.
    pub fn key_id(&self) -> &str {
        self.kp.id()
    }

    /// Entries known to be on disk (fsynced); equals `len` for in-memory chains.
    pub fn durable_len(&self) -> u64 {
        match &self.store {
            Store::Memory(_) => self.len,
            Store::File(f) => f.durable_len,
        }
    }

    /// Bytes of a torn final line removed when the file was opened.
    pub fn torn_bytes_truncated(&self) -> u64 {
        match &self.store {
            Store::Memory(_) => 0,
            Store::File(f) => f.torn_bytes_truncated,
        }
    }

    /// fsync pending appends now (no-op in memory).
    pub fn sync(&mut self) -> Result<()> {
        let len = self.len;
        match &mut self.store {
            Store::Memory(_) => Ok(()),
            Store::File(f) if f.unsynced > 0 => f.sync(len),
            Store::File(_) => Ok(()),
        }
    }

    /// Verify the whole chain under `bundle` in this chain's mode (streams a file chain), and
    /// hold it to what this chain appended: its length, then its head hash. The entry hashes
    /// are unkeyed, so whoever can write the file can reorder or rewrite entries and relink
    /// them; only the head this chain keeps in memory tells such a file from its own.
    pub fn verify(&self, bundle: &PublicKeyBundle) -> Result<u64> {
        let (n, head) = self.verify_to_head(bundle)?;
        // A file may have been appended to by nobody else (it is locked), so anything beyond
        // our own length means tampering; fewer means truncation.
        if n != self.len {
            return Err(PqError::ChainInvalid(format!(
                "entry {}: chain holds {n} entries but {} were appended",
                n.min(self.len),
                self.len
            )));
        }
        if head != self.head {
            return Err(PqError::ChainInvalid(format!(
                "entry {}: hash {head} is not the chain's head hash {} (entries rewritten or \
                 reordered and relinked)",
                n.saturating_sub(1),
                self.head
            )));
        }
        Ok(n)
    }

    /// Entries verified and the hash of the last one.
    fn verify_to_head(&self, bundle: &PublicKeyBundle) -> Result<(u64, String)> {
        match &self.store {
            Store::Memory(lines) => {
                let mut v = ChainVerifier::new(bundle, Some(self.hybrid), None)?;
                for l in lines {
                    v.push_line(l.as_bytes())?;
                }
                let head = v.head().to_string();
                Ok((v.finish()?, head))
            }
            Store::File(f) => {
                let file = open_audit_file(&f.path)?;
                verify_reader_to_head(BufReader::new(file), bundle, Some(self.hybrid), None)
            }
        }
    }

    /// The chain as JSONL (each line ends in `\n`). A file chain is read back from disk, one
    /// bounded line at a time: a line over `MAX_LINE_BYTES` is `CHAIN_INVALID` naming its
    /// entry, not an unbounded allocation.
    pub fn export_jsonl(&self) -> Result<Vec<u8>> {
        match &self.store {
            Store::Memory(lines) => {
                let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
                for l in lines {
                    out.extend_from_slice(l.as_bytes());
                    out.push(b'\n');
                }
                Ok(out)
            }
            Store::File(f) => read_file_lines(&f.path),
        }
    }

    /// A signed checkpoint of the current length and head (a file chain is fsynced first, so
    /// the checkpoint never covers entries that are not on disk).
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        self.sync()?;
        Checkpoint::sign(&self.kp, self.hybrid, self.len, &self.head, Utc::now())
    }

    /// Verify a JSONL blob (see [`verify_jsonl`]).
    pub fn verify_jsonl(
        blob: &[u8],
        bundle: &PublicKeyBundle,
        mode: Option<bool>,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<u64> {
        verify_jsonl(blob, bundle, mode, checkpoint)
    }
}

/// The bytes of the chain's file, read line by line with every line bounded.
fn read_file_lines(path: &Path) -> Result<Vec<u8>> {
    let file = open_audit_file(path)?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut out = Vec::new();
    let mut entry = 0u64;
    loop {
        let start = out.len();
        let read = read_bounded_line(&mut reader, &mut out).map_err(|e| {
            PqError::Io(format!("cannot read audit file '{}': {e}", path.display()))
        })?;
        match read {
            LineRead::End => return Ok(out),
            LineRead::TooLong => return Err(line_too_long(entry)),
            LineRead::Line { .. } if is_blank(&out[start..]) => {}
            LineRead::Line { .. } => entry += 1,
        }
    }
}

/// The chain's file, opened again by its path to be read: a regular file only, so a path
/// swapped for a FIFO cannot block the thread (crates/kavach-files).
fn open_audit_file(path: &std::path::Path) -> Result<std::fs::File> {
    kavach_files::open_regular(path)
        .map_err(|why| PqError::Io(format!("audit file '{}' {why}", path.display())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::PathBuf;

    use super::*;
    use crate::audit::chain_entry::MAX_LINE_BYTES;

    /// A fresh path in a directory of its own, removed with everything in it on drop.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("kavach-pq-chain-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("audit.jsonl");
            Self { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn file_chain(path: &Path, entries: usize) -> (Arc<KavachKeyPair>, SignedAuditChain) {
        let kp = Arc::new(KavachKeyPair::generate().unwrap());
        let mut c = SignedAuditChain::open_file(path, kp.clone(), FileOptions::default()).unwrap();
        for i in 0..entries {
            let verdict = if i % 2 == 0 { "refuse" } else { "permit" };
            let e =
                AuditEntry::new("alice", "delete_db", verdict, "d", Default::default()).unwrap();
            c.append(&e).unwrap();
        }
        (kp, c)
    }

    /// Extend the file by `bytes` of hole: no disk used, read back as zero bytes, no `\n`.
    fn add_hole(path: &Path, bytes: u64) -> u64 {
        let f = OpenOptions::new().write(true).open(path).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len + bytes).unwrap();
        len
    }

    fn over_the_bound(entry: u64) -> String {
        format!("audit chain invalid: entry {entry}: line over {MAX_LINE_BYTES} bytes")
    }

    #[test]
    fn an_endless_line_fails_verify_and_export_of_a_file_chain_naming_its_entry() {
        let tmp = TempFile::new("endless-open");
        let (kp, c) = file_chain(&tmp.path, 2);
        add_hole(&tmp.path, 2 * MAX_LINE_BYTES as u64);
        let e = c.verify(kp.bundle_ref()).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            ("CHAIN_INVALID", over_the_bound(2))
        );
        let e = c.export_jsonl().unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            ("CHAIN_INVALID", over_the_bound(2))
        );
    }

    #[test]
    fn open_refuses_an_endless_line_terminated_or_not_and_leaves_the_file_as_it_is() {
        let tmp = TempFile::new("endless-reopen");
        let (kp, mut c) = file_chain(&tmp.path, 2);
        c.close().unwrap();
        let hole = 2 * MAX_LINE_BYTES as u64;
        add_hole(&tmp.path, hole);
        let refused = |path: &Path| {
            let before = std::fs::metadata(path).unwrap().len();
            let e =
                SignedAuditChain::open_file(path, kp.clone(), FileOptions::default()).unwrap_err();
            assert_eq!(
                (e.code(), e.to_string()),
                ("CHAIN_INVALID", over_the_bound(2))
            );
            assert_eq!(std::fs::metadata(path).unwrap().len(), before);
        };
        // Unterminated: no writer produces a line this long, so it is not a torn write of
        // one, and it is refused rather than read to its end to be truncated.
        refused(&tmp.path);
        // Followed by a `\n`: a complete line that cannot be an entry.
        let mut f = OpenOptions::new().append(true).open(&tmp.path).unwrap();
        f.write_all(b"\n").unwrap();
        refused(&tmp.path);
    }

    #[test]
    fn verify_holds_a_file_chain_to_its_own_head() {
        let tmp = TempFile::new("relink");
        let (kp, c) = file_chain(&tmp.path, 2);
        let original = std::fs::read(&tmp.path).unwrap();
        let entries: Vec<ChainEntry> = original
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| ChainEntry::from_line(l).unwrap())
            .collect();
        // Swap the refusal and the permit and relink them: every entry verifies on its own.
        let mut relinked = String::new();
        let mut previous = GENESIS.to_string();
        for (i, e) in entries.iter().rev().enumerate() {
            let e = ChainEntry::link(i as u64, previous, e.signed_payload.clone());
            relinked.push_str(&e.to_line().unwrap());
            relinked.push('\n');
            previous = e.entry_hash;
        }
        std::fs::write(&tmp.path, &relinked).unwrap();
        let b = kp.bundle_ref();
        assert_eq!(
            SignedAuditChain::verify_jsonl(relinked.as_bytes(), b, None, None),
            Ok(2)
        );
        let e = c.verify(b).unwrap_err();
        assert_eq!(e.code(), "CHAIN_INVALID");
        assert_eq!(
            e.to_string(),
            format!(
                "audit chain invalid: entry 1: hash {previous} is not the chain's head hash {} \
                 (entries rewritten or reordered and relinked)",
                c.head_hash()
            )
        );
        // The file as written verifies; a shorter one is still reported by its length.
        std::fs::write(&tmp.path, &original).unwrap();
        assert_eq!(c.verify(b), Ok(2));
        let first_line = original.iter().position(|b| *b == b'\n').unwrap() + 1;
        std::fs::write(&tmp.path, &original[..first_line]).unwrap();
        assert_eq!(
            c.verify(b).unwrap_err().to_string(),
            "audit chain invalid: entry 1: chain holds 1 entries but 2 were appended"
        );
    }
}
