//! `GateOptions`: defined once here, converted once into `kavach_core::gate::GateConfig` by
//! [`into_config`], reused by every factory.
//!
//! Class-instance options (`tokenSigner`, `rateStore`, `sessionStore`, `broadcaster`, `audit`)
//! arrive as `unknown` JS values (the TS layer types them) and are downcast here to the napi
//! class that owns them. napi checks the class type tag, so a wrong object is an
//! `INVALID_OPTIONS` error, never a blind cast. Contract with the owners of those classes:
//! each class exposes `pub(crate) fn as_core(&self) -> Arc<dyn kavach_core::...Trait>` plus a
//! downcast helper taking the `Unknown` (`signer::core_signer`,
//! `redis_stores::{rate_store,session_store}_from_unknown`, `broadcaster::core_broadcaster`,
//! `audit::audit_sink_from_unknown`) that returns `None` for anything else; the matching
//! `*_from_js` function below turns `None` into the error.

use std::sync::Arc;

use kavach_core::clock::{Clock, ManualClock, OffsetClock};
use kavach_core::gate::GateConfig;
use kavach_core::invariants::Invariant;
use napi::bindgen_prelude::{Either, Unknown};
use napi::ValueType;
use napi_derive::napi;

use crate::dense_array::DenseArray;
use crate::error::{invalid_options, Result};

/// An invariant: a hard cap that runs after policy; no permit overrides it.
#[napi(object, object_to_js = false)]
pub struct InvariantSpec {
    pub name: String,
    /// The numeric param the cap applies to.
    pub field: String,
    pub max_value: f64,
}

/// An invariant as an object or as the Python SDK's `[name, field, max]` tuple.
pub type InvariantInput = Either<InvariantSpec, (String, String, f64)>;

/// Testing aid: pin or skew the gate's clock so tests never sleep. Not for production.
#[napi(object, object_to_js = false)]
pub struct TestClockOptions {
    /// Start a manual clock at this unix time in milliseconds (move it with `gate.setTestNow`).
    pub now_ms: Option<f64>,
    /// Offset the system clock by this many milliseconds (a replica with a skewed clock).
    pub offset_ms: Option<f64>,
}

/// Options for every gate factory. All optional.
#[napi(object, object_to_js = false)]
pub struct GateOptions<'env> {
    /// Hard caps that run after policy: `{name, field, maxValue}` objects or
    /// `[name, field, max]` tuples.
    /// @default []
    #[napi(ts_type = "Array<InvariantSpec | [string, string, number]>")]
    pub invariants: Option<DenseArray<InvariantInput>>,
    /// Evaluate and record everything, but always answer Permit (`verdict.observed` holds the
    /// would-be verdict).
    /// @default false
    pub observe_only: Option<bool>,
    /// Hard cap on permitted actions per session (invariant `max_session_actions`).
    /// @default undefined (no cap)
    pub max_session_actions: Option<f64>,
    /// Attach the default drift detectors.
    /// @default true
    pub enable_drift: Option<bool>,
    /// Tolerant geo drift: an IP change within this distance is a warning.
    /// @default undefined (any IP change is a violation)
    pub geo_drift_max_km: Option<f64>,
    /// A `PqTokenSigner`: sign every Permit.
    /// @default undefined (unsigned permits)
    pub token_signer: Option<Unknown<'env>>,
    /// Lifetime of permit tokens, in seconds.
    /// @default 30
    pub permit_ttl_seconds: Option<f64>,
    /// A `RedisRateLimitStore`.
    /// @default in-process store
    pub rate_store: Option<Unknown<'env>>,
    /// A `RedisSessionStore`.
    /// @default in-process store
    pub session_store: Option<Unknown<'env>>,
    /// An `InMemoryInvalidationBroadcaster` or `RedisInvalidationBroadcaster`.
    /// @default undefined
    pub broadcaster: Option<Unknown<'env>>,
    /// A `SignedAuditChain`.
    /// @default undefined
    pub audit: Option<Unknown<'env>>,
    /// How long a principal/role revocation heard from a broadcaster lasts, in seconds.
    /// @default 3600
    pub invalidation_ttl_seconds: Option<f64>,
    /// How far in the future a context's `sessionStartedAt` may be, in seconds (0 to 86400):
    /// clocks of replicas skew; a start further ahead is refused with `INVALID_CONTEXT`.
    /// @default 300
    pub max_clock_skew_seconds: Option<f64>,
    /// `evaluateAsync` calls this gate holds in flight at once (1 to 1000000); one more
    /// resolves at once to a Refuse `STORE_UNAVAILABLE` naming this option, and capacity comes
    /// back as pending ones settle.
    /// @default 100000
    pub max_pending_evaluations: Option<f64>,
    /// How long the in-process session store keeps a session that sees no call, in seconds
    /// (1 to 31536000). A forgotten session starts again: its origin, start and action count
    /// are learned anew. Not with `sessionStore` (a `RedisSessionStore` has its own
    /// `ttlSeconds`).
    /// @default 3600
    pub session_idle_seconds: Option<f64>,
    /// Testing only: inject time (see `TestClockOptions`).
    /// @default undefined (system clock)
    pub test_clock: Option<TestClockOptions>,
}

/// The core config plus the manual clock, kept so `gate.setTestNow` can move it.
pub struct Converted {
    pub config: GateConfig,
    pub manual_clock: Option<Arc<ManualClock>>,
}

/// The one conversion every factory uses. `None` means all defaults.
/// Permit tokens are short-lived proofs of one decision: a day is the longest lifetime.
const MAX_PERMIT_TTL_SECONDS: i64 = 86_400;

pub fn into_config(options: Option<GateOptions<'_>>) -> Result<Converted> {
    let mut config = GateConfig::default();
    let Some(o) = options else {
        return Ok(Converted {
            config,
            manual_clock: None,
        });
    };
    if let Some(DenseArray(list)) = o.invariants {
        config.invariants = list
            .into_iter()
            .enumerate()
            .map(|(i, item)| invariant(i, item))
            .collect::<Result<_>>()?;
    }
    config.observe_only = o.observe_only.unwrap_or(false);
    config.max_session_actions = o
        .max_session_actions
        .map(|n| non_negative_int("maxSessionActions", n))
        .transpose()?;
    config.enable_drift = o.enable_drift.unwrap_or(true);
    if let Some(km) = o.geo_drift_max_km {
        if !km.is_finite() || km < 0.0 {
            return Err(invalid_options(format!(
                "geoDriftMaxKm must be a finite number >= 0, got {km}"
            )));
        }
        config.geo_drift_max_km = Some(km);
    }
    if let Some(ttl) = o.permit_ttl_seconds {
        config.permit_ttl_seconds = positive_seconds("permitTtlSeconds", ttl)?;
        if config.permit_ttl_seconds > MAX_PERMIT_TTL_SECONDS {
            return Err(invalid_options(format!(
                "permitTtlSeconds must be at most {MAX_PERMIT_TTL_SECONDS} (one day), got {ttl}"
            )));
        }
    }
    if let Some(ttl) = o.invalidation_ttl_seconds {
        config.invalidation_ttl_seconds = positive_seconds("invalidationTtlSeconds", ttl)?;
    }
    if let Some(skew) = o.max_clock_skew_seconds {
        config.max_clock_skew_seconds =
            i64::try_from(non_negative_int("maxClockSkewSeconds", skew)?).unwrap_or(i64::MAX);
    }
    if let Some(n) = o.max_pending_evaluations {
        // The range (from 1) is checked with the rest of the config (`GateConfig::validate`).
        config.max_pending_evaluations =
            usize::try_from(non_negative_int("maxPendingEvaluations", n)?).unwrap_or(usize::MAX);
    }
    if let Some(idle) = o.session_idle_seconds {
        // The range is checked with the rest of the config (`GateConfig::validate`).
        config.session_idle_seconds = Some(positive_seconds("sessionIdleSeconds", idle)?);
    }
    config.token_signer = present(o.token_signer).map(signer_from_js).transpose()?;
    config.rate_store = present(o.rate_store).map(rate_store_from_js).transpose()?;
    config.session_store = present(o.session_store)
        .map(session_store_from_js)
        .transpose()?;
    config.broadcaster = present(o.broadcaster)
        .map(broadcaster_from_js)
        .transpose()?;
    config.audit = present(o.audit).map(audit_from_js).transpose()?;
    let mut manual_clock = None;
    if let Some(tc) = o.test_clock {
        let (clock, manual) = test_clock(tc)?;
        config.clock = clock;
        manual_clock = manual;
    }
    Ok(Converted {
        config,
        manual_clock,
    })
}

fn invariant(i: usize, item: InvariantInput) -> Result<Invariant> {
    let (name, field, max_value) = match item {
        Either::A(s) => (s.name, s.field, s.max_value),
        Either::B((name, field, max)) => (name, field, max),
    };
    if name.is_empty() || field.is_empty() {
        return Err(invalid_options(format!(
            "invariants[{i}]: name and field must be non-empty strings"
        )));
    }
    // `new` checks the name and the field follow the name rules (so the name is safe to quote
    // from here on), holds both in NFC and checks the bound; its errors get the index.
    let invariant = Invariant::new(name, field, max_value)
        .map_err(|e| invalid_options(format!("invariants[{i}]: {}", core_message(e))))?;
    Ok(invariant)
}

/// A core error's text without its kind prefix (the index is what this layer adds).
fn core_message(e: kavach_core::KavachError) -> String {
    match e {
        kavach_core::KavachError::InvalidOptions(m) => m,
        other => other.to_string(),
    }
}

fn non_negative_int(option: &str, n: f64) -> Result<u64> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 {
        // In range and integral (checked above), so the cast is exact.
        Ok(n as u64)
    } else {
        Err(invalid_options(format!(
            "{option} must be a non-negative integer, got {n}"
        )))
    }
}

fn positive_seconds(option: &str, n: f64) -> Result<i64> {
    let v = non_negative_int(option, n)?;
    if v == 0 {
        return Err(invalid_options(format!(
            "{option} must be at least 1, got 0"
        )));
    }
    i64::try_from(v).map_err(|_| invalid_options(format!("{option} is too large: {n}")))
}

/// The gate's clock, plus the manual clock when `setTestNow` may move it.
type ClockChoice = (Arc<dyn Clock>, Option<Arc<ManualClock>>);

fn test_clock(tc: TestClockOptions) -> Result<ClockChoice> {
    match (tc.now_ms, tc.offset_ms) {
        (Some(_), Some(_)) => Err(invalid_options(
            "testClock: give either nowMs or offsetMs, not both",
        )),
        (Some(now), None) => {
            let clock = ManualClock::new(ms("testClock.nowMs", now)?);
            Ok((clock.clone(), Some(clock)))
        }
        (None, Some(off)) => Ok((Arc::new(OffsetClock(ms("testClock.offsetMs", off)?)), None)),
        (None, None) => Err(invalid_options("testClock: give nowMs or offsetMs")),
    }
}

/// Milliseconds as an integer (JS numbers hold integers exactly up to 2^53).
pub fn ms(what: &str, v: f64) -> Result<i64> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_991.0 {
        // Integral and within ±2^53 (checked above), so the cast is exact.
        Ok(v as i64)
    } else {
        Err(invalid_options(format!(
            "{what} must be an integer number of milliseconds, got {v}"
        )))
    }
}

/// `undefined`/`null` mean "not given" for class options too.
fn present(v: Option<Unknown<'_>>) -> Option<Unknown<'_>> {
    v.filter(|u| !matches!(u.get_type(), Ok(ValueType::Undefined | ValueType::Null)))
}

// --- class-instance options: one function per option; each class's owner provides the
// downcast helper next to the class (it checks the napi type tag and calls `as_core()`).

fn wrong(option: &str, class: &str) -> napi::Error<&'static str> {
    invalid_options(format!("{option} must be a {class} instance"))
}

fn signer_from_js(v: Unknown<'_>) -> Result<Arc<dyn kavach_core::signing::PermitSigner>> {
    crate::signer::core_signer(v).ok_or_else(|| wrong("tokenSigner", "PqTokenSigner"))
}

fn rate_store_from_js(v: Unknown<'_>) -> Result<Arc<dyn kavach_core::store::RateLimitStore>> {
    crate::redis_stores::rate_store_from_unknown(&v)
        .ok_or_else(|| wrong("rateStore", "RedisRateLimitStore"))
}

fn session_store_from_js(v: Unknown<'_>) -> Result<Arc<dyn kavach_core::store::SessionStore>> {
    crate::redis_stores::session_store_from_unknown(&v)
        .ok_or_else(|| wrong("sessionStore", "RedisSessionStore"))
}

fn broadcaster_from_js(
    v: Unknown<'_>,
) -> Result<Arc<dyn kavach_core::invalidation::InvalidationBroadcaster>> {
    crate::broadcaster::core_broadcaster(v).ok_or_else(|| {
        wrong(
            "broadcaster",
            "InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster",
        )
    })
}

fn audit_from_js(v: Unknown<'_>) -> Result<Arc<dyn kavach_core::audit::AuditSink>> {
    crate::audit::audit_sink_from_unknown(&v).ok_or_else(|| wrong("audit", "SignedAuditChain"))
}

/// A whole number from `min` to `max` for a numeric option read as a JS number (a `u32`
/// conversion would wrap `-1` to 4294967295 and `1e12` modulo 2^32); the error names it.
pub(crate) fn whole_in(option: &str, v: f64, min: u32, max: u32) -> Result<u32> {
    if v.fract() == 0.0 && (f64::from(min)..=f64::from(max)).contains(&v) {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked above"
        )]
        Ok(v as u32)
    } else {
        Err(crate::error::invalid_argument(format!(
            "{option} must be an integer from {min} to {max}, got {v}"
        )))
    }
}
