//! The gate: one async pipeline, driven synchronously for in-process stores:
//! validate → revocations → session → policy (50) → drift (100) → invariants (150) →
//! session action count → permit token → sign → audit (→ revoke + publish on Invalidate).
//! Every failure along the way is a Refuse; nothing here panics or permits by default.

mod explain;
mod outcome;
mod pending;
mod policy_step;
mod refusals;
mod session_step;
mod unevaluated;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use futures::FutureExt;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::audit::AuditSink;
use crate::clock::{Clock, SystemClock};
use crate::context::ActionContext;
use crate::drift::{DriftConfig, DriftEvaluator, DriftOutcome, SessionView};
use crate::error::{KavachError, Result};
use crate::invalidation::revocations::RevocationList;
use crate::invalidation::{InvalidationBroadcaster, ScopeListener};
use crate::invariants::Invariant;
use crate::policy::PolicySet;
use crate::signing::PermitSigner;
use crate::store::memory::{MemoryRateLimitStore, MemorySessionStore};
use crate::store::{RateLimitStore, Recorded, SessionStore};
use crate::verdict::{Decision, InvalidationScope, Refusal, RefuseCode, ScopeKind, Verdict};

use refusals::{refusal, refuse, store_unavailable};

pub use explain::{ConditionCheck, Explanation, Step};
pub use pending::{PendingSlot, DEFAULT_MAX_PENDING, MAX_PENDING_LIMIT};
pub use unevaluated::UNIDENTIFIED_PRINCIPAL;

use pending::PendingEvaluations;

/// The longest `session_idle_seconds`: a year.
pub const MAX_SESSION_IDLE_SECONDS: i64 = 365 * 86_400;

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
    /// How far ahead of the clock a context's `sessionStartedAt` may be (0 ..= a day).
    pub max_clock_skew_seconds: i64,
    /// Asynchronous evaluations in flight at once (1 ..= `MAX_PENDING_LIMIT`); see `admit`.
    pub max_pending_evaluations: usize,
    /// How long the in-process session store keeps an idle session (1 ..=
    /// `MAX_SESSION_IDLE_SECONDS`; default `MemorySessionStore::DEFAULT_IDLE_TTL_SECONDS`).
    /// Not with `session_store`, which keeps sessions for its own TTL.
    pub session_idle_seconds: Option<i64>,
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
            max_clock_skew_seconds: session_step::DEFAULT_MAX_START_SKEW_SECS,
            max_pending_evaluations: DEFAULT_MAX_PENDING,
            session_idle_seconds: None,
            token_signer: None,
            rate_store: None,
            session_store: None,
            broadcaster: None,
            audit: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The name `maxSessionActions` goes by in its refusals and in `explain`.
pub const SESSION_CAP_INVARIANT: &str = "max_session_actions";

impl GateConfig {
    fn validate(&self) -> Result<()> {
        for (i, inv) in self.invariants.iter().enumerate() {
            inv.validate()
                .map_err(|e| KavachError::InvalidOptions(format!("invariants[{i}]: {e}")))?;
            // A violation's reason names its invariant: two of one name could not be told
            // apart, nor one named like the session cap's own invariant.
            let taken = self.invariants[..i].iter().any(|o| o.name == inv.name)
                || (self.max_session_actions.is_some() && inv.name == SESSION_CAP_INVARIANT);
            if taken {
                return Err(KavachError::InvalidOptions(format!(
                    "invariants[{i}]: the name '{}' is taken (invariant names are unique, and \
                     '{SESSION_CAP_INVARIANT}' is maxSessionActions' own)",
                    crate::policy::identifier::excerpt(&inv.name)
                )));
            }
        }
        if self.permit_ttl_seconds < 1 {
            return Err(KavachError::InvalidOptions(format!(
                "permitTtlSeconds must be at least 1, got {}",
                self.permit_ttl_seconds
            )));
        }
        if self.invalidation_ttl_seconds < 1 {
            return Err(KavachError::InvalidOptions(format!(
                "invalidationTtlSeconds must be at least 1, got {}",
                self.invalidation_ttl_seconds
            )));
        }
        if !(0..=session_step::MAX_START_SKEW_LIMIT_SECS).contains(&self.max_clock_skew_seconds) {
            return Err(KavachError::InvalidOptions(format!(
                "maxClockSkewSeconds must be an integer from 0 to {}, got {}",
                session_step::MAX_START_SKEW_LIMIT_SECS,
                self.max_clock_skew_seconds
            )));
        }
        if !(1..=MAX_PENDING_LIMIT).contains(&self.max_pending_evaluations) {
            return Err(KavachError::InvalidOptions(format!(
                "maxPendingEvaluations must be an integer from 1 to {MAX_PENDING_LIMIT}, got {}",
                self.max_pending_evaluations
            )));
        }
        if let Some(idle) = self.session_idle_seconds {
            if !(1..=MAX_SESSION_IDLE_SECONDS).contains(&idle) {
                return Err(KavachError::InvalidOptions(format!(
                    "sessionIdleSeconds must be an integer from 1 to {MAX_SESSION_IDLE_SECONDS}, got {idle}"
                )));
            }
            if self.session_store.is_some() {
                return Err(KavachError::InvalidOptions(
                    "sessionIdleSeconds sets the in-process session store's idle time; a sessionStore keeps sessions for its own ttlSeconds".into(),
                ));
            }
        }
        if let Some(km) = self.geo_drift_max_km {
            if !km.is_finite() || km < 0.0 {
                return Err(KavachError::InvalidOptions(format!(
                    "geoDriftMaxKm must be a finite number >= 0, got {km}"
                )));
            }
        }
        Ok(())
    }
}

pub struct Gate {
    config: GateConfig,
    policies: ArcSwap<PolicySet>,
    rate_store: Arc<dyn RateLimitStore>,
    session_store: Arc<dyn SessionStore>,
    revocations: Arc<RevocationList>,
    drift: Option<DriftEvaluator>,
    /// Asynchronous evaluations in flight (`admit`).
    pending: Arc<PendingEvaluations>,
    /// The broadcaster subscription, until `close()`.
    subscription: Mutex<Option<u64>>,
    /// Set by `close()`: from then on every evaluation refuses (see `CLOSED_REASON`).
    closed: AtomicBool,
}

/// Why a closed gate refuses (`STORE_UNAVAILABLE`, evaluator `gate`). A closed gate no longer
/// hears revocations from its broadcaster, so answering from what it still holds could permit
/// a principal another replica has revoked since.
pub const CLOSED_REASON: &str =
    "the gate is closed: it no longer hears revocations, so it refuses every call";

/// The pipeline's answer before observe-only and audit are applied.
struct Decided<'p> {
    decision: Decision,
    /// The permitting policy's name (for the audit record).
    permitted_by: Option<&'p str>,
}

impl Decided<'_> {
    fn from(decision: Decision) -> Self {
        Self {
            decision,
            permitted_by: None,
        }
    }
}

impl Gate {
    pub fn new(policies: PolicySet, mut config: GateConfig) -> Result<Arc<Self>> {
        config.validate()?;
        // Rebuilt through `Invariant::new`, which holds the field in NFC as contexts carry
        // their param names: a field written in NFD would otherwise be a cap that never applies.
        config.invariants = std::mem::take(&mut config.invariants)
            .into_iter()
            .map(|i| Invariant::new(i.name, i.field, i.max_value))
            .collect::<Result<_>>()?;
        let clock = config.clock.clone();
        let rate_store = config
            .rate_store
            .clone()
            .unwrap_or_else(|| Arc::new(MemoryRateLimitStore::new(clock.clone())));
        let session_store = config.session_store.clone().unwrap_or_else(|| {
            let idle = config
                .session_idle_seconds
                .unwrap_or(MemorySessionStore::DEFAULT_IDLE_TTL_SECONDS);
            Arc::new(MemorySessionStore::with_limits(
                clock.clone(),
                MemorySessionStore::DEFAULT_MAX_SESSIONS,
                idle,
            ))
        });
        let revocations = Arc::new(RevocationList::new(config.invalidation_ttl_seconds));
        #[allow(
            clippy::needless_update,
            reason = "keeps compiling when drift adds options"
        )]
        let drift = config.enable_drift.then(|| {
            DriftEvaluator::new(DriftConfig {
                geo_max_km: config.geo_drift_max_km,
                ..DriftConfig::default()
            })
        });
        let subscription = config.broadcaster.as_ref().map(|bc| {
            // Weak: the broadcaster must not keep a dropped gate's revocations alive.
            let list: Weak<RevocationList> = Arc::downgrade(&revocations);
            let clock = clock.clone();
            let listener: ScopeListener = Arc::new(move |scope: &InvalidationScope| {
                if let Some(list) = list.upgrade() {
                    list.revoke(scope, clock.now_ms());
                }
            });
            bc.subscribe(listener)
        });
        let pending = PendingEvaluations::new(config.max_pending_evaluations);
        Ok(Arc::new(Self {
            config,
            policies: ArcSwap::from_pointee(policies),
            rate_store,
            session_store,
            revocations,
            drift,
            pending,
            subscription: Mutex::new(subscription),
            closed: AtomicBool::new(false),
        }))
    }

    /// True when every store (and the broadcaster) is in-process, so `evaluate_sync` can answer.
    pub fn supports_sync(&self) -> bool {
        self.stores_in_process()
            && self
                .config
                .broadcaster
                .as_ref()
                .is_none_or(|b| b.is_in_process())
    }

    /// True when the rate and session stores answer without I/O: `explain` (which publishes
    /// nothing) can then be driven synchronously.
    pub fn stores_in_process(&self) -> bool {
        self.rate_store.is_in_process() && self.session_store.is_in_process()
    }

    /// The async pipeline: the one implementation behind sync and async evaluation.
    pub async fn evaluate(&self, ctx: &ActionContext) -> Verdict {
        let evaluation_id = crate::ids::new_v4();
        let now_ms = self.config.clock.now_ms();
        let policies = self.policies.load_full();
        let Decided {
            mut decision,
            permitted_by,
        } = self.decide(&policies, ctx, evaluation_id, now_ms).await;
        let observe = self.config.observe_only;
        if !observe {
            if let Decision::Invalidate(scope) = &decision {
                // The verdict already blocks; what could not be propagated is reported.
                for failure in self.apply_invalidation(scope, now_ms).await {
                    eprintln!("kavach: {}: {failure}", outcome::scope_text(scope));
                }
            }
        }
        if let Some(sink) = &self.config.audit {
            decision = outcome::audit(
                sink.as_ref(),
                ctx,
                evaluation_id,
                decision,
                permitted_by,
                observe,
            );
        }
        self.verdict(ctx, evaluation_id, now_ms, decision)
    }

    /// The verdict for `decision`. Observe-only: always Permit, with an unsigned token marked
    /// as forced, and the decision as observed.
    fn verdict(
        &self,
        ctx: &ActionContext,
        evaluation_id: Uuid,
        now_ms: i64,
        decision: Decision,
    ) -> Verdict {
        if !self.config.observe_only {
            return Verdict {
                evaluation_id,
                decision,
                observed: None,
            };
        }
        let mut token = match &decision {
            Decision::Permit(t) => t.clone(),
            _ => outcome::permit_token(
                ctx,
                evaluation_id,
                now_ms.div_euclid(1000),
                self.config.permit_ttl_seconds,
            ),
        };
        token.signature = None;
        token.observe_only = true;
        Verdict {
            evaluation_id,
            decision: Decision::Permit(token),
            observed: Some(Box::new(decision)),
        }
    }

    async fn decide<'p>(
        &self,
        policies: &'p PolicySet,
        ctx: &ActionContext,
        evaluation_id: Uuid,
        now_ms: i64,
    ) -> Decided<'p> {
        if self.is_closed() {
            return Decided::from(refuse(
                RefuseCode::StoreUnavailable,
                "gate",
                CLOSED_REASON.to_owned(),
            ));
        }
        let now_secs = now_ms.div_euclid(1000);
        if let Some(why) = invalid_context(ctx, now_secs, self.config.max_clock_skew_seconds) {
            return Decided::from(refuse(RefuseCode::InvalidContext, "gate", why));
        }
        if let Some(reason) = self.revocations.check(ctx, now_ms) {
            return Decided::from(refuse(RefuseCode::SessionInvalid, "gate", reason));
        }

        let stored = match &ctx.session_id {
            None => None,
            Some(sid) => {
                let seed = session_step::seed(ctx, now_secs);
                match self.session_store.load_or_init(sid, &seed).await {
                    Err(e) => {
                        return Decided::from(Decision::Refuse(store_unavailable(
                            "session_store",
                            "session",
                            &e,
                        )))
                    }
                    Ok(state) => {
                        if let Some(reason) = session_step::revoked(sid, &state) {
                            return Decided::from(refuse(
                                RefuseCode::SessionInvalid,
                                "gate",
                                reason,
                            ));
                        }
                        if let Some(reason) = session_step::stored_start_problem(
                            ctx,
                            sid,
                            &state,
                            now_secs,
                            self.config.max_clock_skew_seconds,
                        ) {
                            return Decided::from(refuse(
                                RefuseCode::StoreUnavailable,
                                "session_store",
                                reason,
                            ));
                        }
                        Some(state)
                    }
                }
            }
        };
        let view = session_step::view(ctx, stored.as_ref());

        // Policy (priority 50).
        let env = session_step::eval_env(ctx, &view, now_ms);
        let permitting =
            match policy_step::decide(policies, ctx, &env, self.rate_store.as_ref()).await {
                Ok(p) => p,
                Err(r) => return Decided::from(Decision::Refuse(r)),
            };

        // Drift (priority 100).
        if let Some(drift) = &self.drift {
            match drift.evaluate(ctx, &view, now_secs) {
                DriftOutcome::Pass { .. } => {}
                DriftOutcome::Refuse(reason) => {
                    return Decided::from(refuse(RefuseCode::DriftDetected, "drift", reason))
                }
                DriftOutcome::Invalidate(reason) => {
                    return Decided::from(drift_invalidation(ctx, reason))
                }
            }
        }

        // Invariants (priority 150).
        for inv in &self.config.invariants {
            if let Some(reason) = inv.violation(ctx) {
                return Decided::from(refuse(RefuseCode::InvariantViolation, "invariants", reason));
            }
        }
        let counted = match self.count_session_action(ctx).await {
            Ok(counted) => counted,
            Err(refused) => return Decided::from(refused),
        };
        if let Some(decision) = self.recheck_after_counting(ctx, &view, counted, now_ms) {
            return Decided::from(decision);
        }

        let mut token =
            outcome::permit_token(ctx, evaluation_id, now_secs, self.config.permit_ttl_seconds);
        if let Some(signer) = &self.config.token_signer {
            match signer.sign(&token) {
                Ok(sig) => token.signature = Some(sig),
                Err(e) => return Decided::from(outcome::signing_failed(&e)),
            }
        }
        Decided {
            decision: Decision::Permit(token),
            permitted_by: Some(permitting.name.as_str()),
        }
    }

    /// `max_session_actions`: counts this permit in the session (atomically with the cap and
    /// with the session's invalidation). An explicit `actionCount` in the context overrides the
    /// stored count. The session's new count, or `None` without a session id; `Err` is the
    /// refusal.
    async fn count_session_action(
        &self,
        ctx: &ActionContext,
    ) -> std::result::Result<Option<u64>, Decision> {
        let max = self.config.max_session_actions;
        if let (Some(max), Some(count)) = (max, ctx.action_count) {
            if count >= max {
                return Err(Decision::Refuse(session_cap_reached(count, max)));
            }
        }
        let Some(sid) = ctx.session_id.as_deref() else {
            return Ok(None);
        };
        let limit = if ctx.action_count.is_some() {
            None
        } else {
            max
        };
        match self.session_store.try_record_permit(sid, limit).await {
            Ok(Recorded::Counted(n)) => Ok(Some(n)),
            Ok(Recorded::CapReached) => {
                let max = max.unwrap_or(0);
                Err(Decision::Refuse(session_cap_reached(max, max)))
            }
            Ok(Recorded::Invalidated) => Err(refuse(
                RefuseCode::SessionInvalid,
                "gate",
                format!(
                    "session '{}' was invalidated while this evaluation ran",
                    crate::policy::identifier::excerpt(sid)
                ),
            )),
            Err(e) => Err(Decision::Refuse(store_unavailable(
                "session_store",
                "session",
                &e,
            ))),
        }
    }

    /// What the checks made before counting would decide with what is known after it, when
    /// that changed while this evaluation awaited its stores (other evaluations of the same
    /// session, on this gate or another, ran meanwhile): a scope revoked meanwhile refuses, and
    /// drift judges the session's count as it stood just before this action, so a burst of
    /// concurrent calls cannot all be judged on the count they all loaded. `None` to permit.
    fn recheck_after_counting(
        &self,
        ctx: &ActionContext,
        view: &SessionView<'_>,
        counted: Option<u64>,
        now_ms: i64,
    ) -> Option<Decision> {
        // With in-process stores nothing was awaited since the check at the start, so there is
        // no wait for a revocation to land in (and the evaluation path stays one lookup long).
        if !self.stores_in_process() {
            if let Some(reason) = self.revocations.check(ctx, now_ms) {
                return Some(refuse(RefuseCode::SessionInvalid, "gate", reason));
            }
        }
        let drift = self.drift.as_ref()?;
        let before = counted?.saturating_sub(1);
        if ctx.action_count.is_some() || before == view.action_count {
            return None;
        }
        let current = SessionView {
            action_count: before,
            ..*view
        };
        match drift.evaluate(ctx, &current, now_ms.div_euclid(1000)) {
            DriftOutcome::Pass { .. } => None,
            DriftOutcome::Refuse(reason) => {
                Some(refuse(RefuseCode::DriftDetected, "drift", reason))
            }
            DriftOutcome::Invalidate(reason) => Some(drift_invalidation(ctx, reason)),
        }
    }

    /// Revoke a scope as an Invalidate verdict would (revocation list, session store for a
    /// session, broadcaster), for a compromise learned outside an evaluation (an operator, an
    /// MCP middleware's `invalidateSession`). This gate refuses the scope at once; when the
    /// session store or the broadcaster could not be told, `StoreUnavailable` says which, so
    /// the caller knows the other gates may still permit it and retries (revoking twice is
    /// harmless).
    pub async fn revoke(&self, scope: &InvalidationScope) -> Result<()> {
        let failures = self
            .apply_invalidation(scope, self.config.clock.now_ms())
            .await;
        if failures.is_empty() {
            return Ok(());
        }
        Err(KavachError::StoreUnavailable(format!(
            "{} '{}' revoked on this gate only: {}; retry the revoke",
            scope.target_kind.as_str(),
            crate::policy::identifier::excerpt(&scope.target_id),
            failures.join("; ")
        )))
    }

    /// Revoke locally, then tell the session store (for a session) and the other gates. Both
    /// are attempted whatever the other does; what failed is returned, one line each. A
    /// failure never softens the local verdict.
    async fn apply_invalidation(&self, scope: &InvalidationScope, now_ms: i64) -> Vec<String> {
        self.revocations.revoke(scope, now_ms);
        let mut failures = Vec::new();
        if scope.target_kind == ScopeKind::Session {
            if let Err(e) = self
                .session_store
                .invalidate(&scope.target_id, &scope.reason)
                .await
            {
                failures.push(format!(
                    "could not mark the session invalid in the session store ({e})"
                ));
            }
        }
        if let Some(bc) = &self.config.broadcaster {
            if let Err(e) = bc.publish(scope).await {
                failures.push(format!("could not publish it to the other gates ({e})"));
            }
        }
        failures
    }

    /// Admission of an asynchronous evaluation of `ctx`: a slot to hold until its verdict has
    /// been delivered, or, with `maxPendingEvaluations` already in flight, the verdict to give
    /// at once instead of evaluating. That verdict is a Refuse `STORE_UNAVAILABLE` (evaluator
    /// `gate`) naming the limit (on an observe-only gate, its forced Permit with the refusal
    /// as observed, as for any refusal). It is not audited: it is produced on the caller's
    /// thread without running the pipeline, and writing it would be the work the bound sheds.
    /// Boxed: the refusal is the rare case, and a slot is one pointer.
    pub fn admit(&self, ctx: &ActionContext) -> std::result::Result<PendingSlot, Box<Verdict>> {
        if let Some(slot) = self.pending.try_admit() {
            return Ok(slot);
        }
        let evaluation_id = crate::ids::new_v4();
        let decision = refuse(
            RefuseCode::StoreUnavailable,
            "gate",
            format!(
                "{} evaluations pending (maxPendingEvaluations): refused without evaluating \
                 until some finish (failing closed)",
                self.pending.max()
            ),
        );
        Err(Box::new(self.verdict(
            ctx,
            evaluation_id,
            self.config.clock.now_ms(),
            decision,
        )))
    }

    /// A slot for other awaited work on the gate's stores (`explainAsync`, `revoke`): it
    /// counts against `maxPendingEvaluations` like an evaluation, so a stalled store cannot
    /// make those pile up without bound either. At the bound the work is not started: a
    /// `StoreUnavailable` error naming the limit, then `not_started` (what the caller should
    /// know about the work left undone).
    pub fn admit_call(&self, not_started: &str) -> Result<PendingSlot> {
        self.pending.try_admit().ok_or_else(|| {
            KavachError::StoreUnavailable(format!(
                "{} evaluations pending (maxPendingEvaluations): {not_started}",
                self.pending.max()
            ))
        })
    }

    /// The part of [`Gate::revoke`] that needs no store: later evaluations on this gate refuse
    /// the target. What `revoke` does when it is not admitted, so a revocation is never weaker
    /// on this gate for a backlog elsewhere.
    pub fn revoke_locally(&self, scope: &InvalidationScope) {
        self.revocations.revoke(scope, self.config.clock.now_ms());
    }

    /// Asynchronous work in flight (admitted, not yet delivered): evaluations, `explainAsync`
    /// and `revoke` calls.
    pub fn pending_evaluations(&self) -> usize {
        self.pending.count()
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

    /// Swaps in a new policy set atomically (evaluations in flight finish on the old one).
    /// Parse before calling: a bad document never gets here, so the old set stays live.
    pub fn reload(&self, policies: PolicySet) {
        self.policies.store(Arc::new(policies));
    }

    /// The live policy set.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies.load_full()
    }

    /// Whether a condition of the live policy set or an invariant reads the param `name`
    /// (compared in NFC, as contexts carry param names). Integrations ask this for a field of
    /// a tool input or request body they cannot forward (a boolean, an array, `Infinity`): a
    /// rule that reads it would otherwise judge the call as if the field were absent.
    pub fn reads_param(&self, name: &str) -> bool {
        let name = crate::policy::identifier::nfc(name);
        self.policies.load().reads_param(&name)
            || self.config.invariants.iter().any(|i| i.field == *name)
    }

    /// Whether a call of `action` judged without its params could be permitted where with them
    /// it would be refused: the gate has an invariant (invariants apply to every action), or a
    /// refuse policy that may match `action` has a param condition. A permit policy's param
    /// condition needs no such care: without the param it does not hold. Integrations ask this
    /// when a call's input has no fields to read (a request body not parsed yet, raw bytes, a
    /// string, an array).
    pub fn refusal_reads_params(&self, action: &str) -> bool {
        if !self.config.invariants.is_empty() {
            return true;
        }
        let action = crate::policy::identifier::nfc(action);
        self.policies.load().candidates(&action).any(|p| {
            p.effect == crate::policy::Effect::Refuse
                && p.conditions.iter().any(|c| c.param_field().is_some())
        })
    }

    /// policy + drift (unless disabled) + invariants (if any, `max_session_actions` included:
    /// its refusals come from the `invariants` evaluator).
    pub fn evaluator_count(&self) -> u32 {
        let invariants =
            !self.config.invariants.is_empty() || self.config.max_session_actions.is_some();
        1 + u32::from(self.drift.is_some()) + u32::from(invariants)
    }

    /// Undo a principal/role (or session) revocation on this gate.
    pub fn lift(&self, kind: ScopeKind, target_id: &str) {
        self.revocations.lift(kind, target_id);
    }

    /// The gate's revocation list (scopes issued here or heard from the broadcaster).
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }

    /// Whether `close()` has run.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn config(&self) -> &GateConfig {
        &self.config
    }

    /// Every later evaluation refuses (`CLOSED_REASON`); the first half of `close`, which a
    /// binding runs at once when its close completes later.
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Unsubscribe from the broadcaster; every later evaluation refuses (`CLOSED_REASON`).
    pub fn close(&self) {
        self.mark_closed();
        let id = self.subscription.lock().take();
        if let (Some(id), Some(bc)) = (id, &self.config.broadcaster) {
            bc.unsubscribe(id);
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.close();
    }
}

/// Why the gate cannot evaluate `ctx` at all (`INVALID_CONTEXT`): a field validation rejects,
/// or a `sessionStartedAt` it cannot use.
fn invalid_context(ctx: &ActionContext, now_secs: i64, max_skew_secs: i64) -> Option<String> {
    if let Err(e) = ctx.validate() {
        return Some(e.to_string());
    }
    session_step::start_problem(ctx, now_secs, max_skew_secs)
}

/// Drift asks to invalidate: the session when the call has one, else the principal.
fn drift_invalidation(ctx: &ActionContext, reason: String) -> Decision {
    let (target_kind, target_id) = match &ctx.session_id {
        Some(sid) => (ScopeKind::Session, sid.clone()),
        None => (ScopeKind::Principal, ctx.principal_id.clone()),
    };
    Decision::Invalidate(InvalidationScope {
        target_kind,
        target_id,
        reason,
        evaluator: "drift".into(),
    })
}

/// `max_session_actions` refuses: the session already has `count` permitted actions.
fn session_cap_reached(count: u64, max: u64) -> Refusal {
    refusal(
        RefuseCode::InvariantViolation,
        "invariants",
        format!(
            "invariant '{SESSION_CAP_INVARIANT}' violated: the session already has {count} permitted actions (max {max})"
        ),
    )
}
