//! Every function JS can call is `#[napi(catch_unwind)]`, so a Rust panic becomes a JS error
//! instead of aborting the process (issue: no input from JS aborts the process). This test reads
//! the crate's sources and fails naming any exported function that lacks it: a new entry point
//! cannot ship without the guard.
#![allow(clippy::expect_used, clippy::panic)] // a test: a failure is the report

use std::fs;
use std::path::{Path, PathBuf};

/// Source files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The attribute block (attributes and doc comments) right above line `at`, joined.
fn attributes_above(lines: &[&str], at: usize) -> String {
    let mut text = String::new();
    let mut i = at;
    while i > 0 {
        let l = lines[i - 1].trim();
        let part_of_block = l.starts_with("#[")
            || l.starts_with("//")
            || l.ends_with(")]")
            || l.ends_with(',')
            || l.starts_with("reason")
            || l.starts_with("clippy::")
            || l.starts_with("ts_")
            || l == "catch_unwind,"
            || l == "factory,"
            || l == "getter,";
        if !part_of_block {
            break;
        }
        text.insert_str(0, l);
        i -= 1;
    }
    text
}

/// `name (file:line)` of every exported function without `catch_unwind`.
fn unguarded(file: &Path, source: &str) -> Vec<String> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    let mut in_napi_impl = false;
    for (n, raw) in lines.iter().enumerate() {
        let line = raw.trim_start();
        let indent = raw.len() - line.len();
        if indent == 0 && line.starts_with("impl ") {
            in_napi_impl = attributes_above(&lines, n).contains("#[napi");
            continue;
        }
        if indent == 0 && *raw == "}" {
            in_napi_impl = false;
            continue;
        }
        let is_fn = line.starts_with("pub fn ") || line.starts_with("pub async fn ");
        if !is_fn || line.contains("fn init(") {
            continue;
        }
        let above = attributes_above(&lines, n);
        let exported = (indent == 0 && above.contains("#[napi")) || (indent == 4 && in_napi_impl);
        if exported && !above.contains("catch_unwind") {
            let name = line.split('(').next().unwrap_or(line);
            found.push(format!("{name} ({}:{})", file.display(), n + 1));
        }
    }
    found
}

#[test]
fn every_exported_function_catches_panics() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing = Vec::new();
    for f in &files {
        let source = fs::read_to_string(f).expect("read source");
        missing.extend(unguarded(f, &source));
    }
    assert!(
        missing.is_empty(),
        "exported without #[napi(catch_unwind)]:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_check_finds_an_unguarded_method() {
    let source = "#[napi]\nimpl Gate {\n    /// doc\n    #[napi]\n    pub fn plain(&self) {}\n    #[napi(catch_unwind)]\n    pub fn guarded(&self) {}\n    pub fn bare(&self) {}\n}\n#[napi(catch_unwind, factory)]\npub fn free() {}\n#[napi]\npub fn free_unguarded() {}\n";
    let found = unguarded(Path::new("x.rs"), source);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("pub fn plain"));
    assert!(found[1].starts_with("pub fn bare"));
    assert!(found[2].starts_with("pub fn free_unguarded"));
}
