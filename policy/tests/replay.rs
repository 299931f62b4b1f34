//! Replay: recorded decisions decided again by a candidate bundle; exactly the changed ones
//! are listed, with what they were and what they would be.

use airlock_gateway_domain::replay::replay;
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead, NewEvent},
    policy_input::{Action, CodeFacts, PolicyInput, RequestFacts},
    ports::PolicyEngine,
    Principal,
};
use airlock_policy::{Bundle, RegoPolicy};

fn input(import: &str) -> PolicyInput {
    PolicyInput {
        action: Action::ExecutionRun,
        principal: Principal {
            issuer: "i".into(),
            subject: format!("user-of-{import}"),
            email: None,
            groups: vec![],
            tenant: None,
            via: None,
        },
        session: None,
        request: RequestFacts {
            language: Some("python".into()),
            code_bytes: Some(10),
            ..Default::default()
        },
        analysis: Some(CodeFacts {
            imports: vec![import.into()],
            ..Default::default()
        }),
    }
}

fn engine(edit: impl Fn(&mut serde_json::Value)) -> RegoPolicy {
    let mut files = airlock_policy::read_dir_raw(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (name, bytes) in &mut files {
        if name == "data.json" {
            let mut d: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
            edit(&mut d);
            *bytes = serde_json::to_vec(&d).unwrap_or_default();
        }
    }
    RegoPolicy::new(&Bundle::from_raw(files).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The `policy.decided` event the gateway would have recorded for `input` under `policy`.
fn recorded(policy: &RegoPolicy, input: &PolicyInput, n: u64) -> AuditEvent {
    let d = policy.decide(input).unwrap_or_else(|e| panic!("{e}"));
    AuditEvent::seal(
        NewEvent::new(
            "policy.decided",
            None,
            serde_json::json!({
                "principal": {"subject": input.principal.subject},
                "execution_id": format!("exe_{n}"),
                "action": input.action.as_str(),
                "result": d.result.as_str(),
                "violations": d.violations,
                "input": input,
            }),
        ),
        &ChainHead::genesis(),
        "c",
        "airlock://test",
        format!("ev-{n}"),
        "2026-12-01T10:00:00Z".into(),
    )
}

#[test]
fn a_stricter_bundle_lists_exactly_the_decisions_it_changes() {
    let today = engine(|_| {});
    let events: Vec<AuditEvent> = ["numpy", "pandas", "json", "socket"]
        .iter()
        .enumerate()
        .map(|(i, m)| recorded(&today, &input(m), i as u64))
        .collect();
    // Replayed against the bundle that recorded them: nothing changes.
    assert!(replay(&today, &events).changed.is_empty());

    // numpy removed, pandas held for review.
    let stricter = engine(|d| {
        if let Some(a) = d["airlock"]["packages"]["allowed"].as_array_mut() {
            a.retain(|p| p != "numpy");
        }
        d["airlock"]["packages"]["review"] = serde_json::json!(["pandas"]);
    });
    let report = replay(&stricter, &events);
    assert_eq!(report.decisions, 4);
    let changed: Vec<(&str, &str, &str)> = report
        .changed
        .iter()
        .map(|c| (c.subject.as_str(), c.before.as_str(), c.after.as_str()))
        .collect();
    assert_eq!(
        changed,
        [
            ("user-of-numpy", "allow", "deny"),
            ("user-of-pandas", "allow", "review")
        ]
    );
    assert_eq!(report.changed[0].reasons_after, ["package_not_allowed"]);
    assert_eq!(report.changed[0].execution_id.as_deref(), Some("exe_0"));
    assert!(report
        .table()
        .contains("| user-of-numpy | execution.run | exe_0 | allow | deny |"));
}

#[test]
fn an_event_without_a_readable_input_is_counted_not_replayed() {
    let policy = engine(|_| {});
    let mut e = recorded(&policy, &input("json"), 9);
    e.data["input"] = serde_json::json!({"masked": true});
    let report = replay(&policy, &[e]);
    assert_eq!((report.decisions, report.unreadable), (1, 1));
    assert!(report.changed.is_empty());
}
