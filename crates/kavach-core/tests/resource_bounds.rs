//! Floods through the public gate: one caller filling a store with made-up ids must not
//! refuse an existing, well-behaved principal (docs/SECURITY.md, "Resource bounds").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kavach_core::clock::ManualClock;
use kavach_core::gate::{Gate, GateConfig};
use kavach_core::invalidation::revocations::DEFAULT_MAX_ENTRIES;
use kavach_core::policy::PolicySet;
use kavach_core::store::memory::{MemoryRateLimitStore, MemorySessionStore};
use kavach_core::{ActionContext, Decision, PrincipalKind, RefuseCode, ScopeKind};

const FLOOD_PAST_BOUND: usize = 50;

fn drifting_gate() -> (std::sync::Arc<Gate>, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(NOON_MS);
    let config = GateConfig {
        clock: clock.clone(),
        ..GateConfig::default()
    };
    let set = PolicySet::from_json(&one(r#"[{"rate_limit":{"max":1000,"window":"1h"}}]"#)).unwrap();
    (Gate::new(set, config).unwrap(), clock)
}

fn caller(principal: &str, session: Option<&str>, ip: &str) -> ActionContext {
    let mut c = ActionContext::new(principal, PrincipalKind::Agent, "read");
    c.session_id = session.map(Into::into);
    c.ip = Some(ip.into());
    c
}

#[test]
fn a_drift_invalidation_flood_past_every_bound_refuses_no_existing_principal() {
    let (gate, clock) = drifting_gate();
    let good = caller("good-agent", Some("good-session"), "10.0.0.1");
    assert!(eval(&gate, &good).decision.is_permit());
    let good_no_session = caller("good-agent-2", None, "10.0.0.2");
    assert!(eval(&gate, &good_no_session).decision.is_permit());

    // Made-up principals and sessions whose origin differs from the current ip: each call is
    // an Invalidate (drift), each adds a session revocation, a revoked session and a rate key.
    let n = DEFAULT_MAX_ENTRIES
        .max(MemorySessionStore::DEFAULT_MAX_SESSIONS)
        .max(MemoryRateLimitStore::DEFAULT_MAX_KEYS)
        + FLOOD_PAST_BOUND;
    let mut collided = 0usize;
    for i in 0..n {
        let mut c = caller(
            &format!("made-up-{i}"),
            Some(&format!("made-up-session-{i}")),
            "203.0.113.9",
        );
        c.origin_ip = Some("10.9.9.9".into());
        // A made-up id sharing an overflow slot with an earlier revoked one is refused as
        // revoked; the rest drift and are invalidated.
        match eval(&gate, &c).decision {
            Decision::Invalidate(_) => {}
            Decision::Refuse(r) if r.code == RefuseCode::SessionInvalid => collided += 1,
            other => panic!("{i}: {other:?}"),
        }
        if i % 1000 == 0 {
            clock.advance_ms(1);
        }
    }
    assert!(gate.revocations().overflowed(ScopeKind::Session) > 0);
    // A few thousand revoked sessions overflowed over 2^18 slots: well under 1 % collide.
    assert!(collided < n / 100, "{collided}");

    // The well-behaved principals keep being permitted (their session survives: it is not
    // revoked, and an evicted session that is not revoked starts afresh).
    let v = eval(&gate, &good);
    assert!(v.decision.is_permit(), "{v:?}");
    assert!(eval(&gate, &good_no_session).decision.is_permit());
    // A principal never seen before is permitted too, with or without a session.
    assert!(eval(&gate, &caller("newcomer", None, "10.0.0.3"))
        .decision
        .is_permit());
    // Every flooded session is still refused.
    for i in [0, n / 2, n - 1] {
        let c = caller(
            &format!("made-up-{i}"),
            Some(&format!("made-up-session-{i}")),
            "203.0.113.9",
        );
        assert_eq!(
            code(&eval(&gate, &c)),
            Some(RefuseCode::SessionInvalid),
            "{i}"
        );
    }
}

#[test]
fn the_allowed_clock_skew_is_a_validated_option() {
    let set = || PolicySet::from_json(&one(r#"[{"session_age_max":"1h"}]"#)).unwrap();
    let now = NOON_MS / 1000;
    let mut c = caller("p", None, "10.0.0.1");
    c.session_started_at = Some(now + 120);
    // Default 300 s: two minutes ahead is a fresh session.
    let (g, _) = gate_with(set(), GateConfig::default());
    assert!(permitted(&g, &c));
    // 60 s allowed: two minutes ahead is refused, naming the option.
    let (g, _) = gate_with(
        set(),
        GateConfig {
            max_clock_skew_seconds: 60,
            ..GateConfig::default()
        },
    );
    let v = eval(&g, &c);
    assert_eq!(refusal(&v).code, RefuseCode::InvalidContext);
    assert!(
        refusal(&v).reason.contains(
            "120s in the future (more than the 60s clock skew allowed by maxClockSkewSeconds)"
        ),
        "{}",
        refusal(&v).reason
    );
    for bad in [-1, 86_401] {
        let config = GateConfig {
            max_clock_skew_seconds: bad,
            ..GateConfig::default()
        };
        assert_invalid_option(
            set(),
            config,
            &format!("maxClockSkewSeconds must be an integer from 0 to 86400, got {bad}"),
        );
    }
}

#[test]
fn pending_evaluations_are_bounded_and_the_one_past_the_bound_is_refused_at_once() {
    let set = || PolicySet::from_json(&one(r#"[{"action":"read"}]"#)).unwrap();
    let (gate, _) = gate_with(
        set(),
        GateConfig {
            max_pending_evaluations: 3,
            ..GateConfig::default()
        },
    );
    let c = caller("p", None, "10.0.0.1");
    let slots: Vec<_> = (0..3).map(|_| gate.admit(&c).ok().unwrap()).collect();
    assert_eq!(gate.pending_evaluations(), 3);
    let v = gate.admit(&c).err().unwrap();
    let r = refusal(&v);
    assert_eq!(r.code, RefuseCode::StoreUnavailable);
    assert_eq!(r.evaluator, "gate");
    assert!(
        r.reason
            .starts_with("3 evaluations pending (maxPendingEvaluations)"),
        "{}",
        r.reason
    );
    assert_eq!(gate.pending_evaluations(), 3);
    // Capacity comes back as evaluations finish, one slot each.
    drop(slots);
    assert_eq!(gate.pending_evaluations(), 0);
    let slot = gate.admit(&c).ok().unwrap();
    assert!(permitted(&gate, &c));
    drop(slot);
    assert_eq!(gate.pending_evaluations(), 0);

    // Observe-only: the refusal is observed under the forced permit, as any refusal is.
    let (observing, _) = gate_with(
        set(),
        GateConfig {
            max_pending_evaluations: 1,
            observe_only: true,
            ..GateConfig::default()
        },
    );
    let _held = observing.admit(&c).ok().unwrap();
    let v = observing.admit(&c).err().unwrap();
    match (&v.decision, v.observed.as_deref()) {
        (Decision::Permit(t), Some(Decision::Refuse(r))) => {
            assert!(t.observe_only);
            assert!(t.signature.is_none());
            assert_eq!(r.code, RefuseCode::StoreUnavailable);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_pending_evaluations_bound_is_a_validated_option() {
    let set = || PolicySet::from_json(&one(r#"[{"action":"read"}]"#)).unwrap();
    assert_eq!(
        GateConfig::default().max_pending_evaluations,
        kavach_core::gate::DEFAULT_MAX_PENDING
    );
    for bad in [0, kavach_core::gate::MAX_PENDING_LIMIT + 1] {
        let config = GateConfig {
            max_pending_evaluations: bad,
            ..GateConfig::default()
        };
        assert_invalid_option(
            set(),
            config,
            &format!("maxPendingEvaluations must be an integer from 1 to 1000000, got {bad}"),
        );
    }
    for good in [1, kavach_core::gate::MAX_PENDING_LIMIT] {
        let config = GateConfig {
            max_pending_evaluations: good,
            ..GateConfig::default()
        };
        assert!(Gate::new(set(), config).is_ok());
    }
}

/// `Gate::new` refuses `config` with `INVALID_OPTIONS` and a message containing `expected`.
fn assert_invalid_option(set: PolicySet, config: GateConfig, expected: &str) {
    let err = Gate::new(set, config).err().unwrap();
    assert_eq!(err.code(), kavach_core::ErrorCode::InvalidOptions);
    assert!(err.to_string().contains(expected), "{err}");
}
