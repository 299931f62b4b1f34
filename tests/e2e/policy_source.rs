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
