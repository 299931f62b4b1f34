//! Without a valid policy bundle the gateway runs but denies everything (fail closed).

use crate::harness::{self, Gateway};

#[test]
fn no_bundle_at_start_denies_every_request() {
    // A bundle server that does not exist (a port nothing listens on).
    let url = format!("http://127.0.0.1:{}/bundle.tar.gz", harness::free_port());
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_URL", url.as_str()),
            ("AIRLOCK_POLICY__POLL_SECONDS", "1"),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let r = api.post("/v1/sessions", serde_json::json!({}));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (503, Some("policy_unavailable")),
        "{}",
        r.body
    );
    let ready = harness::client()
        .get(format!("{}/readyz", gw.url))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status().as_u16(), 503);
    let body: serde_json::Value = ready.json().unwrap_or_default();
    assert!(
        body["checks"]["policy"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("fetching the bundle"),
        "{body}"
    );
    assert_eq!(
        body["checks"]["policy"]["revision"],
        serde_json::Value::Null
    );
}

#[test]
fn bundle_directory_with_a_decision_log_mask() {
    let bundle = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = harness::repo_root().join("policy/bundle");
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", src.display()))
        .arg(bundle.path())
        .status();
    assert!(copy.is_ok_and(|s| s.success()));
    std::fs::create_dir_all(bundle.path().join("system/log")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        bundle.path().join("system/log/mask.rego"),
        "package system.log\n\nmask contains \"/input/analysis\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = bundle.path().display().to_string();
    let gw = Gateway::start_opts("", &[("AIRLOCK_POLICY__BUNDLE_DIR", dir.as_str())]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run(&sid, "python", "import requests");
    assert_eq!(r.status, 403, "{}", r.body);
    let events = harness::audit_events(&gw.audit_file());
    let decided = events
        .iter()
        .rev()
        .find(|e| e["type"] == "policy.decided")
        .unwrap_or_else(|| panic!("no decision event"));
    assert_eq!(decided["data"]["result"], "deny");
    assert!(decided["data"]["input"]["request"].is_object(), "{decided}");
    assert!(
        decided["data"]["input"].get("analysis").is_none(),
        "analysis not masked: {decided}"
    );
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");
}
