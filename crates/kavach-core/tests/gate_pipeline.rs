//! The gate pipeline end to end: verdict codes and evaluators, invariants, session caps,
//! observe-only, tokens, signing, audit, fail-closed stores, reload, revocations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use futures::FutureExt;
use kavach_core::audit::{AuditRecord, AuditSink};
use kavach_core::gate::{Gate, GateConfig};
use kavach_core::invalidation::memory::InMemoryInvalidationBroadcaster;
use kavach_core::invalidation::InvalidationBroadcaster;
use kavach_core::invariants::Invariant;
use kavach_core::policy::PolicySet;
use kavach_core::session::{SessionSeed, SessionState};
use kavach_core::signing::PermitSigner;
use kavach_core::store::{
    RateHit, RateLimitStore, Recorded, SessionStore, StoreError, StoreFuture,
};
use kavach_core::{
    ActionContext, Decision, ErrorCode, ParamValue, PermitToken, PrincipalKind, RefuseCode,
    ScopeKind,
};

const REFUNDS: &str = r#"{"policies":[
  {"name":"agent_small_refunds","effect":"permit","conditions":[{"identity_kind":"agent"},{"action":"issue_refund"},{"param_max":{"field":"amount","max":1000}}]},
  {"name":"no_deletes","effect":"refuse","description":"deletes need a human","conditions":[{"action":"delete.*"}]},
  {"name":"reads","effect":"permit","conditions":[{"action":"read"}]}]}"#;

fn refunds(config: GateConfig) -> Arc<Gate> {
    gate_with(PolicySet::from_json(REFUNDS).unwrap(), config).0
}

fn refund(amount: f64) -> ActionContext {
    with_num(agent("issue_refund"), "amount", amount)
}

fn in_session(mut c: ActionContext, sid: &str) -> ActionContext {
    c.session_id = Some(sid.into());
    c
}

#[test]
fn verdict_codes_and_evaluators() {
    let g = refunds(GateConfig::default());
    let v = eval(&g, &refund(500.0));
    let Decision::Permit(t) = &v.decision else {
        panic!("{v:?}")
    };
    assert_eq!(t.action_name, "issue_refund");
    assert_eq!(t.evaluation_id, v.evaluation_id);
    assert_eq!(t.issued_at, NOON_MS / 1000);
    assert_eq!(t.expires_at, NOON_MS / 1000 + 30);
    assert!(t.signature.is_none() && !t.observe_only);

    let v = eval(&g, &refund(5000.0));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::NoPolicyMatch, "policy")
    );

    let v = eval(&g, &agent("delete.user"));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::PolicyDenied, "policy")
    );
    assert!(r.reason.contains("'no_deletes'") && r.reason.contains("deletes need a human"));
}

#[test]
fn every_permit_has_a_fresh_token_and_the_configured_ttl() {
    let g = refunds(GateConfig {
        permit_ttl_seconds: 120,
        ..GateConfig::default()
    });
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let v = eval(&g, &agent("read"));
        let Decision::Permit(t) = v.decision else {
            panic!()
        };
        assert_eq!(t.expires_at - t.issued_at, 120);
        assert_eq!(t.token_id.get_version_num(), 4);
        assert!(ids.insert(t.token_id));
        assert!(ids.insert(t.evaluation_id));
    }
}

#[test]
fn invalid_context_refuses_without_panicking() {
    let g = refunds(GateConfig::default());
    let mut cases = vec![
        ActionContext::new("", PrincipalKind::Agent, "read"),
        ActionContext::new("a", PrincipalKind::Agent, ""),
        in_session(agent("read"), ""),
    ];
    let mut nan = agent("read");
    nan.params
        .push(("amount".into(), ParamValue::Number(f64::NAN)));
    cases.push(nan);
    let mut geo = agent("read");
    geo.current_geo = Some(kavach_core::GeoLocation {
        country_code: "IN".into(),
        latitude: Some(f64::INFINITY),
        ..Default::default()
    });
    cases.push(geo);
    for c in &cases {
        let v = eval(&g, c);
        let r = refusal(&v);
        assert_eq!(
            (r.code, r.evaluator.as_str()),
            (RefuseCode::InvalidContext, "gate"),
            "{c:?}"
        );
    }
}

#[test]
fn invariants_override_policy_and_skip_absent_fields() {
    let g = refunds(GateConfig {
        invariants: vec![
            Invariant::new("hard_cap", "amount", 400.0).unwrap(),
            Invariant::new("qty_cap", "qty", 10.0).unwrap(),
        ],
        ..GateConfig::default()
    });
    assert_eq!(g.evaluator_count(), 2, "policy + invariants (drift off)");
    assert!(
        permitted(&g, &refund(400.0)),
        "qty absent: qty_cap does not apply"
    );
    let v = eval(&g, &refund(400.5));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::InvariantViolation, "invariants")
    );
    assert!(r.reason.contains("'hard_cap'"), "{}", r.reason);
    let v = eval(&g, &with_text(refund(1.0), "qty", "many"));
    assert!(
        refusal(&v).reason.contains("'qty_cap'"),
        "text where a number is capped"
    );
    // Policy refusals come first.
    assert_eq!(
        code(&eval(&g, &refund(5000.0))),
        Some(RefuseCode::NoPolicyMatch)
    );
}

#[test]
fn invariant_new_validates() {
    for (n, f, m) in [
        ("", "a", 1.0),
        ("x", "", 1.0),
        ("x", "a", f64::NAN),
        ("x", "a", f64::INFINITY),
        // A field no context's param name can equal: a cap that would never apply.
        ("x", "amount ", 1.0),
        ("x", "amount\u{200b}", 1.0),
    ] {
        assert_eq!(
            Invariant::new(n, f, m).unwrap_err().code(),
            ErrorCode::InvalidOptions
        );
    }
    assert!(Invariant::new("x", "amount ", 1.0)
        .unwrap_err()
        .to_string()
        .contains("invariant 'x': field 'amount ' has leading or trailing whitespace"));
    let bad = GateConfig {
        invariants: vec![Invariant {
            name: "x".into(),
            field: "a".into(),
            max_value: f64::NAN,
        }],
        ..GateConfig::default()
    };
    assert!(Gate::new(PolicySet::empty(), bad).is_err());
    let bad = GateConfig {
        permit_ttl_seconds: 0,
        ..GateConfig::default()
    };
    assert!(Gate::new(PolicySet::empty(), bad).is_err());
}

#[test]
fn invariant_names_follow_the_name_rules_and_errors_name_the_index() {
    let err = Invariant::new("cap\u{0}\u{1b}[31mRED\u{202e}", "amount", 100.0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidOptions);
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            r"invariant name 'cap\u{0}\u{1b}[31mRED\u{202e}' contains the control character \u{0}"
        ),
        "{msg}"
    );
    for bad in ["cap\u{200b}", " cap", "d\u{435}lete", &"c".repeat(300)] {
        assert!(Invariant::new(bad, "amount", 1.0).is_err(), "{bad:?}");
    }
    // Built as a struct literal, the gate still checks it, naming its place in the list.
    let config = GateConfig {
        invariants: vec![
            Invariant::new("cap", "amount", 1.0).unwrap(),
            Invariant {
                name: "cap\n2".into(),
                field: "amount".into(),
                max_value: 1.0,
            },
        ],
        ..GateConfig::default()
    };
    let Err(err) = Gate::new(PolicySet::empty(), config) else {
        panic!("an invariant with a newline in its name was accepted")
    };
    let msg = err.to_string();
    assert!(
        msg.starts_with(r"invariants[1]: invariant name 'cap\u{a}2'"),
        "{msg}"
    );
}

#[test]
fn max_session_actions_caps_permits_per_session() {
    let g = refunds(GateConfig {
        max_session_actions: Some(3),
        ..GateConfig::default()
    });
    // Its refusals come from the `invariants` evaluator, so that evaluator is counted.
    assert_eq!(g.evaluator_count(), 2, "policy + invariants (drift off)");
    for _ in 0..3 {
        assert!(permitted(&g, &in_session(agent("read"), "s1")));
    }
    // Refusals do not count toward the cap.
    assert_eq!(
        code(&eval(&g, &in_session(agent("nope"), "s1"))),
        Some(RefuseCode::NoPolicyMatch)
    );
    let v = eval(&g, &in_session(agent("read"), "s1"));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::InvariantViolation, "invariants")
    );
    assert!(r.reason.contains("max_session_actions"), "{}", r.reason);
    assert!(
        permitted(&g, &in_session(agent("read"), "s2")),
        "other sessions unaffected"
    );
    assert!(permitted(&g, &agent("read")), "no session: no cap");
    // An explicit count overrides the stored one.
    let mut c = in_session(agent("read"), "s1");
    c.action_count = Some(1);
    assert!(permitted(&g, &c));
    c.action_count = Some(3);
    assert_eq!(code(&eval(&g, &c)), Some(RefuseCode::InvariantViolation));
}

#[test]
fn observe_only_permits_but_reports_and_counts() {
    let audit = Arc::new(Recorder::default());
    let g = gate_with(
        PolicySet::from_json(&one(
            r#"[{"action":"pay"},{"rate_limit":{"max":2,"window":"1h"}}]"#,
        ))
        .unwrap(),
        GateConfig {
            observe_only: true,
            audit: Some(audit.clone()),
            token_signer: Some(Arc::new(TestSigner { fail: false })),
            ..GateConfig::default()
        },
    )
    .0;
    for i in 0..4 {
        let v = eval(&g, &agent("pay"));
        let Decision::Permit(t) = &v.decision else {
            panic!()
        };
        assert!(
            t.observe_only && t.signature.is_none(),
            "forced permits are unsigned"
        );
        let observed = v.observed.as_deref().unwrap();
        if i < 2 {
            assert!(observed.is_permit());
        } else {
            assert!(
                matches!(observed, Decision::Refuse(r) if r.code == RefuseCode::RateLimitExceeded)
            );
        }
    }
    let v = eval(&g, &agent("other"));
    assert!(v.decision.is_permit());
    assert!(
        matches!(v.observed.as_deref(), Some(Decision::Refuse(r)) if r.code == RefuseCode::NoPolicyMatch)
    );
    let records = audit.records.lock();
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r.observed));
    assert_eq!(records[3].verdict, "refuse");
    assert!(records[3].detail.starts_with("[RATE_LIMIT_EXCEEDED]"));
}

// ------------------------------------------------------------------ signing and audit

struct TestSigner {
    fail: bool,
}

impl PermitSigner for TestSigner {
    fn sign(&self, token: &PermitToken) -> Result<Vec<u8>, String> {
        if self.fail {
            Err("key expired".into())
        } else {
            Ok(token.token_id.as_bytes().to_vec())
        }
    }
}

#[derive(Debug, Clone)]
struct Owned {
    principal: String,
    verdict: &'static str,
    detail: String,
    decided_by: Option<String>,
    observed: bool,
}

#[derive(Default)]
struct Recorder {
    records: parking_lot::Mutex<Vec<Owned>>,
    fail: AtomicBool,
}

impl AuditSink for Recorder {
    fn record(&self, r: &AuditRecord<'_>) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("disk full".into());
        }
        self.records.lock().push(Owned {
            principal: r.principal_id.into(),
            verdict: r.verdict,
            detail: r.detail.clone(),
            decided_by: r.decided_by.map(str::to_owned),
            observed: r.observed,
        });
        Ok(())
    }
}

#[test]
fn signing_and_signing_failure() {
    let g = refunds(GateConfig {
        token_signer: Some(Arc::new(TestSigner { fail: false })),
        ..GateConfig::default()
    });
    let Decision::Permit(t) = eval(&g, &agent("read")).decision else {
        panic!()
    };
    assert_eq!(t.signature.as_deref(), Some(&t.token_id.as_bytes()[..]));

    let g = refunds(GateConfig {
        token_signer: Some(Arc::new(TestSigner { fail: true })),
        ..GateConfig::default()
    });
    let v = eval(&g, &agent("read"));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::IdentityFailed, "identity")
    );
    assert!(r.reason.contains("key expired"));
}

#[test]
fn audit_records_every_verdict_and_a_failed_record_withholds_permits() {
    let audit = Arc::new(Recorder::default());
    let g = refunds(GateConfig {
        audit: Some(audit.clone()),
        ..GateConfig::default()
    });
    let Decision::Permit(t) = eval(&g, &agent("read")).decision else {
        panic!()
    };
    eval(&g, &agent("delete.x"));
    {
        let recs = audit.records.lock();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].verdict, "permit");
        assert_eq!(recs[0].detail, t.token_id.to_string());
        assert_eq!(recs[0].decided_by.as_deref(), Some("reads"));
        assert_eq!(recs[0].principal, "agent-bot");
        assert_eq!(recs[1].verdict, "refuse");
        assert!(recs[1].detail.starts_with("[POLICY_DENIED]"));
        assert!(!recs[1].observed);
    }
    audit.fail.store(true, Ordering::SeqCst);
    let v = eval(&g, &agent("read"));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::AuditFailed, "audit")
    );
    // A refusal stays a refusal when the record fails.
    assert_eq!(
        code(&eval(&g, &agent("delete.x"))),
        Some(RefuseCode::PolicyDenied)
    );
}

/// A key pair that expires at `expires_ms` on the gate's clock, as a signer and as an audit
/// sink: past it, signing and recording fail, and `ready` says so without doing either.
struct ExpiringKey {
    clock: Arc<kavach_core::clock::ManualClock>,
    expires_ms: i64,
}

impl ExpiringKey {
    fn check(&self) -> Result<(), String> {
        use kavach_core::clock::Clock;
        if self.clock.now_ms() >= self.expires_ms {
            Err("key 'k1' expired".into())
        } else {
            Ok(())
        }
    }
}

impl PermitSigner for ExpiringKey {
    fn sign(&self, token: &PermitToken) -> Result<Vec<u8>, String> {
        self.check().map(|()| token.token_id.as_bytes().to_vec())
    }
    fn ready(&self) -> Result<(), String> {
        self.check()
    }
}

impl AuditSink for ExpiringKey {
    fn record(&self, _record: &AuditRecord<'_>) -> Result<(), String> {
        self.check()
    }
    fn ready(&self) -> Result<(), String> {
        self.check()
    }
}

#[test]
fn explain_refuses_as_evaluate_does_when_the_signer_or_the_audit_key_expired() {
    for audit in [false, true] {
        let clock = kavach_core::clock::ManualClock::new(NOON_MS);
        let key = Arc::new(ExpiringKey {
            clock: clock.clone(),
            expires_ms: NOON_MS + 1000,
        });
        let mut config = GateConfig {
            clock: clock.clone(),
            enable_drift: false,
            ..GateConfig::default()
        };
        let (expected, evaluator) = if audit {
            config.audit = Some(key);
            (RefuseCode::AuditFailed, "audit")
        } else {
            config.token_signer = Some(key);
            (RefuseCode::IdentityFailed, "identity")
        };
        let g = Gate::new(PolicySet::from_json(REFUNDS).unwrap(), config).unwrap();
        let explain = |g: &Gate| futures::executor::block_on(g.explain(&agent("read")));
        assert!(explain(&g).verdict.decision.is_permit());
        assert!(permitted(&g, &agent("read")));

        clock.advance_ms(1000);
        let explained = explain(&g);
        let evaluated = eval(&g, &agent("read"));
        let (e, v) = (refusal(&explained.verdict), refusal(&evaluated));
        assert_eq!((e.code, e.evaluator.as_str()), (expected, evaluator));
        assert_eq!(
            (e.code, &e.reason),
            (v.code, &v.reason),
            "explain answers as evaluate"
        );
        assert!(e.reason.contains("key 'k1' expired"), "{}", e.reason);
        let last = explained.steps.last().unwrap();
        assert!(last.decisive && last.evaluator == evaluator, "{last:?}");
    }
}

// ------------------------------------------------------------------ failing stores

/// A store whose backend is down: every call errors (in-process, so sync evaluation runs).
struct DownStore;

impl RateLimitStore for DownStore {
    fn hit<'a>(&'a self, _key: &'a str, _window_ms: u64) -> StoreFuture<'a, RateHit> {
        Box::pin(async { Err(StoreError("connection refused".into())) })
    }
    fn is_in_process(&self) -> bool {
        true
    }
}

impl SessionStore for DownStore {
    fn load_or_init<'a>(
        &'a self,
        _id: &'a str,
        _seed: &'a SessionSeed,
    ) -> StoreFuture<'a, SessionState> {
        Box::pin(async { Err(StoreError("connection refused".into())) })
    }
    fn try_record_permit<'a>(
        &'a self,
        _id: &'a str,
        _limit: Option<u64>,
    ) -> StoreFuture<'a, Recorded> {
        Box::pin(async { Err(StoreError("connection refused".into())) })
    }
    fn invalidate<'a>(&'a self, _id: &'a str, _reason: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(StoreError("connection refused".into())) })
    }
    fn is_in_process(&self) -> bool {
        true
    }
}

/// A network store: its futures are never ready on the first poll.
struct SlowStore;

impl RateLimitStore for SlowStore {
    fn hit<'a>(&'a self, _key: &'a str, _window_ms: u64) -> StoreFuture<'a, RateHit> {
        Box::pin(async {
            let mut yielded = false;
            futures::future::poll_fn(move |cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            Ok(RateHit {
                count: 1,
                frees_in_ms: 0,
            })
        })
    }
    fn is_in_process(&self) -> bool {
        false
    }
}

#[test]
fn store_failures_refuse_and_never_permit() {
    let rl = one(r#"[{"rate_limit":{"max":100,"window":"1h"}}]"#);
    let (g, _) = gate_with(
        PolicySet::from_json(&rl).unwrap(),
        GateConfig {
            rate_store: Some(Arc::new(DownStore)),
            ..GateConfig::default()
        },
    );
    let v = eval(&g, &agent("x"));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::StoreUnavailable, "rate_store")
    );
    assert!(r.reason.contains("unavailable") && r.reason.contains("connection refused"));

    let (g, _) = gate_with(
        PolicySet::from_json(&one("[]")).unwrap(),
        GateConfig {
            session_store: Some(Arc::new(DownStore)),
            ..GateConfig::default()
        },
    );
    assert!(
        permitted(&g, &agent("x")),
        "no session id: the session store is not consulted"
    );
    let v = eval(&g, &in_session(agent("x"), "s"));
    let r = refusal(&v);
    assert_eq!(
        (r.code, r.evaluator.as_str()),
        (RefuseCode::StoreUnavailable, "session_store")
    );
    // Observe-only still permits, but reports the outage as the would-be verdict.
    let (g, _) = gate_with(
        PolicySet::from_json(&one("[]")).unwrap(),
        GateConfig {
            session_store: Some(Arc::new(DownStore)),
            observe_only: true,
            ..GateConfig::default()
        },
    );
    let v = eval(&g, &in_session(agent("x"), "s"));
    assert!(
        matches!(v.observed.as_deref(), Some(Decision::Refuse(r)) if r.code == RefuseCode::StoreUnavailable)
    );
}

#[test]
fn network_stores_need_async_evaluation() {
    let (g, _) = gate_with(
        PolicySet::from_json(&one(r#"[{"rate_limit":{"max":1,"window":"1h"}}]"#)).unwrap(),
        GateConfig {
            rate_store: Some(Arc::new(SlowStore)),
            ..GateConfig::default()
        },
    );
    assert!(!g.supports_sync());
    assert_eq!(
        g.evaluate_sync(&agent("x")).unwrap_err().code(),
        ErrorCode::SyncNotSupported
    );
    let v = futures::executor::block_on(g.evaluate(&agent("x")));
    assert!(v.decision.is_permit());
    // The pipeline future can move to another thread (the binding runs it on tokio).
    fn assert_send<T: Send>(_: &T) {}
    let ctx = agent("x");
    let fut = g.evaluate(&ctx);
    assert_send(&fut);
    drop(fut.now_or_never());
}

// ------------------------------------------------------------------ reload

#[test]
fn reload_swaps_and_a_bad_document_leaves_the_old_set() {
    let g = refunds(GateConfig::default());
    assert!(permitted(&g, &agent("read")));
    let bad = PolicySet::from_toml(
        "[[policy]]\nname = \"r\"\neffect = \"permit\"\nconditions = [{ acton = \"read\" }]\n",
    );
    assert!(bad.is_err(), "parse fails before any swap");
    assert!(permitted(&g, &agent("read")), "old set still answering");
    assert_eq!(g.policies().len(), 3);
    g.reload(PolicySet::from_toml("").unwrap());
    assert_eq!(
        code(&eval(&g, &agent("read"))),
        Some(RefuseCode::NoPolicyMatch),
        "kill switch"
    );
    g.reload(PolicySet::from_json(&one(r#"[{"action":"write"}]"#)).unwrap());
    assert!(permitted(&g, &agent("write")));
}

#[test]
fn reload_under_concurrent_evaluation() {
    // Set A permits `a` and refuses `b`; set B the opposite. Whatever set is live, both actions
    // are matched: a NO_POLICY_MATCH would mean an evaluation saw a torn or empty set.
    let doc = |permit: &str, deny: &str| {
        format!(
            r#"{{"policies":[{{"name":"p","effect":"permit","conditions":[{{"action":"{permit}"}}]}},
            {{"name":"d","effect":"refuse","conditions":[{{"action":"{deny}"}}]}}]}}"#
        )
    };
    let a = PolicySet::from_json(&doc("a", "b")).unwrap();
    let b = PolicySet::from_json(&doc("b", "a")).unwrap();
    let (g, _) = gate_with(a.clone(), GateConfig::default());
    let permits = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (g, permits) = (g.clone(), &permits);
            s.spawn(move || {
                for i in 0..2000 {
                    let v = eval(&g, &agent(if i % 2 == 0 { "a" } else { "b" }));
                    match code(&v) {
                        None => {
                            permits.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(c) => assert_eq!(c, RefuseCode::PolicyDenied),
                    }
                }
            });
        }
        let g2 = g.clone();
        s.spawn(move || {
            for i in 0..500 {
                g2.reload(if i % 2 == 0 { b.clone() } else { a.clone() });
            }
        });
    });
    assert!(permits.load(Ordering::Relaxed) > 0);
    assert_eq!(g.policies().len(), 2);
}

#[test]
fn concurrent_evaluations_count_rate_limits_exactly() {
    let (g, _) = gate_json(&one(r#"[{"rate_limit":{"max":100,"window":"1h"}}]"#));
    let permits = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (g, permits) = (g.clone(), &permits);
            s.spawn(move || {
                for _ in 0..250 {
                    match code(&eval(&g, &agent("pay"))) {
                        None => {
                            permits.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(c) => assert_eq!(c, RefuseCode::RateLimitExceeded),
                    }
                }
            });
        }
    });
    assert_eq!(permits.load(Ordering::Relaxed), 100);
}

// ------------------------------------------------------------------ sessions, drift, revocations

#[test]
fn sessions_learn_origin_and_explicit_fields_win() {
    let bc = Arc::new(InMemoryInvalidationBroadcaster::new());
    let mut config = GateConfig {
        broadcaster: Some(bc.clone()),
        ..GateConfig::default()
    };
    let clock = kavach_core::clock::ManualClock::new(NOON_MS);
    config.clock = clock.clone();
    let a = Gate::new(PolicySet::from_json(&one("[]")).unwrap(), config.clone()).unwrap();
    let b = Gate::new(PolicySet::from_json(&one("[]")).unwrap(), config).unwrap();
    assert_eq!(a.evaluator_count(), 2, "policy + drift");
    assert_eq!(bc.subscriber_count(), 2);

    let mut c = in_session(agent("read"), "sess-1");
    c.ip = Some("10.0.0.1".into());
    assert!(
        a.evaluate_sync(&c).unwrap().decision.is_permit(),
        "origin ip learned"
    );
    // Same session from another IP: strict geo drift invalidates it.
    c.ip = Some("203.0.113.9".into());
    let v = a.evaluate_sync(&c).unwrap();
    let Decision::Invalidate(scope) = &v.decision else {
        panic!("{v:?}")
    };
    assert_eq!(
        (
            scope.target_kind,
            scope.target_id.as_str(),
            scope.evaluator.as_str()
        ),
        (ScopeKind::Session, "sess-1", "drift")
    );
    // Revoked here (session store and revocation list) and on the other gate (broadcast).
    c.ip = Some("10.0.0.1".into());
    for g in [&a, &b] {
        let v = g.evaluate_sync(&c).unwrap();
        let r = refusal(&v);
        assert_eq!(
            (r.code, r.evaluator.as_str()),
            (RefuseCode::SessionInvalid, "gate")
        );
    }
    // An explicit origin overrides what the session store learned (new session id).
    let mut d = in_session(agent("read"), "sess-2");
    d.ip = Some("10.0.0.1".into());
    assert!(a.evaluate_sync(&d).unwrap().decision.is_permit());
    d.ip = Some("10.0.0.2".into());
    d.origin_ip = Some("10.0.0.2".into());
    assert!(a.evaluate_sync(&d).unwrap().decision.is_permit());

    // Without a session id, an invalidation revokes the principal.
    let mut e = ctx("p2", PrincipalKind::Agent, "read");
    e.origin_ip = Some("1.1.1.1".into());
    e.ip = Some("2.2.2.2".into());
    let Decision::Invalidate(scope) = a.evaluate_sync(&e).unwrap().decision else {
        panic!()
    };
    assert_eq!(scope.target_kind, ScopeKind::Principal);
    let plain = ctx("p2", PrincipalKind::Agent, "read");
    assert_eq!(
        code(&b.evaluate_sync(&plain).unwrap()),
        Some(RefuseCode::SessionInvalid)
    );
    b.lift(ScopeKind::Principal, "p2");
    assert!(b.evaluate_sync(&plain).unwrap().decision.is_permit());

    b.close();
    assert_eq!(bc.subscriber_count(), 1);
    drop(a);
    assert_eq!(bc.subscriber_count(), 0, "a dropped gate unsubscribes");
}

#[test]
fn observe_only_does_not_publish_or_revoke() {
    let bc = Arc::new(InMemoryInvalidationBroadcaster::new());
    let heard = Arc::new(AtomicBool::new(false));
    let h = heard.clone();
    bc.subscribe(Arc::new(move |_| h.store(true, Ordering::SeqCst)));
    let config = GateConfig {
        broadcaster: Some(bc.clone()),
        observe_only: true,
        clock: kavach_core::clock::ManualClock::new(NOON_MS),
        ..GateConfig::default()
    };
    let g = Gate::new(PolicySet::from_json(&one("[]")).unwrap(), config).unwrap();
    let mut c = in_session(agent("read"), "s");
    c.origin_ip = Some("1.1.1.1".into());
    c.ip = Some("2.2.2.2".into());
    let v = g.evaluate_sync(&c).unwrap();
    assert!(v.decision.is_permit());
    assert!(matches!(
        v.observed.as_deref(),
        Some(Decision::Invalidate(_))
    ));
    assert!(!heard.load(Ordering::SeqCst));
    c.ip = Some("1.1.1.1".into());
    let v = g.evaluate_sync(&c).unwrap();
    assert!(
        v.observed.as_deref().unwrap().is_permit(),
        "nothing was revoked"
    );
}

#[test]
fn invariant_names_are_unique_and_the_session_caps_is_its_own() {
    let config = |invariants: Vec<Invariant>, max_session_actions| GateConfig {
        invariants,
        max_session_actions,
        ..GateConfig::default()
    };
    let cap = |name: &str| Invariant::new(name, "amount", 1.0).unwrap();
    let message = |c| match Gate::new(PolicySet::empty(), c) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    assert!(message(config(vec![cap("cap"), cap("cap")], None))
        .starts_with("invariants[1]: the name 'cap' is taken"));
    // Equal in NFC is equal (names are held in NFC).
    assert!(
        message(config(vec![cap("caf\u{e9}"), cap("cafe\u{301}")], None))
            .starts_with("invariants[1]: the name 'caf\u{e9}' is taken")
    );
    assert!(message(config(vec![cap("max_session_actions")], Some(5)))
        .starts_with("invariants[0]: the name 'max_session_actions' is taken"));
    assert_eq!(message(config(vec![cap("max_session_actions")], None)), "");
    assert_eq!(message(config(vec![cap("a"), cap("b")], Some(5))), "");
}
