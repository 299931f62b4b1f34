//! `airlock policy replay` over a running gateway's record: a stricter candidate bundle lists
//! exactly the executions it would change.

use crate::harness::{self, Gateway};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn replay_against_a_stricter_bundle_lists_exactly_the_executions_it_changes() {
    let mut gw = Gateway::start();
    let alice = gw.api(&harness::token("alice-tool"));
    let sid = alice.session();
    let mut ids = vec![];
    for code in [
        "import numpy\nprint(1)",
        "print(2)",
        "import json\nprint(3)",
    ] {
        let r = alice.run(&sid, "python", code);
        assert_eq!(r.body["status"], "succeeded", "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap_or_default().to_owned());
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let strict = harness::bundle_copy(dir.path(), |d| {
        if let Some(a) = d["airlock"]["packages"]["allowed"].as_array_mut() {
            a.retain(|p| p != "numpy");
        }
    });

    // Through the API, for auditors only: the candidate as an archive.
    let archive = dir.path().join("strict.tar.gz");
    let built = std::process::Command::new(harness::airlock_bin())
        .args(["policy", "build", &strict, "-o"])
        .arg(&archive)
        .status()
        .is_ok_and(|s| s.success());
    assert!(built);
    let bytes = std::fs::read(&archive).unwrap_or_else(|e| panic!("{e}"));
    let auditor = gw.api(&harness::token("auditor-tool"));
    let r = auditor.post_raw("/v1/audit/replay", "application/gzip", bytes.clone());
    assert_eq!(r.status, 200, "{}", r.body);
    let via_api = changed_executions(&r.body);
    assert_eq!(via_api, BTreeSet::from([ids[0].clone()]), "{}", r.body);
    let denied = alice.post_raw("/v1/audit/replay", "application/gzip", bytes);
    assert_eq!(denied.body["error"]["code"], "not_an_auditor");
    let garbage = auditor.post_raw(
        "/v1/audit/replay",
        "application/gzip",
        b"not a bundle".to_vec(),
    );
    assert_eq!(
        garbage.body["error"]["code"], "invalid_request",
        "{}",
        garbage.body
    );
    gw.stop();
    let replay = |bundle: &str| -> Value {
        let out = std::process::Command::new(harness::airlock_bin())
            .arg("--config")
            .arg(&gw.config)
            .args(["policy", "replay", "--bundle", bundle, "--format", "json"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"))
    };
    let report = replay(&strict);
    assert_eq!(
        changed_executions(&report),
        BTreeSet::from([ids[0].clone()]),
        "{report}"
    );
    let run = report["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["action"] == "execution.run")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        (&run["before"], &run["after"]),
        (&"allow".into(), &"deny".into())
    );
    assert_eq!(report["unreadable"], 0);
    assert!(
        report["decisions"].as_u64().unwrap_or_default() >= 4,
        "{report}"
    );

    // The bundle that decided them changes nothing.
    let same = harness::bundle_copy(&dir.path().join("same"), |_| {});
    assert_eq!(replay(&same)["changed"], serde_json::json!([]));
}

fn changed_executions(report: &Value) -> BTreeSet<String> {
    report["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["execution_id"].as_str().map(str::to_owned))
        .collect()
}
