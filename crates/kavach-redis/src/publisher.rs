//! The publishing side of [`crate::RedisBroadcaster`], shared by the broadcaster (whose callers
//! publish: a gate's Invalidate, `gate.revoke`, `bc.publish`) and its subscriber task, which
//! publishes again what Redis did not take ([`crate::unsent`]) once Redis answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kavach_core::store::SessionStore;
use kavach_core::{InvalidationScope, ScopeKind};
use parking_lot::{Mutex, RwLock};

use crate::broadcaster::WireScope;
use crate::connect::RedisConn;
use crate::error::{RedisStoreError, Result};
use crate::revocation_log::RevocationLog;
use crate::unsent::{Unsent, MAX_UNSENT};

pub struct Publisher {
    pub conn: Arc<RedisConn>,
    pub log: RevocationLog,
    /// This broadcaster's replica id (the `origin` field of what it publishes).
    pub origin: String,
    pub session_store: RwLock<Option<Arc<dyn SessionStore>>>,
    unsent: Mutex<Unsent>,
    /// Numbers publications in the order they start (see [`crate::unsent`]).
    next_seq: AtomicU64,
}

/// Which write of a publication failed.
enum Failed {
    /// The attached session store's (a session scope): another server, maybe still up.
    SessionStore(RedisStoreError),
    /// The broadcaster's own: its Redis is away.
    Log(RedisStoreError),
}

impl Publisher {
    pub fn new(conn: Arc<RedisConn>, log: RevocationLog, origin: String) -> Self {
        Self {
            conn,
            log,
            origin,
            session_store: RwLock::new(None),
            unsent: Mutex::new(Unsent::default()),
            next_seq: AtomicU64::new(0),
        }
    }

    /// Writes a session scope to the attached session store, records the scope in the
    /// revocation log and publishes it. When Redis does not take it, the scope is kept and
    /// published again by the subscriber task once Redis answers; the error says so.
    pub async fn publish(&self, scope: &InvalidationScope) -> Result<()> {
        if self.conn.is_closed() {
            return Err(RedisStoreError::Closed);
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let e = match self.send(scope).await {
            Ok(()) => {
                self.unsent
                    .lock()
                    .sent(seq, scope.target_kind, &scope.target_id);
                return Ok(());
            }
            Err(Failed::Log(RedisStoreError::Closed)) => return Err(RedisStoreError::Closed),
            Err(Failed::SessionStore(e) | Failed::Log(e)) => e,
        };
        let kept = self.unsent.lock().keep(seq, scope);
        Err(RedisStoreError::Unavailable(if kept {
            format!("{e}; kept, and published once Redis answers")
        } else {
            format!("{e}; not kept for a retry: {MAX_UNSENT} unpublished scopes are kept already")
        }))
    }

    /// Scopes kept for a retry.
    pub fn unsent(&self) -> usize {
        self.unsent.lock().len()
    }

    /// Nothing kept for this target is published any more (`forget`).
    pub fn forget(&self, kind: ScopeKind, target_id: &str) {
        self.unsent.lock().forget(kind, target_id);
    }

    /// Publishes the kept scopes, oldest first. A failure of the broadcaster's own Redis ends
    /// the pass (the rest would wait out the same timeout; the next pass starts over); a
    /// session scope whose session store fails stays kept and the pass goes on.
    pub async fn retry_unsent(&self) {
        if self.unsent.lock().is_empty() {
            return;
        }
        let scopes = self.unsent.lock().snapshot();
        for (seq, scope) in scopes {
            if self.conn.is_closed() {
                return;
            }
            match self.send(&scope).await {
                Ok(()) => self
                    .unsent
                    .lock()
                    .sent(seq, scope.target_kind, &scope.target_id),
                Err(Failed::SessionStore(_)) => {}
                Err(Failed::Log(_)) => return,
            }
        }
    }

    async fn send(&self, scope: &InvalidationScope) -> std::result::Result<(), Failed> {
        let store = self.session_store.read().clone();
        if let (ScopeKind::Session, Some(store)) = (scope.target_kind, store) {
            store
                .invalidate(&scope.target_id, &scope.reason)
                .await
                .map_err(|e| Failed::SessionStore(RedisStoreError::Unavailable(e.0)))?;
        }
        let payload = serde_json::to_string(&WireScope {
            target_kind: scope.target_kind.as_str().to_owned(),
            target_id: scope.target_id.clone(),
            reason: scope.reason.clone(),
            evaluator: scope.evaluator.clone(),
            origin: self.origin.clone(),
            expires_at_ms: None,
        })
        .map_err(|e| Failed::Log(RedisStoreError::InvalidArgument(e.to_string())))?;
        let field = RevocationLog::field(scope.target_kind.as_str(), &scope.target_id);
        self.log
            .record_and_publish(&self.conn, &field, &payload)
            .await
            .map_err(Failed::Log)?;
        Ok(())
    }
}
