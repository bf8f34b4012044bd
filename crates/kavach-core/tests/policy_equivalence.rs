//! TOML, JSON and object loaders agree: generated policy sets, rendered both ways, evaluated
//! against generated contexts on one clock, give identical verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Rng, NOON_MS};
use kavach_core::clock::ManualClock;
use kavach_core::gate::{Gate, GateConfig};
use kavach_core::policy::PolicySet;
use kavach_core::{ActionContext, Decision, ParamValue, PrincipalKind};

/// One condition rendered as (key, JSON value, TOML value).
fn condition(rng: &mut Rng) -> (String, String, String) {
    let same = |k: &str, v: String| (k.to_owned(), v.clone(), v);
    let s = |x: &str| format!("\"{x}\"");
    match rng.below(11) {
        0 => same("identity_kind", s(rng.pick(&["agent", "user", "service"]))),
        1 => same("identity_role", s(rng.pick(&["support", "admin"]))),
        2 => same("identity_id", s(rng.pick(&["bot-1", "bot-2"]))),
        3 => same(
            "action",
            s(rng.pick(&["refund", "refund*", "refund.*", "pay", "*", "pay.*", "read"])),
        ),
        4 => same("resource", s(rng.pick(&["orders/*", "orders/1", "*"]))),
        5 | 6 => {
            let (key, bound) = if rng.chance(50) {
                ("param_max", "max")
            } else {
                ("param_min", "min")
            };
            let n = rng.pick(&["-1", "0", "100", "1000.5"]);
            (
                key.into(),
                format!("{{\"field\":\"amount\",\"{bound}\":{n}}}"),
                format!("{{ field = \"amount\", {bound} = {n} }}"),
            )
        }
        7 => {
            let vals = rng.pick(&[r#""INR""#, r#""INR","USD""#, r#""eur""#]);
            (
                "param_in".into(),
                format!("{{\"field\":\"currency\",\"values\":[{vals}]}}"),
                format!("{{ field = \"currency\", values = [{vals}] }}"),
            )
        }
        8 => {
            let max = 1 + rng.below(3);
            let w = rng.pick(&["1m", "1h", "30s"]);
            (
                "rate_limit".into(),
                format!("{{\"max\":{max},\"window\":\"{w}\"}}"),
                format!("{{ max = {max}, window = \"{w}\" }}"),
            )
        }
        9 => same("session_age_max", s(rng.pick(&["1h", "10m"]))),
        _ => same(
            "time_window",
            s(rng.pick(&["09:00-18:00", "22:00-06:00 Asia/Kolkata", "11:00-13:00 UTC"])),
        ),
    }
}

fn policy_set(rng: &mut Rng) -> (String, String) {
    let n = rng.below(6);
    let mut json = Vec::new();
    let mut toml = String::new();
    for i in 0..n {
        let effect = if rng.chance(70) { "permit" } else { "refuse" };
        // rate_limit is a load error in refuse policies (it would fail open): permits only.
        let conds: Vec<_> = (0..rng.below(4))
            .map(|_| condition(rng))
            .filter(|(k, _, _)| effect == "permit" || k != "rate_limit")
            .collect();
        let priority = rng.chance(50).then(|| rng.below(3) * 10);
        let jc: Vec<String> = conds
            .iter()
            .map(|(k, j, _)| format!("{{\"{k}\":{j}}}"))
            .collect();
        let tc: Vec<String> = conds
            .iter()
            .map(|(k, _, t)| format!("{{ {k} = {t} }}"))
            .collect();
        let pj = priority
            .map(|p| format!(",\"priority\":{p}"))
            .unwrap_or_default();
        json.push(format!(
            "{{\"name\":\"p{i}\",\"effect\":\"{effect}\",\"conditions\":[{}]{pj}}}",
            jc.join(",")
        ));
        toml.push_str(&format!(
            "[[policy]]\nname = \"p{i}\"\neffect = \"{effect}\"\nconditions = [{}]\n",
            tc.join(", ")
        ));
        if let Some(p) = priority {
            toml.push_str(&format!("priority = {p}\n"));
        }
        toml.push('\n');
    }
    let top = if rng.chance(50) { "policies" } else { "policy" };
    (format!("{{\"{top}\":[{}]}}", json.join(",")), toml)
}

fn context(rng: &mut Rng) -> ActionContext {
    let kind = rng.pick(&[
        PrincipalKind::Agent,
        PrincipalKind::User,
        PrincipalKind::Service,
    ]);
    let mut c = ActionContext::new(
        rng.pick(&["bot-1", "bot-2"]),
        kind,
        rng.pick(&[
            "refund",
            "refund.issue",
            "refunds",
            "pay",
            "pay.x",
            "read",
            "x",
        ]),
    );
    if rng.chance(50) {
        c.roles
            .push((rng.pick(&["support", "admin", "ops"])).into());
    }
    if rng.chance(50) {
        c.resource = Some((rng.pick(&["orders/1", "orders/2", "invoices/1"])).into());
    }
    match rng.below(4) {
        0 => {}
        1 => c
            .params
            .push(("amount".into(), ParamValue::Text("100".into()))),
        _ => c.params.push((
            "amount".into(),
            ParamValue::Number(rng.pick(&[-5.0, 0.0, 50.0, 100.0, 1000.5, 2000.0])),
        )),
    }
    if rng.chance(60) {
        c.params.push((
            "currency".into(),
            ParamValue::Text((rng.pick(&["INR", "USD", "eur"])).into()),
        ));
    }
    if rng.chance(40) {
        c.session_id = Some((rng.pick(&["s1", "s2"])).into());
    } else if rng.chance(30) {
        c.session_started_at = Some(NOON_MS / 1000 - rng.below(7200) as i64);
    }
    c
}

fn shape(d: &Decision) -> String {
    match d {
        Decision::Permit(t) => format!("permit {} {}", t.action_name, t.expires_at - t.issued_at),
        Decision::Refuse(r) => format!("refuse {} {} {}", r.code.as_str(), r.evaluator, r.reason),
        Decision::Invalidate(s) => format!("invalidate {s:?}"),
    }
}

#[test]
fn toml_json_and_object_loaders_agree() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut evaluations = 0;
    let mut permits = 0;
    for set_no in 0..400 {
        let (json, toml) = policy_set(&mut rng);
        let from_json = PolicySet::from_json(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
        let from_toml = PolicySet::from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let from_object = PolicySet::from_value(&value).unwrap();
        assert_eq!(
            from_json.policies(),
            from_toml.policies(),
            "set {set_no}\n{json}\n{toml}"
        );
        assert_eq!(from_json.policies(), from_object.policies());

        let clock = ManualClock::new(NOON_MS + rng.below(86_400_000) as i64);
        let gates: Vec<Arc<Gate>> = [from_json, from_toml, from_object]
            .into_iter()
            .map(|set| {
                let config = GateConfig {
                    clock: clock.clone(),
                    enable_drift: false,
                    ..GateConfig::default()
                };
                Gate::new(set, config).unwrap()
            })
            .collect();
        for _ in 0..12 {
            let c = context(&mut rng);
            let answers: Vec<String> = gates
                .iter()
                .map(|g| shape(&g.evaluate_sync(&c).unwrap().decision))
                .collect();
            assert_eq!(
                answers[0], answers[1],
                "set {set_no} ctx {c:?}\n{json}\n{toml}"
            );
            assert_eq!(answers[0], answers[2], "set {set_no} ctx {c:?}");
            evaluations += 1;
            permits += usize::from(answers[0].starts_with("permit"));
            clock.advance_ms(rng.below(20_000) as i64);
        }
    }
    // The generator must exercise both outcomes, or the comparison proves little.
    assert!(
        permits > evaluations / 10 && permits < evaluations * 9 / 10,
        "{permits}/{evaluations}"
    );
}
