//! `PublicKeyDirectory`: key id → public-key bundle, in memory or loaded from a manifest file
//! (unsigned, or signed by a root ML-DSA-65 key and verified before any bundle is exposed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::bundle::PublicKeyBundle;
use crate::error::{PqError, Result};
use crate::keys::KavachKeyPair;
use crate::primitives::{Ed25519Verifier, MlDsaVerifier};

/// A bundle with its verifying keys decoded once, shared by verifiers (a verify then does no
/// key decoding).
#[derive(Debug)]
pub struct DirectoryEntry {
    /// The bundle as loaded.
    pub bundle: PublicKeyBundle,
    /// Its ML-DSA-65 verifying key.
    pub ml_dsa: MlDsaVerifier,
    /// Its Ed25519 verifying key, decoded.
    pub ed25519: Ed25519Verifier,
}

#[derive(Debug)]
enum Source {
    InMemory,
    File(PathBuf),
    SignedFile(PathBuf, Box<MlDsaVerifier>),
}

/// Root-signed manifest file (FORMATS.md "Directory manifests").
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedManifest {
    bundles_json: String,
    #[serde(with = "crate::json_bytes::bytes")]
    signature: Vec<u8>,
}

type Entries = BTreeMap<String, Arc<DirectoryEntry>>;

/// Key id → bundle. Thread-safe; file-backed directories are read-only and reloadable.
#[derive(Debug)]
pub struct PublicKeyDirectory {
    source: Source,
    entries: RwLock<Entries>,
}

impl PublicKeyDirectory {
    /// An in-memory directory (insert/remove allowed). Duplicate ids are an error.
    pub fn in_memory(bundles: Vec<PublicKeyBundle>) -> Result<Self> {
        let entries = index(bundles, PqError::InvalidArgument)?;
        Ok(Self {
            source: Source::InMemory,
            entries: RwLock::new(entries),
        })
    }

    /// Load an unsigned manifest (a JSON array of bundles). Read-only; `reload` re-reads it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let entries = load_unsigned(&path)?;
        Ok(Self {
            source: Source::File(path),
            entries: RwLock::new(entries),
        })
    }

    /// Load a root-signed manifest, verifying the root signature before any bundle is exposed.
    pub fn from_signed_file(path: impl AsRef<Path>, root_ml_dsa_vk: &[u8]) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let root = MlDsaVerifier::from_bytes(root_ml_dsa_vk)?;
        let entries = load_signed(&path, &root)?;
        Ok(Self {
            source: Source::SignedFile(path, Box::new(root)),
            entries: RwLock::new(entries),
        })
    }

    /// The bundle of `key_id`, or `KEY_NOT_FOUND` (`public key not found`).
    pub fn fetch(&self, key_id: &str) -> Result<PublicKeyBundle> {
        self.entry(key_id).map(|e| e.bundle.clone())
    }

    /// The decoded entry of `key_id`, or `KEY_NOT_FOUND`.
    pub fn entry(&self, key_id: &str) -> Result<Arc<DirectoryEntry>> {
        self.entries
            .read()
            .get(key_id)
            .cloned()
            .ok_or_else(|| PqError::KeyNotFound(crate::excerpt::excerpt(key_id)))
    }

    /// Add a bundle (in-memory directories only). An id already present is an
    /// `INVALID_ARGUMENT`, as in [`Self::in_memory`]: replacing a key is `remove` then
    /// `insert`, so a stray insert never swaps the key a verifier trusts.
    pub fn insert(&self, bundle: PublicKeyBundle) -> Result<()> {
        self.check_mutable("insert")?;
        let entry = decode_entry(bundle, PqError::InvalidArgument)?;
        let mut entries = self.entries.write();
        match entries.entry(entry.bundle.id.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => {
                Err(PqError::InvalidArgument(format!(
                    "duplicate key id '{}': remove it first to replace its keys",
                    crate::excerpt::excerpt(e.key())
                )))
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Arc::new(entry));
                Ok(())
            }
        }
    }

    /// Remove a bundle; returns whether it was present (in-memory directories only).
    pub fn remove(&self, key_id: &str) -> Result<bool> {
        self.check_mutable("remove")?;
        Ok(self.entries.write().remove(key_id).is_some())
    }

    /// Re-read the backing file; on any failure the previous bundles stay in place and the
    /// error is returned. In-memory directories have nothing to reload and keep their bundles.
    pub fn reload(&self) -> Result<usize> {
        let fresh = match &self.source {
            Source::InMemory => return Ok(self.len()),
            Source::File(p) => load_unsigned(p)?,
            Source::SignedFile(p, root) => load_signed(p, root)?,
        };
        let n = fresh.len();
        *self.entries.write() = fresh;
        Ok(n)
    }

    /// Number of bundles.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }

    /// Key ids, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.entries.read().keys().cloned().collect()
    }

    /// All bundles, sorted by id.
    pub fn bundles(&self) -> Vec<PublicKeyBundle> {
        self.entries
            .read()
            .values()
            .map(|e| e.bundle.clone())
            .collect()
    }

    /// True for file-backed (read-only) directories.
    pub fn is_file_backed(&self) -> bool {
        !matches!(self.source, Source::InMemory)
    }

    fn check_mutable(&self, op: &str) -> Result<()> {
        match &self.source {
            Source::InMemory => Ok(()),
            Source::File(p) | Source::SignedFile(p, _) => Err(PqError::InvalidArgument(format!(
                "cannot {op} on a directory loaded from '{}': edit the manifest and reload",
                p.display()
            ))),
        }
    }

    /// Unsigned manifest bytes: the compact JSON array of bundles, in the given order, as
    /// given: no check (tests build refused manifests with it). A writer runs
    /// [`Self::check_manifest`] first, as the binding does.
    pub fn build_unsigned_manifest(bundles: &[PublicKeyBundle]) -> Vec<u8> {
        unsigned_json(bundles).into_bytes()
    }

    /// What the manifest loaders check of the bundles, with their error (`MANIFEST_INVALID`
    /// naming a duplicate key id or an unusable bundle), so a writer never signs or writes a
    /// manifest that `from_file` / `from_signed_file` then refuse.
    pub fn check_manifest(bundles: &[PublicKeyBundle]) -> Result<()> {
        index(bundles.to_vec(), PqError::ManifestInvalid).map(drop)
    }

    /// Root-signed manifest bytes: `{"bundles_json":"…","signature":[…]}` with a plain
    /// ML-DSA-65 signature by `root` over the UTF-8 bytes of `bundles_json`. An expired root
    /// key pair signs nothing (`KEY_EXPIRED`).
    pub fn build_signed_manifest(
        root: &KavachKeyPair,
        bundles: &[PublicKeyBundle],
    ) -> Result<Vec<u8>> {
        root.check_not_expired_at(chrono::Utc::now())?;
        Self::build_signed_manifest_with(bundles, |msg| root.try_sign_ml_dsa(msg))
    }

    /// Same, with any ML-DSA-65 signing function (an HSM, or deterministic signing in tests).
    /// Bundles the loader would refuse are refused here first, with its error
    /// ([`Self::check_manifest`]), and nothing is signed.
    pub fn build_signed_manifest_with(
        bundles: &[PublicKeyBundle],
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        Self::check_manifest(bundles)?;
        let bundles_json = unsigned_json(bundles);
        let signature = sign(bundles_json.as_bytes())?;
        serde_json::to_vec(&SignedManifest {
            bundles_json,
            signature,
        })
        .map_err(|e| PqError::Format(format!("cannot encode signed manifest: {e}")))
    }
}

fn unsigned_json(bundles: &[PublicKeyBundle]) -> String {
    let parts: Vec<String> = bundles.iter().map(PublicKeyBundle::to_json).collect();
    format!("[{}]", parts.join(","))
}

fn decode_entry(bundle: PublicKeyBundle, err: fn(String) -> PqError) -> Result<DirectoryEntry> {
    bundle.validate().map_err(|e| err(e.to_string()))?;
    let ml_dsa = bundle.ml_dsa_verifier().map_err(|e| err(e.to_string()))?;
    let ed25519 = Ed25519Verifier::from_bytes(&bundle.ed25519_verifying_key);
    Ok(DirectoryEntry {
        bundle,
        ml_dsa,
        ed25519,
    })
}

fn index(bundles: Vec<PublicKeyBundle>, err: fn(String) -> PqError) -> Result<Entries> {
    let mut out = Entries::new();
    for b in bundles {
        let id = b.id.clone();
        let entry = decode_entry(b, err)?;
        if out.insert(id.clone(), Arc::new(entry)).is_some() {
            return Err(err(format!(
                "duplicate key id '{}'",
                crate::excerpt::excerpt(&id)
            )));
        }
    }
    Ok(out)
}

/// The largest manifest read, in bytes (64 MiB: about 5,700 bundles).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// A manifest's bytes, on load and on every `reload`: a regular file only (a path swapped for
/// a FIFO would block the thread for ever), at most [`MAX_MANIFEST_BYTES`].
fn read(path: &Path) -> Result<Vec<u8>> {
    kavach_files::read_bounded(path, MAX_MANIFEST_BYTES, "MAX_MANIFEST_BYTES")
        .map_err(|why| PqError::Io(format!("'{}' {why}", path.display())))
}

fn parse_bundles(json: &[u8], path: &Path) -> Result<Entries> {
    let bundles: Vec<PublicKeyBundle> =
        crate::json_object::objects_from_slice(json).map_err(|e| {
            PqError::ManifestInvalid(format!(
                "'{}' is not a JSON array of bundles: {}",
                path.display(),
                crate::excerpt::message(e)
            ))
        })?;
    index(bundles, PqError::ManifestInvalid)
}

fn load_unsigned(path: &Path) -> Result<Entries> {
    parse_bundles(&read(path)?, path)
}

fn load_signed(path: &Path, root: &MlDsaVerifier) -> Result<Entries> {
    let raw = read(path)?;
    let m: SignedManifest = crate::json_object::from_slice(&raw).map_err(|e| {
        PqError::ManifestInvalid(format!(
            "'{}' is not a signed manifest: {}",
            path.display(),
            crate::excerpt::message(e)
        ))
    })?;
    if !root.verify(m.bundles_json.as_bytes(), &m.signature) {
        return Err(PqError::SignatureInvalid(format!(
            "manifest '{}' is not signed by the given root key, or was modified",
            path.display()
        )));
    }
    parse_bundles(m.bundles_json.as_bytes(), path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_the_loader_refuses_is_neither_signed_nor_passed_as_writable() {
        let b = KavachKeyPair::generate().unwrap().public_bundle();
        let twice = [b.clone(), b.clone()];
        let mut signed_anything = false;
        let e = PublicKeyDirectory::build_signed_manifest_with(&twice, |_| {
            signed_anything = true;
            Ok(vec![0; crate::sizes::ML_DSA_SIG_LEN])
        })
        .unwrap_err();
        assert!(!signed_anything);
        let duplicate = format!("invalid manifest: duplicate key id '{}'", b.id);
        assert_eq!(
            (e.code(), e.to_string()),
            ("MANIFEST_INVALID", duplicate.clone())
        );
        let root = KavachKeyPair::generate().unwrap();
        let e = PublicKeyDirectory::build_signed_manifest(&root, &twice).unwrap_err();
        assert_eq!(e.to_string(), duplicate);
        // The loader's own error for the same bundles.
        let loaded = parse_bundles(
            &PublicKeyDirectory::build_unsigned_manifest(&twice),
            Path::new("m"),
        );
        assert_eq!(loaded.unwrap_err(), e);
        assert_eq!(PublicKeyDirectory::check_manifest(&twice).unwrap_err(), e);
        PublicKeyDirectory::check_manifest(&[b]).unwrap();
        let one = PublicKeyDirectory::build_signed_manifest(&root, &[root.public_bundle()]);
        assert!(one.is_ok());
    }
}
