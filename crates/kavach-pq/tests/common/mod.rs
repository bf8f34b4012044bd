//! Shared helpers of the integration tests: locating the test data and rebuilding fixture keys.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use kavach_pq::KavachKeyPair;

/// `tests/data`: the known-answer vectors and interop fixtures (origin in
/// `tests/data/vectors/PROVENANCE.md` and `tests/data/interop/README.md`).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

/// Reads a data file; a file kept gzip-compressed (`<rel>.gz`, for files over 2 MiB) is
/// decompressed with the system `gzip`.
pub fn read_shared(rel: &str) -> String {
    let p = shared_dir().join(rel);
    if !p.exists() {
        let gz = shared_dir().join(format!("{rel}.gz"));
        if gz.exists() {
            let out = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(&gz)
                .output()
                .unwrap_or_else(|e| panic!("gzip {}: {e}", gz.display()));
            assert!(out.status.success(), "gzip -dc {} failed", gz.display());
            return String::from_utf8(out.stdout).unwrap();
        }
    }
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

pub fn json_shared(rel: &str) -> serde_json::Value {
    serde_json::from_str(&read_shared(rel)).unwrap()
}

pub const SIGNER_ID: &str = "kavach-key-00000000-0000-4000-8000-000000000001";
pub const ROOT_ID: &str = "kavach-key-00000000-0000-4000-8000-0000000000ff";

/// The interop signer (seeds 0x10/0x11/0x12/0x13, created 2026-01-01T00:00:00Z, no expiry).
pub fn interop_signer() -> KavachKeyPair {
    KavachKeyPair::from_seeds(
        SIGNER_ID,
        [0x10; 32],
        [0x11; 32],
        [0x12; 64],
        [0x13; 32],
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        None,
    )
    .unwrap()
}

pub fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.trim()).unwrap()
}

/// Counts vectors of one file; `finish` prints `N passed of M applicable` and fails the test
/// if any applicable vector failed.
pub struct Tally {
    file: String,
    passed: usize,
    applicable: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    pub fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            passed: 0,
            applicable: 0,
            skipped: vec![],
            failures: vec![],
        }
    }

    pub fn check(&mut self, id: impl std::fmt::Display, ok: bool, detail: impl FnOnce() -> String) {
        self.applicable += 1;
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(format!("{id}: {}", detail()));
        }
    }

    pub fn skip(&mut self, why: impl Into<String>) {
        self.skipped.push(why.into());
    }

    pub fn finish(self) -> usize {
        let mut reasons = std::collections::BTreeMap::<String, usize>::new();
        for s in &self.skipped {
            *reasons.entry(s.clone()).or_default() += 1;
        }
        println!(
            "{}: {} passed of {} applicable{}",
            self.file,
            self.passed,
            self.applicable,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(
                    " (skipped: {})",
                    reasons
                        .iter()
                        .map(|(k, v)| format!("{v} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        assert!(self.applicable > 0, "{}: no applicable vectors", self.file);
        assert!(
            self.failures.is_empty(),
            "{}: {} failures:\n{}",
            self.file,
            self.failures.len(),
            self.failures.join("\n")
        );
        self.passed
    }
}

pub fn hexs(v: &serde_json::Value) -> Vec<u8> {
    hex(v.as_str().unwrap_or(""))
}

/// Every test case of an ACVP document (all groups), keyed by `tcId`.
pub fn tests_by_id(doc: &serde_json::Value) -> std::collections::HashMap<u64, serde_json::Value> {
    doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap().iter())
        .map(|t| (t["tcId"].as_u64().unwrap(), t.clone()))
        .collect()
}
