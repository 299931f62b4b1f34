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
    assert_eq!(body["checks"]["policy"]["state"], "unavailable", "{body}");
    assert_eq!(
        body["checks"]["policy"]["revision"],
        serde_json::Value::Null
    );
    // Unauthenticated readiness names no source and carries no error text.
    let text = body.to_string();
    assert!(
        !text.contains("http://") && !text.contains("fetching"),
        "{text}"
    );
    // Auditors read the detail.
    let status = gw.api(&harness::token("auditor-tool")).get("/v1/status");
    assert!(
        status.body["detail"]["policy"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("fetching the bundle"),
        "{}",
        status.body
    );
    assert_eq!(
        gw.api(&harness::token("alice-tool"))
            .get("/v1/status")
            .status,
        403
    );
}

#[test]
fn bundle_directory_with_a_decision_log_mask() {
    let bundle = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = harness::bundle_copy(bundle.path(), |_| {});
    std::fs::create_dir_all(bundle.path().join("system/log")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        bundle.path().join("system/log/mask.rego"),
        "package system.log\n\nmask contains \"/input/analysis\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
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

#[test]
fn signed_bundle_built_by_the_cli_is_required_and_verified() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .current_dir(d)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(run(&[
        "openssl",
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        "k.pem"
    ]));
    assert!(run(&[
        "openssl",
        "pkey",
        "-in",
        "k.pem",
        "-pubout",
        "-out",
        "k.pub.pem"
    ]));
    let airlock = harness::airlock_bin().display().to_string();
    let bundle = harness::repo_root()
        .join("policy/bundle")
        .display()
        .to_string();
    assert!(run(&[
        &airlock,
        "policy",
        "build",
        &bundle,
        "-o",
        "signed.tar.gz",
        "--signing-key",
        "k.pem",
        "--key-id",
        "ops",
        "--algorithm",
        "EdDSA"
    ]));
    assert!(run(&[
        &airlock,
        "policy",
        "build",
        &bundle,
        "-o",
        "unsigned.tar.gz"
    ]));
    let keys = format!(
        "[{{key_id = \"ops\", algorithm = \"EdDSA\", key_file = \"{}\"}}]",
        d.join("k.pub.pem").display()
    );

    let signed = d.join("signed.tar.gz").display().to_string();
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_FILE", signed.as_str()),
            ("AIRLOCK_POLICY__REQUIRE_SIGNATURE", "true"),
            ("AIRLOCK_POLICY__SIGNING_KEYS", keys.as_str()),
        ],
    );
    let ready: serde_json::Value = harness::client()
        .get(format!("{}/readyz", gw.url))
        .send()
        .and_then(|r| r.json())
        .unwrap_or_default();
    assert_eq!(ready["checks"]["policy"]["signed"], true, "{ready}");
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(api.run(&sid, "python", "import requests").status, 403);
    drop(gw);

    let unsigned = d.join("unsigned.tar.gz").display().to_string();
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_FILE", unsigned.as_str()),
            ("AIRLOCK_POLICY__REQUIRE_SIGNATURE", "true"),
            ("AIRLOCK_POLICY__SIGNING_KEYS", keys.as_str()),
        ],
    );
    let r = gw
        .api(&harness::token("alice-tool"))
        .post("/v1/sessions", serde_json::json!({}));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (503, Some("policy_unavailable")),
        "{}",
        r.body
    );
    let ready = gw
        .api(&harness::token("auditor-tool"))
        .get("/v1/status")
        .body;
    assert!(
        ready["detail"]["policy"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("not signed"),
        "{ready}"
    );
}
