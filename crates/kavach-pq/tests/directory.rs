//! Key directories: manifests on disk, reload semantics, signed manifests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use kavach_pq::{KavachKeyPair, PublicKeyDirectory};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "kavach-pq-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn unsigned_file_reload_and_read_only() {
    let tmp = TempDir::new("unsigned");
    let path = tmp.file("keys.json");
    let (a, b) = (
        KavachKeyPair::generate().unwrap(),
        KavachKeyPair::generate().unwrap(),
    );
    std::fs::write(
        &path,
        PublicKeyDirectory::build_unsigned_manifest(&[a.public_bundle()]),
    )
    .unwrap();
    let dir = PublicKeyDirectory::from_file(&path).unwrap();
    assert_eq!(dir.len(), 1);
    assert_eq!(dir.fetch(a.id()).unwrap(), a.public_bundle());
    // Read-only.
    let e = dir.insert(b.public_bundle()).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("cannot insert"));
    assert_eq!(dir.remove(a.id()).unwrap_err().code(), "INVALID_ARGUMENT");
    // Reload picks up a new file content.
    std::fs::write(
        &path,
        PublicKeyDirectory::build_unsigned_manifest(&[a.public_bundle(), b.public_bundle()]),
    )
    .unwrap();
    assert_eq!(dir.reload().unwrap(), 2);
    assert_eq!(dir.fetch(b.id()).unwrap(), b.public_bundle());
    // A broken file: reload fails, previous bundles stay.
    std::fs::write(&path, b"[{\"id\":").unwrap();
    let e = dir.reload().unwrap_err();
    assert_eq!(e.code(), "MANIFEST_INVALID");
    assert_eq!(dir.len(), 2);
    // A bundle with a wrong key length: reload fails, previous bundles stay.
    let mut bad = b.public_bundle();
    bad.ml_dsa_verifying_key.pop();
    std::fs::write(&path, PublicKeyDirectory::build_unsigned_manifest(&[bad])).unwrap();
    let e = dir.reload().unwrap_err();
    assert_eq!(e.code(), "MANIFEST_INVALID");
    assert!(e.to_string().contains("1952"), "{e}");
    assert_eq!(dir.len(), 2);
    // Duplicate ids.
    std::fs::write(
        &path,
        PublicKeyDirectory::build_unsigned_manifest(&[a.public_bundle(), a.public_bundle()]),
    )
    .unwrap();
    assert!(dir
        .reload()
        .unwrap_err()
        .to_string()
        .contains("duplicate key id"));
    // Missing file.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(dir.reload().unwrap_err().code(), "IO");
    assert_eq!(dir.len(), 2);
    assert_eq!(
        PublicKeyDirectory::from_file(&path).unwrap_err().code(),
        "IO"
    );
}

#[test]
fn signed_file_verified_before_use() {
    let tmp = TempDir::new("signed");
    let path = tmp.file("keys.signed.json");
    let root = KavachKeyPair::generate().unwrap();
    let other_root = KavachKeyPair::generate().unwrap();
    let a = KavachKeyPair::generate().unwrap();
    let b = KavachKeyPair::generate().unwrap();
    let root_vk = root.public_bundle().ml_dsa_verifying_key;
    std::fs::write(
        &path,
        PublicKeyDirectory::build_signed_manifest(&root, &[a.public_bundle()]).unwrap(),
    )
    .unwrap();
    let dir = PublicKeyDirectory::from_signed_file(&path, &root_vk).unwrap();
    assert_eq!(dir.key_ids(), vec![a.id().to_string()]);
    assert_eq!(
        dir.insert(b.public_bundle()).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    // Wrong root.
    let e = PublicKeyDirectory::from_signed_file(
        &path,
        &other_root.public_bundle().ml_dsa_verifying_key,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SIGNATURE_INVALID");
    assert!(e.to_string().contains("signature verification failed"));
    // Bad root key length.
    assert_eq!(
        PublicKeyDirectory::from_signed_file(&path, &root_vk[..100])
            .unwrap_err()
            .code(),
        "INVALID_KEY"
    );
    // Tampered content: swap a's bundle for b's inside bundles_json, keep the signature.
    let raw = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    let tampered = raw.replace(a.id(), b.id());
    assert_ne!(raw, tampered);
    std::fs::write(&path, &tampered).unwrap();
    let e = dir.reload().unwrap_err();
    assert_eq!(e.code(), "SIGNATURE_INVALID");
    assert_eq!(
        dir.key_ids(),
        vec![a.id().to_string()],
        "previous bundles kept"
    );
    assert_eq!(
        PublicKeyDirectory::from_signed_file(&path, &root_vk)
            .unwrap_err()
            .code(),
        "SIGNATURE_INVALID"
    );
    // A manifest re-signed by another root is rejected too.
    std::fs::write(
        &path,
        PublicKeyDirectory::build_signed_manifest(&other_root, &[b.public_bundle()]).unwrap(),
    )
    .unwrap();
    assert_eq!(dir.reload().unwrap_err().code(), "SIGNATURE_INVALID");
    // A properly re-signed manifest reloads.
    std::fs::write(
        &path,
        PublicKeyDirectory::build_signed_manifest(&root, &[a.public_bundle(), b.public_bundle()])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(dir.reload().unwrap(), 2);
    // An unsigned manifest is not a signed one.
    std::fs::write(
        &path,
        PublicKeyDirectory::build_unsigned_manifest(&[a.public_bundle()]),
    )
    .unwrap();
    assert_eq!(dir.reload().unwrap_err().code(), "MANIFEST_INVALID");
    assert_eq!(dir.len(), 2);
}

#[test]
fn in_memory_directory() {
    let a = KavachKeyPair::generate().unwrap();
    let dir = PublicKeyDirectory::in_memory(vec![]).unwrap();
    assert!(dir.is_empty());
    assert_eq!(dir.fetch(a.id()).unwrap_err().code(), "KEY_NOT_FOUND");
    dir.insert(a.public_bundle()).unwrap();
    assert_eq!(dir.len(), 1);
    assert_eq!(dir.reload().unwrap(), 1);
    let mut bad = a.public_bundle();
    bad.x25519_public_key = vec![];
    assert_eq!(dir.insert(bad).unwrap_err().code(), "INVALID_ARGUMENT");
    let e = PublicKeyDirectory::in_memory(vec![a.public_bundle(), a.public_bundle()]).unwrap_err();
    assert!(e.to_string().contains("duplicate"));
}

#[test]
fn insert_refuses_an_id_already_present_as_in_memory_does() {
    let a = KavachKeyPair::generate().unwrap();
    let dir = PublicKeyDirectory::in_memory(vec![a.public_bundle()]).unwrap();
    let e = dir.insert(a.public_bundle()).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("duplicate key id"), "{e}");
    assert!(dir.remove(a.id()).unwrap());
    dir.insert(a.public_bundle()).unwrap();
}
