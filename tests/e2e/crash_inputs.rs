//! Inputs built to crash or stall a parser, sent to every endpoint that parses something: each
//! gets a clear 4xx with a stable code (or a denial), and the gateway keeps serving throughout.

use crate::harness::{self, stdout_of, Gateway};
use serde_json::json;

fn code_of(r: &harness::Resp) -> String {
    r.body["error"]["code"]
        .as_str()
        .or_else(|| r.body["decision"]["violations"][0]["code"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn alive(gw: &Gateway) {
    let r = harness::client()
        .get(format!("{}/healthz", gw.url))
        .send()
        .unwrap_or_else(|e| panic!("the gateway stopped answering: {e}"));
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn deeply_nested_and_malformed_input_is_refused_on_every_endpoint() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let ex = format!("/v1/sessions/{sid}/executions");

    // Python nested past what analysis (and CPython) supports: refused before policy, on the
    // execution endpoint and the policy dry run alike.
    // (Under the test gateway's 64 KiB code limit.)
    let chain = format!("x = 1{}", "+1".repeat(30_000));
    let unary = format!("x = {}1", "-".repeat(60_000));
    let calls = format!("x = f{}", "()".repeat(30_000));
    for code in [&chain, &unary, &calls] {
        let r = api.post(&ex, json!({"language": "python", "code": code}));
        assert_eq!(
            (r.status, code_of(&r).as_str()),
            (422, "code_too_complex"),
            "{}",
            r.body
        );
        let r = api.post(
            "/v1/policy/evaluate",
            json!({"action": "execution.run", "language": "python", "code": code}),
        );
        assert_eq!(
            (r.status, code_of(&r).as_str()),
            (422, "code_too_complex"),
            "{}",
            r.body
        );
        alive(&gw);
    }
    // Too large for analysis at all, on the dry run too.
    let huge = "x = 1\n".repeat(100_000);
    let r = api.post(
        "/v1/policy/evaluate",
        json!({"action": "execution.run", "language": "python", "code": huge}),
    );
    assert_eq!(
        (r.status, code_of(&r).as_str()),
        (413, "code_too_large"),
        "{}",
        r.body
    );

    // SQL nested past the analyser's depth: a denial with its code, through the dry run.
    for sql in [
        format!("SELECT 1{}", "+1".repeat(30_000)),
        format!("SELECT {}1{}", "(".repeat(30_000), ")".repeat(30_000)),
        format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000)),
    ] {
        let r = api.post(
            "/v1/policy/evaluate",
            json!({"action": "execution.run", "language": "sql", "connector": "warehouse", "code": sql}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["decision"]["result"], "deny", "{}", r.body);
        alive(&gw);
    }

    // JSON nested far deeper than any request: invalid_json, not a stack overflow.
    for path in [ex.as_str(), "/v1/policy/evaluate"] {
        let deep = format!(
            "{{\"code\": {}1{}}}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        let r = api.post_raw(path, "application/json", deep.into_bytes());
        assert!(
            r.status == 400 || r.status == 413,
            "{path}: {} {}",
            r.status,
            r.body
        );
        alive(&gw);
    }

    // Multipart: repeated fields, a flood of parts, a broken boundary.
    let files = format!("/v1/sessions/{sid}/files");
    let mut flood = String::new();
    for _ in 0..5_000 {
        flood.push_str("--B\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\nx.csv\r\n");
    }
    flood.push_str("--B--\r\n");
    for body in [
        flood,
        "--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end".to_owned(),
        "garbage".to_owned(),
    ] {
        let r = api.post_raw(&files, "multipart/form-data; boundary=B", body.into_bytes());
        assert!(
            r.status == 400 || r.status == 413,
            "{} {}",
            r.status,
            r.body
        );
        alive(&gw);
    }

    // Tokens: huge, a header of deeply nested JSON, not base64 at all.
    let nested = format!(
        "{{\"alg\":{}\"RS256\"{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    for token in [
        "x".repeat(64 << 10),
        format!("{}.{}.c2ln", b64(&nested), b64("{}")),
        "%%%.%%%.%%%".to_owned(),
    ] {
        let r = harness::client()
            .get(format!("{}/v1/sessions/{sid}", gw.url))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .unwrap_or_else(|e| panic!("{e}"));
        let status = r.status().as_u16();
        assert!(status == 401 || status == 400 || status == 431, "{status}");
        alive(&gw);
    }

    // Paths: very long and very deep.
    for path in [
        "a/".repeat(20_000) + "b",
        "%2e%2e/".repeat(1_000) + "etc/passwd",
    ] {
        let r = api.get(&format!("/v1/sessions/{sid}/files/{path}"));
        assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    }

    // And the gateway still runs code.
    let r = api.run(&sid, "python", "print(6 * 7)");
    assert_eq!(stdout_of(&r), "42\n");
}
