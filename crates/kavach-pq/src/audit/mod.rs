//! Signed audit chain (FORMATS.md "Audit chain"): entries signed as `SignedPayload`s and
//! linked by SHA-256 entry hashes; streaming verification; a durable file mode; signed
//! checkpoints that make truncation and relinking detectable.

pub mod chain;
pub mod chain_entry;
pub mod checkpoint;
pub mod entry;
pub mod file;
pub mod par;
pub mod verify;

pub use chain::SignedAuditChain;
pub use chain_entry::{entry_hash, ChainEntry, GENESIS, MAX_LINE_BYTES};
pub use checkpoint::Checkpoint;
pub use entry::{AuditEntry, AuditEntryOptions};
pub use file::FileOptions;
pub use verify::{
    verify_jsonl, verify_reader, verify_reader_to_head, ChainVerifier, LineRead, LineWindow,
};
