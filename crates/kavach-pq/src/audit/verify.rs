//! Streaming verification of an audit chain: one line at a time, holding only the running
//! head (index, previous hash, mode), so memory stays bounded however long the chain is.
//!
//! Checks per entry, in this order, each failure naming `entry <n>`: the line parses, the
//! index is `n`, `previous_hash` is the previous entry's hash (`genesis` for entry 0), the mode
//! (hybrid or PQ-only) matches the chain's (an explicit mode that differs is refused before any
//! cryptography; a later change of mode is a splice), the key id is the verifying key's, the
//! entry hash recomputes, both signatures verify, and, with a checkpoint, the entry at
//! `length - 1` carries the checkpoint's head hash. `finish` then refuses a chain shorter than
//! the checkpoint.

use std::io::BufRead;

use crate::audit::chain_entry::{entry_hash, is_blank, ChainEntry, GENESIS};
use crate::audit::checkpoint::Checkpoint;
use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};
use crate::signed_payload::{mode_name, PayloadVerifier};

/// Running state of a chain verification.
#[derive(Debug)]
pub struct ChainVerifier {
    verifier: PayloadVerifier,
    mode: Option<bool>,
    next_index: u64,
    head: String,
    checkpoint: Option<Checkpoint>,
}

fn invalid(n: u64, what: impl std::fmt::Display) -> PqError {
    PqError::ChainInvalid(format!("entry {n}: {what}"))
}

impl ChainVerifier {
    /// Start verifying under `bundle`. `mode`: `Some(true)` hybrid, `Some(false)` PQ-only,
    /// `None` inferred from the first entry. A checkpoint is verified here, before any entry.
    pub fn new(
        bundle: &PublicKeyBundle,
        mode: Option<bool>,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<Self> {
        let verifier = PayloadVerifier::new(bundle)?;
        if let Some(cp) = checkpoint {
            cp.verify_with(&verifier, mode)?;
        }
        Ok(Self {
            verifier,
            mode: mode.or(checkpoint.map(Checkpoint::is_hybrid)),
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

    /// The chain's mode once known (explicit or inferred from the first entry).
    pub fn mode(&self) -> Option<bool> {
        self.mode
    }

    /// Feed one line (without its `\n`); blank lines are ignored. State changes only when the
    /// entry is accepted.
    pub fn push_line(&mut self, line: &[u8]) -> Result<()> {
        if is_blank(line) {
            return Ok(());
        }
        let n = self.next_index;
        let entry =
            ChainEntry::from_line(line).map_err(|e| invalid(n, format!("malformed line: {e}")))?;
        self.push_entry(&entry)
    }

    /// Check one parsed entry as the next one.
    pub fn push_entry(&mut self, e: &ChainEntry) -> Result<()> {
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
        match self.mode {
            None => self.mode = Some(entry_mode),
            Some(m) if m != entry_mode => {
                if n == 0 {
                    return Err(PqError::AlgorithmMismatch(format!(
                        "entry {n}: {} chain refused by a {} verifier (hybrid mode must match; \
                         downgrade refused before any signature check)",
                        mode_name(entry_mode),
                        mode_name(m)
                    )));
                }
                return Err(invalid(
                    n,
                    format!(
                        "{} entry in a {} chain (mixed hybrid and pq-only entries: splice)",
                        mode_name(entry_mode),
                        mode_name(m)
                    ),
                ));
            }
            Some(_) => {}
        }
        if p.key_id != self.verifier.key_id() {
            return Err(invalid(
                n,
                format!(
                    "key id '{}' is not the verifying key '{}'",
                    p.key_id,
                    self.verifier.key_id()
                ),
            ));
        }
        let computed = entry_hash(n, &e.previous_hash, p);
        if computed != e.entry_hash {
            return Err(invalid(n, "entry hash mismatch (entry modified)"));
        }
        self.verifier
            .verify(p, entry_mode)
            .map_err(|err| invalid(n, format!("signature verification failed ({err})")))?;
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

/// Verify a JSONL blob line by line (bounded memory beyond the blob itself) and return the
/// number of entries. `mode`: `None` infers it from the blob.
pub fn verify_jsonl(
    blob: &[u8],
    bundle: &PublicKeyBundle,
    mode: Option<bool>,
    checkpoint: Option<&Checkpoint>,
) -> Result<u64> {
    let mut v = ChainVerifier::new(bundle, mode, checkpoint)?;
    for line in blob.split(|b| *b == b'\n') {
        v.push_line(line)?;
    }
    v.finish()
}

/// Verify a chain from a reader (a file), one line in memory at a time.
pub fn verify_reader<R: BufRead>(
    mut reader: R,
    bundle: &PublicKeyBundle,
    mode: Option<bool>,
    checkpoint: Option<&Checkpoint>,
) -> Result<u64> {
    let mut v = ChainVerifier::new(bundle, mode, checkpoint)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        v.push_line(&line)?;
    }
    v.finish()
}
