//! Rough per-evaluation cost of the core pipeline (no napi), for 10 and 1,000 policies.
//! `cargo run --release -p kavach-core --example evaluate_bench`. A measurement, not a test.

use std::time::Instant;

use kavach_core::gate::{Gate, GateConfig};
use kavach_core::policy::PolicySet;
use kavach_core::{ActionContext, ParamValue, PrincipalKind};

fn set(n: usize) -> PolicySet {
    let policies: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name":"p{i}","effect":"permit","conditions":[{{"identity_kind":"agent"}},{{"action":"action_{i}"}},{{"param_max":{{"field":"amount","max":1000}}}}]}}"#
            )
        })
        .collect();
    PolicySet::from_json(&format!(r#"{{"policies":[{}]}}"#, policies.join(","))).unwrap_or_default()
}

fn measure(label: &str, n: usize, drift: bool) {
    let config = GateConfig {
        enable_drift: drift,
        ..GateConfig::default()
    };
    let Ok(gate) = Gate::new(set(n), config) else {
        return;
    };
    let mut ctx = ActionContext::new(
        "agent-bot",
        PrincipalKind::Agent,
        format!("action_{}", n / 2),
    );
    ctx.params
        .push(("amount".into(), ParamValue::Number(500.0)));
    let mut samples = Vec::with_capacity(20_000);
    for i in 0..220_000 {
        let t = Instant::now();
        let v = gate.evaluate_sync(&ctx);
        let dt = t.elapsed().as_nanos();
        assert!(v.is_ok_and(|v| v.decision.is_permit()));
        if i >= 20_000 && i % 10 == 0 {
            samples.push(dt);
        }
    }
    samples.sort_unstable();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!("{label}: p50 {} ns, p99 {} ns", p(0.5), p(0.99));
}

fn main() {
    uuid_cost();
    measure("10 policies, drift off", 10, false);
    measure("10 policies, drift on", 10, true);
    measure("1000 policies, drift on", 1000, true);
}

#[allow(dead_code)]
fn uuid_cost() {
    let t = Instant::now();
    for _ in 0..1_000_000 {
        std::hint::black_box(uuid::Uuid::new_v4());
    }
    println!("uuid v4: {} ns each", t.elapsed().as_nanos() / 1_000_000);
}
