//! These tests load the shipped bundle, so the Rust types and the Rego cannot drift apart.

use super::*;
use airlock_gateway_domain::policy_input::{Action, CodeFacts, RequestFacts};
use airlock_gateway_domain::Principal;

fn policy() -> RegoPolicy {
    let bundle = Bundle::embedded().unwrap_or_else(|e| panic!("{e}"));
    RegoPolicy::new(&bundle).unwrap_or_else(|e| panic!("{e}"))
}

fn run(imports: &[&str]) -> Decision {
    let input = PolicyInput {
        action: Action::ExecutionRun,
        principal: Principal {
            issuer: "i".into(),
            subject: "s".into(),
            email: None,
            groups: vec![],
            tenant: None,
            via: None,
        },
        session: None,
        request: RequestFacts {
            language: Some("python".into()),
            code_bytes: Some(20),
            ..Default::default()
        },
        analysis: Some(CodeFacts {
            imports: imports.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }),
    };
    policy().decide(&input).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_bundle_allows_baseline_packages() {
    let d = run(&["pandas", "matplotlib", "os"]);
    assert_eq!(d.result, DecisionResult::Allow, "{d:?}");
    assert_eq!(d.policy_revision, "airlock-default-2026.11.1");
}

#[test]
fn shipped_bundle_denies_unlisted_package_with_hint() {
    let d = run(&["requests"]);
    assert_eq!(d.result, DecisionResult::Deny);
    assert_eq!(d.violations.len(), 1);
    assert_eq!(d.violations[0].code, "package_not_allowed");
    assert!(d.violations[0]
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("pandas"));
}

#[test]
fn bundle_with_http_send_is_rejected_at_load() {
    let dir = std::env::temp_dir().join(format!("airlock-policy-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(dir.join("airlock"));
    let _ = std::fs::write(
        dir.join("airlock/x.rego"),
        "package airlock.decision\nx := http.send({})\n",
    );
    let err = Bundle::from_dir(&dir)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("http.send"), "{err}");
}

#[test]
fn bundle_without_entry_point_is_rejected() {
    let dir = std::env::temp_dir().join(format!("airlock-policy-noentry-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("x.rego"), "package other\nx := 1\n");
    let bundle = Bundle::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(
        RegoPolicy::new(&bundle),
        Err(LoadError::NoEntryPoint)
    ));
}

/// A file added to `policy/bundle` but not to the embedded list would be missing from the
/// binary's default bundle (its rules silently undefined).
#[test]
fn every_bundle_file_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle");
    let on_disk = Bundle::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let embedded = Bundle::embedded().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        crate::test_rules(&on_disk).len(),
        crate::test_rules(&embedded).len(),
        "a *_test.rego file of policy/bundle is not in bundle.rs's EMBEDDED list"
    );
    assert_eq!(on_disk.revision, embedded.revision, "the bundles differ");
}

#[test]
fn shipped_rego_tests_pass() {
    let bundle = Bundle::embedded().unwrap_or_else(|e| panic!("{e}"));
    let outcomes = crate::run_tests(&bundle).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcomes.len() >= 20, "found only {} tests", outcomes.len());
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
    assert!(failed.is_empty(), "{failed:?}");
}
