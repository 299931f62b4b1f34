//! Bad input gets 4xx with a stable code, and nothing is written outside the workspace.

use crate::harness::{self, Gateway};
use serde_json::json;

#[test]
fn bad_requests_get_stable_codes() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let ex = format!("/v1/sessions/{sid}/executions");

    let r = api.post_raw(
        &ex,
        "application/json",
        b"{\"language\": \"python\", \"code\": ".to_vec(),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{}",
        r.body
    );
    let r = api.post_raw(&ex, "text/plain", b"print(1)".to_vec());
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{}",
        r.body
    );
    let r = api.post(&ex, json!({"language": "cobol", "code": "DISPLAY 'HI'."}));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("unsupported_language")),
        "{}",
        r.body
    );
    let r = api.post(
        &ex,
        json!({"language": "python", "code": "1", "surprise": true}),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{}",
        r.body
    );
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("surprise"));
    let r = api.post(&ex, json!({"language": "python"}));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{}",
        r.body
    );
    let r = api.post(
        &ex,
        json!({"language": "python", "code": "x = 1\n".repeat(20_000)}),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (413, Some("code_too_large")),
        "{}",
        r.body
    );
    let r = api.post(
        &ex,
        json!({"language": "python", "code": "1", "timeout_seconds": 0}),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{}",
        r.body
    );
    let r = api.post(
        "/v1/sessions/ses_nothere/executions",
        json!({"language": "python", "code": "1"}),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("session_not_found")),
        "{}",
        r.body
    );
    let r = api.get("/v1/nope");
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("route_not_found")),
        "{}",
        r.body
    );

    // Uploads
    let r = api.upload(&sid, "big.bin", vec![0u8; 2 * 1024 * 1024], None);
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{}",
        r.body
    );
    let r = api.upload(&sid, "x.csv", b"a".to_vec(), Some("top-secret"));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("policy_denied")),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["error"]["details"]["decision"]["violations"][0]["code"],
        "unknown_classification"
    );
    let r = api.post_raw(
        &format!("/v1/sessions/{sid}/files"),
        "application/json",
        b"{}".to_vec(),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_multipart")),
        "{}",
        r.body
    );
    for bad in [
        "../escape.txt",
        "a/../../escape.txt",
        "/tmp/escape.txt",
        "nul\0byte.txt",
        "line\nbreak.txt",
        "tab\there",
        "a//b",
        "..",
        "dir\\..\\x",
    ] {
        let r = api.upload_path(&sid, bad, b"pwned".to_vec());
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (400, Some("invalid_path")),
            "{bad:?}: {}",
            r.body
        );
    }
    // Downloads with traversal in the URL never leave the workspace either.
    for bad in ["..%2F..%2Fstate.db", "%2Fetc%2Fpasswd", "a%00b"] {
        let r = api.get(&format!("/v1/sessions/{sid}/files/{bad}"));
        assert!(
            r.status == 400 || r.status == 404,
            "{bad}: {} {}",
            r.status,
            r.body
        );
    }
    let r = api.get(&format!("/v1/sessions/{sid}/files/missing.csv"));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("file_not_found")),
        "{}",
        r.body
    );
    // A symlink the code plants does not lead a download out of the sandbox.
    let r = api.run(
        &sid,
        "bash",
        "ln -s /etc/passwd link.txt && ln -s /proc/1/environ env.txt",
    );
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    for l in ["link.txt", "env.txt"] {
        assert_eq!(
            api.get(&format!("/v1/sessions/{sid}/files/{l}")).status,
            404
        );
    }

    // Nothing landed outside the workspace on the host.
    for p in [
        gw.dir.join("escape.txt"),
        gw.dir.join("state/escape.txt"),
        gw.sandboxes_dir().join("escape.txt"),
        std::path::PathBuf::from("/tmp/escape.txt"),
    ] {
        assert!(!p.exists(), "{} was written", p.display());
    }
    // The session still works after all that.
    assert_eq!(
        harness::stdout_of(&api.run(&sid, "python", "print('fine')")),
        "fine\n"
    );
}
