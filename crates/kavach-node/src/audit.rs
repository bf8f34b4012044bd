//! `AuditEntry`, `SignedAuditChain` and `Checkpoint` for JS, and the adapter that lets a gate
//! append every verdict to a chain (`GateOptions.audit`).

use std::sync::Arc;

use kavach_core::audit::{AuditRecord, AuditSink};
use kavach_pq::audit as pq;
use napi::bindgen_prelude::{Buffer, ClassInstance, Either, FromNapiValue, Unknown};
use napi::JsValue;
use napi_derive::napi;
use parking_lot::Mutex;

use crate::dense_array::DenseArray;
use crate::error::{invalid_argument, Result};
use crate::keypair::{unix_seconds, KavachKeyPair, PqResultExt, PublicKeyBundle};

/// Optional fields of an audit entry.
#[napi(object, object_to_js = false)]
pub struct AuditEntryOptions {
    pub resource: Option<String>,
    pub decided_by: Option<String>,
    pub ip: Option<String>,
    /// The gate's evaluation id (a fresh UUID when absent).
    pub evaluation_id: Option<String>,
    pub session_id: Option<String>,
}

/// One audited decision (`verdict`: `permit`, `refuse` or `invalidate`).
#[napi]
pub struct AuditEntry {
    pub(crate) inner: pq::AuditEntry,
}

#[napi]
impl AuditEntry {
    /// A new entry stamped now. An unknown verdict throws `INVALID_ARGUMENT`.
    #[napi(catch_unwind, factory, js_name = "new")]
    pub fn create(
        principal_id: String,
        action_name: String,
        verdict: String,
        detail: String,
        options: Option<AuditEntryOptions>,
    ) -> Result<Self> {
        let o = options.map_or_else(pq::AuditEntryOptions::default, |o| pq::AuditEntryOptions {
            resource: o.resource,
            decided_by: o.decided_by,
            ip: o.ip,
            evaluation_id: o.evaluation_id,
            session_id: o.session_id,
            context_snapshot: None,
        });
        Ok(Self {
            inner: pq::AuditEntry::new(&principal_id, &action_name, &verdict, &detail, o).pq()?,
        })
    }

    #[napi(catch_unwind, getter)]
    pub fn id(&self) -> String {
        self.inner.id.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn evaluation_id(&self) -> String {
        self.inner.evaluation_id.clone()
    }
    /// RFC 3339 (UTC, `Z`).
    #[napi(catch_unwind, getter)]
    pub fn timestamp(&self) -> String {
        kavach_pq::json_bytes::format_rfc3339_z(&self.inner.timestamp)
    }
    #[napi(catch_unwind, getter)]
    pub fn principal_id(&self) -> String {
        self.inner.principal_id.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn action_name(&self) -> String {
        self.inner.action_name.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn resource(&self) -> Option<String> {
        self.inner.resource.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn verdict(&self) -> String {
        self.inner.verdict.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn verdict_detail(&self) -> String {
        self.inner.verdict_detail.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn decided_by(&self) -> Option<String> {
        self.inner.decided_by.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn session_id(&self) -> Option<String> {
        self.inner.session_id.clone()
    }
    #[napi(catch_unwind, getter)]
    pub fn ip(&self) -> Option<String> {
        self.inner.ip.clone()
    }

    /// The compact JSON that the chain signs as the payload's `data`.
    #[napi(catch_unwind, js_name = "toJSON")]
    pub fn to_json(&self) -> Result<String> {
        let bytes = self.inner.to_json_bytes().pq()?;
        String::from_utf8(bytes).map_err(invalid_argument)
    }
}

/// A signed (length, head hash, time) of a chain: keep it apart from the chain; verifying with
/// it detects truncation and relinking before that point.
#[napi]
pub struct Checkpoint {
    pub(crate) inner: pq::Checkpoint,
}

#[napi]
impl Checkpoint {
    /// Parse the JSON written by `toJSON()`.
    #[napi(catch_unwind, factory, js_name = "fromJSON")]
    pub fn from_json(json: Either<String, Buffer>) -> Result<Self> {
        let bytes: &[u8] = match &json {
            Either::A(s) => s.as_bytes(),
            Either::B(b) => b,
        };
        Ok(Self {
            inner: pq::Checkpoint::from_json(bytes).pq()?,
        })
    }

    /// Compact JSON (see the README for the signed bytes).
    #[napi(catch_unwind, js_name = "toJSON")]
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_json().pq()
    }

    /// Number of entries covered.
    #[napi(catch_unwind, getter)]
    pub fn length(&self) -> f64 {
        u64_to_f64(self.inner.length)
    }
    /// Hash of entry `length - 1` (`genesis` for 0).
    #[napi(catch_unwind, getter)]
    pub fn head_hash(&self) -> String {
        self.inner.head_hash.clone()
    }
    /// When it was signed, unix seconds.
    #[napi(catch_unwind, getter)]
    pub fn time(&self) -> f64 {
        unix_seconds(self.inner.time)
    }
    #[napi(catch_unwind, getter)]
    pub fn key_id(&self) -> String {
        self.inner.key_id.clone()
    }
    /// `ml-dsa-65+ed25519` or `ml-dsa-65`.
    #[napi(catch_unwind, getter)]
    pub fn algorithm(&self) -> String {
        self.inner.algorithm.clone()
    }
}

/// Options of `SignedAuditChain.openFile`.
#[napi(object, object_to_js = false)]
pub struct AuditFileOptions {
    /// Hybrid (ML-DSA-65 + Ed25519) or PQ-only. Omitted = the key pair's mode, hybrid, never
    /// the file's (a file whose Ed25519 signatures were stripped is refused): a PQ-only file
    /// is opened with `hybrid: false`.
    pub hybrid: Option<bool>,
    /// fsync after every `syncEvery` appends (group commit; an integer, 1 … 1000000). @default 1
    pub sync_every: Option<f64>,
}

/// Options of `SignedAuditChain.verifyJsonl`.
#[napi(object, object_to_js = false)]
pub struct VerifyJsonlOptions<'env> {
    /// Required mode; omitted = the bundle's, hybrid (never inferred from the blob): a PQ-only
    /// chain verifies only with `hybrid: false`.
    pub hybrid: Option<bool>,
    /// A `Checkpoint` the blob must reach and match.
    #[napi(ts_type = "Checkpoint")]
    pub checkpoint: Option<Unknown<'env>>,
}

/// An append-only, signed, hash-linked audit chain (in memory, or a durable JSONL file).
#[napi]
pub struct SignedAuditChain {
    inner: Arc<Mutex<pq::SignedAuditChain>>,
}

/// An entry count as a JS number: exact, since chains never reach 2^53 entries.
fn u64_to_f64(n: u64) -> f64 {
    n as f64
}

#[napi]
impl SignedAuditChain {
    /// An empty in-memory chain signed by `kp`. @param hybrid @default true
    #[napi(catch_unwind, constructor)]
    pub fn new(kp: &KavachKeyPair, hybrid: Option<bool>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(pq::SignedAuditChain::new(
                kp.as_pq(),
                hybrid.unwrap_or(true),
            ))),
        }
    }

    /// Open (or create) a durable chain file: the existing entries are verified (streaming),
    /// a torn final line from a crash is truncated (see `tornBytesTruncated`), and appends
    /// continue the chain with write + fsync. A line longer than any writer produces
    /// (26,227,892 bytes), unterminated or not, is no torn line: `CHAIN_INVALID`, and
    /// the file is left as it is.
    #[napi(catch_unwind, factory)]
    pub fn open_file(
        path: String,
        kp: &KavachKeyPair,
        opts: Option<AuditFileOptions>,
    ) -> Result<Self> {
        let o = pq::FileOptions {
            hybrid: opts.as_ref().and_then(|o| o.hybrid),
            sync_every: match opts.as_ref().and_then(|o| o.sync_every) {
                Some(n) => crate::options::whole_in("syncEvery", n, 1, 1_000_000)?,
                None => 1,
            },
        };
        // A new chain creates the file; an existing path must be a regular file.
        if std::path::Path::new(&path).exists() {
            regular_file(&path)?;
        }
        let chain =
            pq::SignedAuditChain::open_file(std::path::Path::new(&path), kp.as_pq(), o).pq()?;
        Ok(Self {
            inner: Arc::new(Mutex::new(chain)),
        })
    }

    /// Sign and append `entry`; returns the new length. For a file chain the line is on disk
    /// (fsynced, unless `syncEvery` > 1) when this returns. An expired key pair throws
    /// `KEY_EXPIRED` and appends nothing.
    #[napi(catch_unwind)]
    pub fn append(&self, entry: &AuditEntry) -> Result<f64> {
        Ok(u64_to_f64(self.inner.lock().append(&entry.inner).pq()?))
    }

    /// Group commit: sign the entries (in parallel), append them in order with one write and
    /// one fsync; returns the new length. All of them are acknowledged when this returns.
    #[napi(catch_unwind)]
    pub fn append_batch(
        &self,
        #[napi(ts_arg_type = "Array<AuditEntry>")] entries: DenseArray<
            ClassInstance<'_, AuditEntry>,
        >,
    ) -> Result<f64> {
        let list: Vec<pq::AuditEntry> = entries.0.iter().map(|e| e.inner.clone()).collect();
        Ok(u64_to_f64(self.inner.lock().append_batch(&list).pq()?))
    }

    #[napi(catch_unwind, getter)]
    pub fn length(&self) -> f64 {
        u64_to_f64(self.inner.lock().len())
    }
    #[napi(catch_unwind, getter)]
    pub fn is_empty(&self) -> bool {
        self.inner.lock().is_empty()
    }
    /// Hash of the last entry, `genesis` when empty.
    #[napi(catch_unwind, getter)]
    pub fn head_hash(&self) -> String {
        self.inner.lock().head_hash().to_string()
    }
    #[napi(catch_unwind, getter)]
    pub fn is_hybrid(&self) -> bool {
        self.inner.lock().is_hybrid()
    }
    #[napi(catch_unwind, getter)]
    pub fn key_id(&self) -> String {
        self.inner.lock().key_id().to_string()
    }
    /// Entries known to be fsynced (= `length` for in-memory chains).
    #[napi(catch_unwind, getter)]
    pub fn durable_length(&self) -> f64 {
        u64_to_f64(self.inner.lock().durable_len())
    }
    /// Bytes of an incomplete final line removed when the file was opened (0 if clean).
    #[napi(catch_unwind, getter)]
    pub fn torn_bytes_truncated(&self) -> f64 {
        u64_to_f64(self.inner.lock().torn_bytes_truncated())
    }

    /// fsync pending appends now (file chains with `syncEvery` > 1).
    #[napi(catch_unwind)]
    pub fn sync(&self) -> Result<()> {
        self.inner.lock().sync().pq()
    }

    /// Flush pending appends (fsync), release the file lock and close the file; idempotent.
    /// Later appends throw `CHAIN_CLOSED`; reads, `verify` and `checkpoint` keep working.
    /// In-memory chains just stop accepting appends.
    #[napi(catch_unwind)]
    pub fn close(&self) -> Result<()> {
        self.inner.lock().close().pq()
    }

    /// True after `close()`.
    #[napi(catch_unwind, getter)]
    pub fn is_closed(&self) -> bool {
        self.inner.lock().is_closed()
    }

    /// Verify the chain under `bundle`; returns the entry count.
    #[napi(catch_unwind)]
    pub fn verify(&self, bundle: &PublicKeyBundle) -> Result<f64> {
        Ok(u64_to_f64(self.inner.lock().verify(bundle.as_pq()).pq()?))
    }

    /// The chain as JSONL bytes.
    #[napi(catch_unwind)]
    pub fn export_jsonl(&self) -> Result<Buffer> {
        Ok(self.inner.lock().export_jsonl().pq()?.into())
    }

    /// A signed checkpoint of the current length and head.
    #[napi(catch_unwind)]
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        Ok(Checkpoint {
            inner: self.inner.lock().checkpoint().pq()?,
        })
    }

    /// Verify a JSONL chain (streaming, line by line) and return its entry count. The third
    /// argument is the mode (`true` hybrid, `false` PQ-only, omitted: the bundle's, hybrid;
    /// never taken from the blob) or `{ hybrid?, checkpoint? }`.
    #[napi(catch_unwind)]
    pub fn verify_jsonl(
        blob: Either<Buffer, String>,
        bundle: &PublicKeyBundle,
        options: Option<Either<bool, VerifyJsonlOptions<'_>>>,
    ) -> Result<f64> {
        let bytes: &[u8] = match &blob {
            Either::A(b) => b,
            Either::B(s) => s.as_bytes(),
        };
        let (mode, checkpoint) = match options {
            None => (None, None),
            Some(Either::A(h)) => (Some(h), None),
            Some(Either::B(o)) => {
                let cp = match o.checkpoint {
                    Some(u) if !is_nullish(&u) => Some(downcast_checkpoint(&u)?),
                    _ => None,
                };
                (o.hybrid, cp)
            }
        };
        let n = pq::verify_jsonl(bytes, bundle.as_pq(), mode, checkpoint.as_ref()).pq()?;
        Ok(u64_to_f64(n))
    }
}

fn is_nullish(v: &Unknown<'_>) -> bool {
    matches!(
        v.get_type(),
        Ok(napi::ValueType::Undefined | napi::ValueType::Null)
    )
}

fn downcast<'a, T: 'a + napi::bindgen_prelude::MaybeTypeTag>(
    v: &Unknown<'a>,
) -> Option<ClassInstance<'a, T>> {
    let raw = v.value();
    // SAFETY: `raw` is a live value of the current call; `from_napi_value` checks the napi
    // type tag before unwrapping, so a foreign object is an error, not a bad cast.
    unsafe { ClassInstance::<T>::from_napi_value(raw.env, raw.value) }.ok()
}

fn downcast_checkpoint(v: &Unknown<'_>) -> Result<pq::Checkpoint> {
    downcast::<Checkpoint>(v)
        .map(|c| c.inner.clone())
        .ok_or_else(|| {
            invalid_argument("checkpoint: expected a Checkpoint (see Checkpoint.fromJSON)")
        })
}

/// Appends every gate verdict to the chain: permit → token id, refuse → `[CODE] reason`,
/// invalidate → the scope (the gate formats `detail`). Observe-only would-be verdicts are
/// marked: detail prefixed `observed: ` and `context_snapshot` `{"observed":true}`.
struct ChainSink(Arc<Mutex<pq::SignedAuditChain>>);

impl AuditSink for ChainSink {
    fn ready(&self) -> std::result::Result<(), String> {
        self.0.lock().check_ready().map_err(|e| e.to_string())
    }

    fn record(&self, r: &AuditRecord<'_>) -> std::result::Result<(), String> {
        let opts = pq::AuditEntryOptions {
            resource: r.resource.map(str::to_string),
            decided_by: r.decided_by.map(str::to_string),
            ip: r.ip.map(str::to_string),
            evaluation_id: Some(r.evaluation_id.clone()),
            session_id: r.session_id.map(str::to_string),
            context_snapshot: r.observed.then(|| serde_json::json!({ "observed": true })),
        };
        let detail = if r.observed {
            format!("observed: {}", r.detail)
        } else {
            r.detail.clone()
        };
        let entry = pq::AuditEntry::new(r.principal_id, r.action_name, r.verdict, &detail, opts)
            .map_err(|e| e.to_string())?;
        crate::blocking::off_worker(|| self.0.lock().append(&entry))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl SignedAuditChain {
    /// The chain as a core audit sink (for `GateOptions.audit`).
    pub(crate) fn as_core(&self) -> Arc<dyn AuditSink> {
        Arc::new(ChainSink(self.inner.clone()))
    }
}

/// `Some` when `v` is a `SignedAuditChain` (for `GateOptions.audit`).
#[allow(dead_code, reason = "wired into GateOptions by options.rs")]
pub(crate) fn audit_sink_from_unknown(v: &Unknown<'_>) -> Option<Arc<dyn AuditSink>> {
    downcast::<SignedAuditChain>(v).map(|c| c.as_core())
}

/// Refuses a path that is not a regular file (a FIFO would block the thread for ever), naming
/// it, before the audit file is opened (`IO`, as an unreadable file).
fn regular_file(path: &str) -> Result<()> {
    match kavach_core::policy::file::not_a_regular_file(std::path::Path::new(path)) {
        Some(why) => Err(crate::error::to_js("IO", format!("'{path}' {why}"))),
        None => Ok(()),
    }
}
