//! `PublicKeyDirectory` and `DirectoryTokenVerifier` for JS.

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, ClassInstance};
use napi_derive::napi;

use crate::dense_array::DenseArray;
use crate::error::Result;
use crate::keypair::{PqResultExt, PublicKeyBundle};
use crate::signer::{token_fields, PermitTokenInput};

/// Key id → public keys. `inMemory` directories accept insert/remove; file-backed ones are
/// read-only and `reload()` re-reads (a failed reload keeps the previous bundles).
#[napi]
pub struct PublicKeyDirectory {
    inner: Arc<kavach_pq::PublicKeyDirectory>,
}

fn bundles_of(list: &[ClassInstance<'_, PublicKeyBundle>]) -> Vec<kavach_pq::PublicKeyBundle> {
    list.iter().map(|b| b.inner.clone()).collect()
}

#[napi]
impl PublicKeyDirectory {
    /// An in-memory directory, optionally pre-filled.
    #[napi(catch_unwind, factory)]
    pub fn in_memory(
        #[napi(ts_arg_type = "Array<PublicKeyBundle> | undefined | null")] bundles: Option<
            DenseArray<ClassInstance<'_, PublicKeyBundle>>,
        >,
    ) -> Result<Self> {
        let list = bundles.map(|b| bundles_of(&b.0)).unwrap_or_default();
        Ok(Self {
            inner: Arc::new(kavach_pq::PublicKeyDirectory::in_memory(list).pq()?),
        })
    }

    /// Load an unsigned manifest file (a JSON array of bundles).
    #[napi(catch_unwind, factory)]
    pub fn from_file(path: String) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(kavach_pq::PublicKeyDirectory::from_file(path).pq()?),
        })
    }

    /// Load a root-signed manifest; the root ML-DSA-65 signature is verified before use.
    #[napi(catch_unwind, factory)]
    pub fn from_signed_file(path: String, root_ml_dsa_verifying_key: Buffer) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(
                kavach_pq::PublicKeyDirectory::from_signed_file(path, &root_ml_dsa_verifying_key)
                    .pq()?,
            ),
        })
    }

    /// Unsigned manifest bytes (JSON array of bundles), to write to a file. Bundles the
    /// loader would refuse (a duplicate key id) throw its `MANIFEST_INVALID` here instead.
    #[napi(catch_unwind)]
    pub fn build_unsigned_manifest(
        #[napi(ts_arg_type = "Array<PublicKeyBundle>")] bundles: DenseArray<
            ClassInstance<'_, PublicKeyBundle>,
        >,
    ) -> Result<Buffer> {
        let list = bundles_of(&bundles.0);
        kavach_pq::PublicKeyDirectory::check_manifest(&list).pq()?;
        Ok(kavach_pq::PublicKeyDirectory::build_unsigned_manifest(&list).into())
    }

    /// The bundle of `keyId`; throws `KEY_NOT_FOUND` (`public key not found`).
    #[napi(catch_unwind)]
    pub fn fetch(&self, key_id: String) -> Result<PublicKeyBundle> {
        crate::faults::panic_if_armed();
        Ok(PublicKeyBundle {
            inner: self.inner.fetch(&key_id).pq()?,
        })
    }

    /// Add a bundle (in-memory directories only); an id already present throws
    /// `INVALID_ARGUMENT` (`remove` it first to replace its keys).
    #[napi(catch_unwind)]
    pub fn insert(&self, bundle: &PublicKeyBundle) -> Result<()> {
        self.inner.insert(bundle.inner.clone()).pq()
    }

    /// Remove a bundle; true when it was present (in-memory directories only).
    #[napi(catch_unwind)]
    pub fn remove(&self, key_id: String) -> Result<bool> {
        self.inner.remove(&key_id).pq()
    }

    /// Re-read the backing file; returns the number of bundles. On failure this throws and the
    /// previous bundles stay.
    #[napi(catch_unwind)]
    pub fn reload(&self) -> Result<u32> {
        let n = self.inner.reload().pq()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Number of bundles.
    #[napi(catch_unwind, getter)]
    pub fn length(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// True when the directory holds no bundle.
    #[napi(catch_unwind, getter)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Key ids, sorted (a property, like `length` and `isEmpty`).
    #[napi(catch_unwind, getter)]
    pub fn key_ids(&self) -> Vec<String> {
        crate::faults::panic_if_armed();
        self.inner.key_ids()
    }
}

/// Verifies permit envelopes from any signer in a directory, in one mode (hybrid by default).
#[napi]
pub struct DirectoryTokenVerifier {
    inner: kavach_pq::DirectoryTokenVerifier,
}

#[napi]
impl DirectoryTokenVerifier {
    /// `hybrid` (default true) selects the only algorithm accepted.
    #[napi(catch_unwind, constructor)]
    pub fn new(directory: &PublicKeyDirectory, hybrid: Option<bool>) -> Self {
        crate::faults::panic_if_armed();
        Self {
            inner: kavach_pq::DirectoryTokenVerifier::new(
                directory.inner.clone(),
                hybrid.unwrap_or(true),
            ),
        }
    }

    #[napi(catch_unwind, getter)]
    pub fn is_hybrid(&self) -> bool {
        self.inner.is_hybrid()
    }

    /// Throws unless `signature` verifies over `token` under the key its envelope names
    /// (`public key not found`, `KEY_EXPIRED` when `enforceExpiry` (default true) and the
    /// key's bundle has expired, `signature verification failed`). The token's own
    /// `expiresAt` is not judged.
    #[napi(catch_unwind)]
    pub fn verify(
        &self,
        token: PermitTokenInput,
        signature: Buffer,
        enforce_expiry: Option<bool>,
    ) -> Result<()> {
        self.inner
            .verify(
                &token_fields(&token)?,
                &signature,
                enforce_expiry.unwrap_or(true),
            )
            .pq()
    }
}
