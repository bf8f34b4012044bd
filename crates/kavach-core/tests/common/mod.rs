//! Shared helpers for the kavach-core integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kavach_core::clock::ManualClock;
use kavach_core::gate::{Gate, GateConfig};
use kavach_core::policy::PolicySet;
use kavach_core::{ActionContext, Decision, ParamValue, PrincipalKind, RefuseCode, Verdict};

/// 2026-01-15T12:00:00Z.
pub const NOON_MS: i64 = 1_768_478_400_000;

pub fn ctx(principal: &str, kind: PrincipalKind, action: &str) -> ActionContext {
    ActionContext::new(principal, kind, action)
}

pub fn agent(action: &str) -> ActionContext {
    ctx("agent-bot", PrincipalKind::Agent, action)
}

pub fn with_num(mut c: ActionContext, k: &str, v: f64) -> ActionContext {
    c.params.push((k.into(), ParamValue::Number(v)));
    c
}

pub fn with_text(mut c: ActionContext, k: &str, v: &str) -> ActionContext {
    c.params.push((k.into(), ParamValue::Text(v.into())));
    c
}

/// A gate on a manual clock with drift off (drift has its own tests).
pub fn gate_json(json: &str) -> (Arc<Gate>, Arc<ManualClock>) {
    gate_with(PolicySet::from_json(json).unwrap(), GateConfig::default())
}

pub fn gate_with(set: PolicySet, mut config: GateConfig) -> (Arc<Gate>, Arc<ManualClock>) {
    let clock = ManualClock::new(NOON_MS);
    config.clock = clock.clone();
    config.enable_drift = false;
    (Gate::new(set, config).unwrap(), clock)
}

pub fn eval(gate: &Gate, c: &ActionContext) -> Verdict {
    gate.evaluate_sync(c).unwrap()
}

pub fn code(v: &Verdict) -> Option<RefuseCode> {
    match &v.decision {
        Decision::Refuse(r) => Some(r.code),
        _ => None,
    }
}

pub fn refusal(v: &Verdict) -> &kavach_core::Refusal {
    match &v.decision {
        Decision::Refuse(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub fn permitted(gate: &Gate, c: &ActionContext) -> bool {
    eval(gate, c).decision.is_permit()
}

/// One permit policy with the given conditions (JSON array text).
pub fn one(conditions: &str) -> String {
    format!(r#"{{"policies":[{{"name":"p","effect":"permit","conditions":{conditions}}}]}}"#)
}

/// A tiny deterministic PRNG (xorshift64*): reproducible generated cases, no extra deps.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
