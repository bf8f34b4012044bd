//! Issue 18, the input-validation findings on the Rust side: policy files (P4 encoding, H1
//! non-regular files and the size cap), look-alike names (P5), field length caps (U3) and
//! short error messages (U5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use kavach_core::error::ErrorCode;
use kavach_core::policy::file::MAX_POLICY_FILE_BYTES;
use kavach_core::policy::PolicySet;
use kavach_core::{ActionContext, DeviceFingerprint, PrincipalKind, RefuseCode};

const DENY_LIST: &str = r#"{"policies":[
  {"name":"no-delete","effect":"refuse","priority":1,"conditions":[{"action":"delete_user"}]},
  {"name":"all","effect":"permit","conditions":[]}]}"#;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kavach-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `f` on a thread and fails (instead of hanging the test run) after 10 s.
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the call did not return within 10 s (blocked on the file)")
}

#[test]
fn latin1_policy_file_is_a_parse_error_naming_the_byte_offset() {
    // `löschen_*` in Latin-1: ö is the single byte 0xF6.
    let mut bytes =
        b"[[policy]]\nname = \"no-delete\"\neffect = \"refuse\"\nconditions = [{ action = \"l"
            .to_vec();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xF6schen_*\" }]\n");
    let path = temp("latin1.toml");
    std::fs::write(&path, &bytes).unwrap();
    let err = PolicySet::from_toml_file(&path).unwrap_err();
    assert_eq!(err.code(), ErrorCode::PolicyParse);
    let msg = err.to_string();
    assert!(msg.contains(&format!("offset {offset}")), "{msg}");
    assert!(msg.contains("0xF6"), "{msg}");
}

#[test]
fn a_byte_order_mark_is_dropped_for_toml_and_json() {
    let toml = "\u{FEFF}[[policy]]\nname = \"p\"\neffect = \"permit\"\nconditions = []\n";
    assert_eq!(PolicySet::from_toml(toml).unwrap().len(), 1);
    let json = "\u{FEFF}{\"policies\":[{\"name\":\"p\",\"effect\":\"permit\",\"conditions\":[]}]}";
    assert_eq!(PolicySet::from_json(json).unwrap().len(), 1);
    let path = temp("bom.json");
    std::fs::write(&path, json).unwrap();
    assert_eq!(PolicySet::from_json_file(&path).unwrap().len(), 1);
    // A BOM alone is still an empty JSON document, not the empty set.
    assert!(PolicySet::from_json("\u{FEFF}").is_err());
}

fn refused_without_blocking(path: &Path, expect: &str) {
    let p = path.to_path_buf();
    let toml = within_10s(move || PolicySet::from_toml_file(&p).map(|s| s.len()));
    let p = path.to_path_buf();
    let json = within_10s(move || PolicySet::from_json_file(&p).map(|s| s.len()));
    for r in [toml, json] {
        let err = r.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(expect), "{msg}");
    }
}

#[test]
fn a_fifo_is_refused_instead_of_blocking() {
    let path = temp("policy.fifo");
    let _ = std::fs::remove_file(&path);
    let ok = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo failed");
    refused_without_blocking(&path, "is not a regular file (a FIFO)");
}

#[test]
fn dev_zero_and_a_directory_are_refused() {
    refused_without_blocking(Path::new("/dev/zero"), "a character device");
    refused_without_blocking(&std::env::temp_dir(), "a directory");
}

#[test]
fn a_policy_file_over_the_size_cap_is_refused_naming_the_limit() {
    let path = temp("huge.toml");
    let f = std::fs::File::create(&path).unwrap();
    // Sparse: no disk is used for the bytes past the cap.
    f.set_len(MAX_POLICY_FILE_BYTES + 1).unwrap();
    let err = PolicySet::from_toml_file(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("limit of {MAX_POLICY_FILE_BYTES} bytes")),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn look_alike_action_names_are_invalid_context_naming_the_field() {
    let (g, _) = gate_json(DENY_LIST);
    assert_eq!(
        code(&eval(&g, &agent("delete_user"))),
        Some(RefuseCode::PolicyDenied)
    );
    for bad in [
        "d\u{0435}lete_user",
        "delete_user\u{200b}",
        "delete_user ",
        " delete_user",
        "delete_user\0",
        "delete\u{202e}_user",
        "delete_user\u{feff}",
        "delete_user\u{2060}",
    ] {
        let v = eval(&g, &agent(bad));
        assert_eq!(code(&v), Some(RefuseCode::InvalidContext), "{bad:?}");
        assert!(
            refusal(&v).reason.starts_with("actionName "),
            "{}",
            refusal(&v).reason
        );
    }
}

#[test]
fn principal_ids_roles_and_resources_follow_the_same_rules() {
    let (g, _) = gate_json(DENY_LIST);
    let mut c = ctx("bob\u{200d}", PrincipalKind::User, "read");
    assert!(refusal(&eval(&g, &c)).reason.starts_with("principalId "));
    c.principal_id = "bob".into();
    c.roles = vec!["admin".into(), "admin\t".into()];
    let v = eval(&g, &c);
    assert_eq!(code(&v), Some(RefuseCode::InvalidContext));
    assert!(
        refusal(&v).reason.starts_with("roles[1] "),
        "{}",
        refusal(&v).reason
    );
    c.roles = vec!["admin".into()];
    c.resource = Some("db\u{0}".into());
    assert!(refusal(&eval(&g, &c)).reason.starts_with("resource "));
    c.resource = Some("db".into());
    assert!(permitted(&g, &c));
}

#[test]
fn names_match_in_nfc_on_both_sides() {
    // The policy is written decomposed (o + U+0308), the action composed, and the other way.
    let decomposed = "lo\u{0308}schen";
    let set = format!(
        r#"{{"policies":[
      {{"name":"no-delete","effect":"refuse","priority":1,"conditions":[{{"action":"{decomposed}_*"}}]}},
      {{"name":"all","effect":"permit","conditions":[]}}]}}"#
    );
    let (g, _) = gate_json(&set);
    assert_eq!(
        code(&eval(&g, &agent("löschen_alles"))),
        Some(RefuseCode::PolicyDenied)
    );
    let mut c = agent(&format!("{decomposed}_alles"));
    // Not in NFC: refused as it stands, matched once normalised.
    assert_eq!(code(&eval(&g, &c)), Some(RefuseCode::InvalidContext));
    c.normalize();
    assert_eq!(c.action_name, "löschen_alles");
    assert_eq!(code(&eval(&g, &c)), Some(RefuseCode::PolicyDenied));
}

#[test]
fn policy_names_and_patterns_follow_the_name_rules() {
    for (cond, why) in [
        (r#"{"action":" "}"#, "whitespace"),
        (r#"{"action":"\u0000"}"#, "control character"),
        (r#"{"action":"delete_user\u200b"}"#, "invisible"),
        (r#"{"identity_role":"admin "}"#, "whitespace"),
        (r#"{"identity_id":"b\u043eb"}"#, "scripts"),
        (r#"{"resource":"db\u202e"}"#, "invisible"),
        // Default-ignorable characters beyond zero-width and bidi controls.
        (r#"{"action":"delete_\u00aduser"}"#, "invisible"),
        (r#"{"action":"delete_user\ufe0f"}"#, "invisible"),
        (r#"{"identity_id":"mallory\udb40\udc41"}"#, "invisible"),
        // Param fields follow the name rules too: a refuse policy on a field no caller's
        // name can equal would never fire.
        (r#"{"param_max":{"field":"amount ","max":1}}"#, "whitespace"),
        (
            r#"{"param_min":{"field":"amount\u200b","min":1}}"#,
            "invisible",
        ),
        (
            r#"{"param_in":{"field":"am\u202eount","values":["x"]}}"#,
            "invisible",
        ),
    ] {
        let err = PolicySet::from_json(&one(&format!("[{cond}]"))).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PolicyParse);
        assert!(err.to_string().contains(why), "{cond}: {err}");
    }
    let err = PolicySet::from_json(
        r#"{"policies":[{"name":"p\u0007","effect":"permit","conditions":[]}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("key 'name'"), "{err}");
}

/// Sets one field of a context.
type Setter = Box<dyn Fn(&mut ActionContext)>;

#[test]
fn context_fields_have_length_caps_naming_field_and_limit() {
    let (g, _) = gate_json(DENY_LIST);
    let long = |n: usize| "a".repeat(n);
    let cases: Vec<(Setter, &str)> = vec![
        (
            Box::new(move |c| c.principal_id = long(257)),
            "principalId is 257 bytes long, over the limit of 256 bytes",
        ),
        (
            Box::new(move |c| c.action_name = long(257)),
            "actionName is 257 bytes long",
        ),
        (
            Box::new(move |c| c.roles = vec![long(300)]),
            "roles[0] is 300 bytes long",
        ),
        (
            Box::new(move |c| c.ip = Some(long(65))),
            "ip is 65 bytes long, over the limit of 64 bytes",
        ),
        (
            Box::new(move |c| c.session_id = Some(long(1 << 20))),
            "sessionId is 1048576 bytes long",
        ),
        (
            Box::new(move |c| {
                c.device = Some(DeviceFingerprint {
                    hash: "h".into(),
                    description: Some(long(1025)),
                })
            }),
            "device.description is 1025 bytes long, over the limit of 1024 bytes",
        ),
        (
            Box::new(move |c| {
                c.params = vec![("note".into(), kavach_core::ParamValue::Text(long(70_000)))]
            }),
            "over the limit of 65536 bytes",
        ),
    ];
    for (set, expect) in cases {
        let mut c = agent("read");
        set(&mut c);
        let v = eval(&g, &c);
        assert_eq!(code(&v), Some(RefuseCode::InvalidContext), "{expect}");
        assert!(
            refusal(&v).reason.contains(expect),
            "{}",
            refusal(&v).reason
        );
        assert!(refusal(&v).reason.len() < 200, "{}", refusal(&v).reason);
    }
    // At the limit: permitted.
    let mut c = ctx(&long(256), PrincipalKind::User, "read");
    c.ip = Some(long(64));
    assert!(permitted(&g, &c));
}

#[test]
fn an_empty_device_hash_is_invalid_context() {
    let (g, _) = gate_json(DENY_LIST);
    let mut c = agent("read");
    c.device = Some(DeviceFingerprint {
        hash: String::new(),
        description: None,
    });
    let v = eval(&g, &c);
    assert_eq!(code(&v), Some(RefuseCode::InvalidContext));
    assert!(refusal(&v)
        .reason
        .contains("device.hash must be a non-empty string"));
}

#[test]
fn error_messages_show_at_most_an_excerpt_of_the_value() {
    let huge = "x".repeat(1 << 20);
    let err =
        PolicySet::from_json(&one(&format!(r#"[{{"identity_kind":"{huge}"}}]"#))).unwrap_err();
    let msg = err.to_string();
    assert!(msg.len() < 400, "{} bytes", msg.len());
    assert!(msg.contains("… (1048576 characters)"), "{msg}");
    let err = PolicySet::from_json(&one(&format!(r#"[{{"{huge}":1}}]"#))).unwrap_err();
    assert!(err.to_string().len() < 400);
    let (g, _) = gate_json(DENY_LIST);
    let v = eval(&g, &agent(&format!("{huge}\u{200b}")));
    assert!(
        refusal(&v).reason.len() < 200,
        "{}",
        refusal(&v).reason.len()
    );
}

#[test]
fn durations_with_leading_zeros_and_windows_with_extra_spaces_are_the_documented_forms() {
    use kavach_core::policy::duration::parse_duration_ms;
    use kavach_core::policy::time_window::TimeWindow;
    assert_eq!(parse_duration_ms("0010s").unwrap(), 10_000);
    assert_eq!(
        TimeWindow::parse("09:00-18:00  UTC").unwrap(),
        TimeWindow::parse("09:00-18:00 UTC").unwrap()
    );
    let long = format!("{}s", "9".repeat(100_000));
    assert!(parse_duration_ms(&long).unwrap_err().len() < 300);
}

/// No control or invisible character: what a terminal or log viewer shows is what the text says.
fn assert_printable(reason: &str) {
    assert!(
        !reason
            .chars()
            .any(|c| c.is_control() || kavach_text::is_invisible(c)),
        "raw control or invisible character in {reason:?}"
    );
}

fn reason_of(v: &kavach_core::Verdict) -> String {
    match &v.decision {
        kavach_core::Decision::Refuse(r) => r.reason.clone(),
        kavach_core::Decision::Invalidate(s) => s.reason.clone(),
        kavach_core::Decision::Permit(_) => panic!("expected a refusal or an invalidation"),
    }
}

fn drift_gate(
    session_store: Option<std::sync::Arc<dyn kavach_core::store::SessionStore>>,
) -> std::sync::Arc<kavach_core::gate::Gate> {
    let clock = kavach_core::clock::ManualClock::new(NOON_MS);
    let config = kavach_core::gate::GateConfig {
        enable_drift: true,
        clock: clock.clone(),
        session_store,
        ..kavach_core::gate::GateConfig::default()
    };
    kavach_core::gate::Gate::new(PolicySet::from_json(&one("[]")).unwrap(), config).unwrap()
}

#[test]
fn caller_strings_in_drift_and_revocation_reasons_are_escaped_and_clipped() {
    use kavach_core::context::GeoLocation;
    let evil = "x\u{1b}[2J\u{1b}[31mFAKE\nkavach: permit granted\u{202e}";
    let g = drift_gate(None);

    let mut c = agent("x");
    c.origin_ip = Some("1.1.1.1".into());
    c.ip = Some(evil.into());
    let reason = reason_of(&eval(&g, &c));
    assert_printable(&reason);
    assert!(
        reason.contains(r"to 'x\u{1b}[2J\u{1b}[31mFAKE\u{a}kavach"),
        "{reason}"
    );

    let mut c = ctx("b", PrincipalKind::Agent, "x");
    c.origin_device = Some(DeviceFingerprint {
        hash: "d1".into(),
        description: None,
    });
    c.device = Some(DeviceFingerprint {
        hash: "h".repeat(256),
        description: Some(format!("{evil}{}", "D".repeat(900))),
    });
    let reason = reason_of(&eval(&g, &c));
    assert_printable(&reason);
    assert!(reason.contains("… (256 characters)"), "{reason}");
    let description_chars = evil.chars().count() + 900;
    assert!(
        reason.contains(&format!("… ({description_chars} characters)")),
        "{reason}"
    );
    assert!(reason.chars().count() < 400, "{reason}");

    let mut c = ctx("c", PrincipalKind::Agent, "x");
    c.origin_ip = Some("1.1.1.1".into());
    c.ip = Some("2.2.2.2".into());
    c.current_geo = Some(GeoLocation {
        country_code: "U\nS".into(),
        city: Some(format!("{evil}{}", "C".repeat(200))),
        ..GeoLocation::default()
    });
    let reason = reason_of(&eval(&g, &c));
    assert_printable(&reason);
    assert!(reason.contains(r"(now in 'U\u{a}S', 'x\u{1b}"), "{reason}");
    let city_chars = evil.chars().count() + 200;
    assert!(
        reason.contains(&format!("… ({city_chars} characters)")),
        "{reason}"
    );

    // A session id is the caller's too: in the revocation list's refusal, and in the refusal
    // of a second gate that learns of the revocation from the shared session store.
    let store: std::sync::Arc<dyn kavach_core::store::SessionStore> =
        std::sync::Arc::new(kavach_core::store::memory::MemorySessionStore::new(
            kavach_core::clock::ManualClock::new(NOON_MS),
        ));
    let g = drift_gate(Some(store.clone()));
    let other = drift_gate(Some(store));
    for sid in ["s\u{1b}[31m\nX".to_owned(), "S".repeat(256)] {
        let mut c = ctx("d", PrincipalKind::Agent, "x");
        c.session_id = Some(sid.clone());
        c.ip = Some("1.1.1.1".into());
        assert!(eval(&g, &c).decision.is_permit());
        c.ip = Some("2.2.2.2".into());
        assert!(matches!(
            eval(&g, &c).decision,
            kavach_core::Decision::Invalidate(_)
        ));
        c.ip = Some("1.1.1.1".into());
        for gate in [&g, &other] {
            let v = eval(gate, &c);
            assert_eq!(code(&v), Some(RefuseCode::SessionInvalid));
            let reason = reason_of(&v);
            assert_printable(&reason);
            assert!(reason.chars().count() < 250, "{reason}");
            assert!(
                reason.starts_with(r"session 's\u{1b}[31m\u{a}X' ")
                    || reason
                        .starts_with(&format!("session '{}… (256 characters)' ", "S".repeat(100))),
                "{reason}"
            );
        }
    }
}

#[test]
fn a_toml_syntax_error_on_a_long_line_is_cut_like_every_parser_message() {
    // One line of 2 MB with an error at its end: toml quotes the line and a caret line under it.
    let text = format!("[[policy]]\nname = \"p\"\nx = [{}", "1,".repeat(1_000_000));
    let e = PolicySet::from_toml(&text).unwrap_err().to_string();
    assert!(e.contains("invalid TOML"), "{e}");
    assert!(e.len() < 1_000, "message of {} bytes", e.len());
}

#[test]
fn an_unknown_top_level_toml_key_is_refused_by_name_whatever_it_holds() {
    let text = format!(
        "x = [{}]\n[[policy]]\nname = \"p\"\neffect = \"permit\"\n",
        "1,".repeat(100_000)
    );
    let e = PolicySet::from_toml(&text).unwrap_err().to_string();
    assert!(
        e.contains("unknown top-level key 'x' (expected 'policies' or 'policy')"),
        "{e}"
    );
    // A datetime there is refused as unknown too, not as a datetime: its value is not read.
    let e = PolicySet::from_toml("when = 2026-01-01T00:00:00Z\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown top-level key 'when'"), "{e}");
}

#[test]
fn a_toml_syntax_error_says_what_is_wrong_and_where_without_quoting_the_line() {
    // A missing comma at the end of a long line.
    let line = format!(
        "conditions = [{}{{ action = \"x\" }} {{ action = \"b\" }}]",
        "{ action = \"reports.reports\" }, ".repeat(12)
    );
    let e = PolicySet::from_toml(&format!("[[policy]]\nname = \"p\"\n{line}\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid TOML at line 3, column "), "{e}");
    assert!(e.contains("comma"), "{e}");
    assert!(!e.contains("reports.reports"), "{e}");
}

#[test]
fn toml_key_names_in_errors_are_excerpts() {
    let key = format!("k\u{1b}[31m{}", "x".repeat(200_000));
    let text = format!("[[policy]]\nname = \"a\"\neffect = \"permit\"\nconditions = [{{ action = \"x\" }}]\n[policy.extra]\n\"{key}\" = 1979-05-27T07:32:00Z\n");
    let e = PolicySet::from_toml(&text).unwrap_err().to_string();
    assert!(e.len() < 1_000, "message of {} bytes", e.len());
    assert!(!e.contains('\u{1b}'), "{e}");
}
