//! Session state: loaded (or learned on first sight) from the session store when the context
//! carries a session id; explicit context fields override what is stored.

use crate::context::ActionContext;
use crate::drift::SessionView;
use crate::invalidation::revocations::MAX_REASON_BYTES;
use crate::policy::EvalEnv;
use crate::session::{SessionSeed, SessionState};

/// Default for how far ahead of the gate's clock a context's `sessionStartedAt` may be
/// (replica clocks skew; the gate option `maxClockSkewSeconds`); further ahead would make the
/// session look young for good.
pub const DEFAULT_MAX_START_SKEW_SECS: i64 = 300;
/// The largest `maxClockSkewSeconds` accepted (a day).
pub const MAX_START_SKEW_LIMIT_SECS: i64 = 86_400;
/// A start at or above this is milliseconds, not seconds (1e11 s is the year 5138).
const MS_LOOKING: i64 = 100_000_000_000;

/// Why the context's `sessionStartedAt` cannot be used (the gate refuses with
/// `INVALID_CONTEXT`), or `None`.
pub fn start_problem(ctx: &ActionContext, now_secs: i64, max_skew_secs: i64) -> Option<String> {
    let started = ctx.session_started_at?;
    if started >= MS_LOOKING {
        return Some(format!(
            "sessionStartedAt {started} looks like milliseconds; give unix seconds"
        ));
    }
    (started > now_secs.saturating_add(max_skew_secs)).then(|| {
        format!(
            "sessionStartedAt {started} is {}s in the future (more than the {max_skew_secs}s clock skew allowed by maxClockSkewSeconds)",
            started - now_secs
        )
    })
}

/// Why the session store's `started_at` for `session_id` cannot be used, or `None`. Only a
/// start the context does not override is read: one further ahead of the gate's clock than
/// `maxClockSkewSeconds` (a replica whose clock runs ahead, or a value written into the store
/// by hand) would make the session look young for good and switch off `session_age_max` and
/// drift's session-age check, so the gate fails closed on it as on an unreadable store.
pub fn stored_start_problem(
    ctx: &ActionContext,
    session_id: &str,
    stored: &SessionState,
    now_secs: i64,
    max_skew_secs: i64,
) -> Option<String> {
    if ctx.session_started_at.is_some() {
        return None;
    }
    let started = stored.started_at;
    (started > now_secs.saturating_add(max_skew_secs)).then(|| {
        format!(
            "session store holds started_at {started} for session '{}', {}s in the future (more \
             than the {max_skew_secs}s clock skew allowed by maxClockSkewSeconds; failing closed)",
            crate::policy::identifier::excerpt(session_id),
            started.saturating_sub(now_secs)
        )
    })
}

/// What the gate learns about a session the first time it sees it.
pub fn seed(ctx: &ActionContext, now_secs: i64) -> SessionSeed {
    SessionState {
        started_at: ctx.session_started_at.unwrap_or(now_secs),
        origin_ip: ctx.origin_ip.clone().or_else(|| ctx.ip.clone()),
        origin_geo: ctx.origin_geo.clone().or_else(|| ctx.current_geo.clone()),
        origin_device: ctx.origin_device.clone().or_else(|| ctx.device.clone()),
        action_count: 0,
        invalidated: None,
    }
}

/// The session as the evaluators see it: context fields first, then the stored state.
pub fn view<'a>(ctx: &'a ActionContext, stored: Option<&'a SessionState>) -> SessionView<'a> {
    SessionView {
        started_at: ctx.session_started_at.or(stored.map(|s| s.started_at)),
        origin_ip: ctx
            .origin_ip
            .as_deref()
            .or_else(|| stored.and_then(|s| s.origin_ip.as_deref())),
        origin_geo: ctx
            .origin_geo
            .as_ref()
            .or_else(|| stored.and_then(|s| s.origin_geo.as_ref())),
        origin_device: ctx
            .origin_device
            .as_ref()
            .or_else(|| stored.and_then(|s| s.origin_device.as_ref())),
        action_count: ctx
            .action_count
            .or(stored.map(|s| s.action_count))
            .unwrap_or(0),
    }
}

/// Why a stored session refuses every call (it was revoked), or `None`. The session id is the
/// caller's and the stored reason can quote a caller's field: both are escaped and bounded.
pub fn revoked(session_id: &str, state: &SessionState) -> Option<String> {
    state.invalidated.as_ref().map(|why| {
        format!(
            "session '{}' was invalidated: {}",
            kavach_text::excerpt(session_id),
            kavach_text::clip(why, MAX_REASON_BYTES)
        )
    })
}

/// What the policy conditions see. No session at all: the call is a fresh session starting
/// now (age 0), as the earlier SDKs' contexts are. A session id always has a start (first
/// sight).
pub fn eval_env(ctx: &ActionContext, view: &SessionView<'_>, now_ms: i64) -> EvalEnv {
    EvalEnv {
        now_ms,
        session_started_at: view
            .started_at
            .or(ctx.session_id.is_none().then_some(now_ms.div_euclid(1000))),
    }
}
