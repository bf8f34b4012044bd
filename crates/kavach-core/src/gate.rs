//! The gate: one async pipeline (revocations → policy 50 → drift 100 → invariants 150 →
//! session count → sign → audit), driven synchronously for in-process stores.
//! SKELETON: the pipeline work fills this in; the public signatures below are what the
//! binding and the Redis crate build against.

use std::sync::Arc;

use futures::FutureExt;
use uuid::Uuid;

use crate::audit::AuditSink;
use crate::clock::{Clock, SystemClock};
use crate::context::ActionContext;
use crate::error::{KavachError, Result};
use crate::invalidation::InvalidationBroadcaster;
use crate::invariants::Invariant;
use crate::policy::PolicySet;
use crate::signing::PermitSigner;
use crate::store::{RateLimitStore, SessionStore};
use crate::verdict::{Decision, RefuseCode, Refusal, ScopeKind, Verdict};

/// Gate options after validation (the binding converts its options object into this once).
#[derive(Clone)]
pub struct GateConfig {
    pub invariants: Vec<Invariant>,
    pub observe_only: bool,
    pub max_session_actions: Option<u64>,
    pub enable_drift: bool,
    pub geo_drift_max_km: Option<f64>,
    pub permit_ttl_seconds: i64,
    pub invalidation_ttl_seconds: i64,
    pub token_signer: Option<Arc<dyn PermitSigner>>,
    pub rate_store: Option<Arc<dyn RateLimitStore>>,
    pub session_store: Option<Arc<dyn SessionStore>>,
    pub broadcaster: Option<Arc<dyn InvalidationBroadcaster>>,
    pub audit: Option<Arc<dyn AuditSink>>,
    pub clock: Arc<dyn Clock>,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            invariants: Vec::new(),
            observe_only: false,
            max_session_actions: None,
            enable_drift: true,
            geo_drift_max_km: None,
            permit_ttl_seconds: 30,
            invalidation_ttl_seconds: 3600,
            token_signer: None,
            rate_store: None,
            session_store: None,
            broadcaster: None,
            audit: None,
            clock: Arc::new(SystemClock),
        }
    }
}

pub struct Gate {
    config: GateConfig,
    _policies: PolicySet,
}

impl Gate {
    pub fn new(policies: PolicySet, config: GateConfig) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            config,
            _policies: policies,
        }))
    }

    /// True when every store is in-process, so `evaluate_sync` can answer.
    pub fn supports_sync(&self) -> bool {
        self.config
            .rate_store
            .as_ref()
            .is_none_or(|s| s.is_in_process())
            && self
                .config
                .session_store
                .as_ref()
                .is_none_or(|s| s.is_in_process())
    }

    /// The async pipeline: the one implementation behind sync and async evaluation.
    pub async fn evaluate(&self, _ctx: &ActionContext) -> Verdict {
        Verdict {
            evaluation_id: Uuid::new_v4(),
            decision: Decision::Refuse(Refusal {
                code: RefuseCode::NoPolicyMatch,
                evaluator: "policy".into(),
                reason: "no policy matched (default deny)".into(),
            }),
            observed: None,
        }
    }

    pub fn evaluate_sync(&self, ctx: &ActionContext) -> Result<Verdict> {
        if !self.supports_sync() {
            return Err(KavachError::SyncNotSupported(
                "this gate uses network stores: call evaluateAsync()".into(),
            ));
        }
        self.evaluate(ctx).now_or_never().ok_or_else(|| {
            KavachError::SyncNotSupported("evaluation did not complete synchronously".into())
        })
    }

    pub fn reload(&self, _policies: PolicySet) {}

    /// policy + drift (unless disabled) + invariants (if any).
    pub fn evaluator_count(&self) -> u32 {
        1 + u32::from(self.config.enable_drift) + u32::from(!self.config.invariants.is_empty())
    }

    /// Undo a principal/role (or session) revocation on this gate.
    pub fn lift(&self, _kind: ScopeKind, _target_id: &str) {}

    /// Unsubscribe from the broadcaster; the gate keeps answering with what it has.
    pub fn close(&self) {}
}
