//! Limits: wall time, memory, processes, output, request rates. The session survives each.

use crate::harness::{self, stdout_of, Gateway};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn infinite_loop_times_out_and_the_session_goes_on() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(stdout_of(&api.run(&sid, "python", "kept = 41")), "");
    let started = Instant::now();
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": "while True:\n    pass", "timeout_seconds": 2}),
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "timed_out", "{}", r.body);
    assert_eq!(r.body["error"]["code"], "timed_out");
    // Generous bounds: this is a behaviour check, not a benchmark.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "{took:?}"
    );
    // Interrupted, not restarted: variables survive.
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print(kept + 1)")),
        "42\n"
    );

    // Code that ignores the interrupt gets the kernel restarted; the session still works.
    let r = api.run_with(&sid, json!({"language": "python", "code": "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)", "timeout_seconds": 1}));
    assert_eq!(r.body["status"], "timed_out", "{}", r.body);
    assert!(
        r.body["error"]["value"]
            .as_str()
            .unwrap_or_default()
            .contains("restarted"),
        "{}",
        r.body
    );
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print('alive')")),
        "alive\n"
    );

    // bash has the same deadline, and its background children die with it.
    let r = api.run_with(
        &sid,
        json!({"language": "bash", "code": "sleep 1000 & sleep 1000", "timeout_seconds": 1}),
    );
    assert_eq!(r.body["status"], "timed_out", "{}", r.body);
    assert_eq!(
        stdout_of(&api.run(&sid, "bash", "ps -e -o comm= | grep -c sleep || true")).trim(),
        "0"
    );
}

#[test]
fn out_of_memory_is_reported_and_the_session_recovers() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run(
        &sid,
        "python",
        "x = bytearray(2 * 1024**3)\nx[::4096] = b'a' * len(x[::4096])",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert_eq!(r.body["error"]["code"], "out_of_memory", "{}", r.body);
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print(sum(range(10)))")),
        "45\n"
    );
}

#[test]
fn fork_bomb_is_contained_and_the_gateway_stays_responsive() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let url = gw.url.clone();
    let watcher = std::thread::spawn(move || {
        // While the bomb runs, health checks keep answering.
        let mut ok = 0;
        for _ in 0..20 {
            if harness::client()
                .get(format!("{url}/healthz"))
                .timeout(Duration::from_secs(5))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                ok += 1;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        ok
    });
    let r = api.run_with(&sid, json!({"language": "bash", "code": "bomb() { bomb | bomb & }; bomb; sleep 3", "timeout_seconds": 4}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.body["status"], "succeeded", "{}", r.body);
    assert_eq!(
        watcher.join().unwrap_or(0),
        20,
        "gateway stopped answering during the fork bomb"
    );
    // The pids limit held: the sandbox is usable again once the bomb is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.run(&sid, "python", "print('still here')");
        if r.body["status"] == "succeeded" {
            assert_eq!(r.body["stdout"], "still here\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "session did not recover: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn huge_output_is_truncated_with_a_marker() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run_with(&sid, json!({"language": "python", "code": "import sys\nchunk = 'x' * 1024 * 1024\nfor _ in range(100):\n    sys.stdout.write(chunk)\nprint('done')", "timeout_seconds": 120}));
    assert_eq!(r.status, 200, "{}", r.body);
    let stdout = r.body["stdout"].as_str().unwrap_or_default();
    assert!(
        stdout.len() < 2 * 1024 * 1024,
        "{} bytes came back",
        stdout.len()
    );
    assert!(
        stdout.contains("[airlock: output truncated at 1048576 bytes]"),
        "no marker"
    );
    let r = api.run(&sid, "bash", "yes | head -c 50000000");
    assert!(
        r.body["stdout"]
            .as_str()
            .unwrap_or_default()
            .contains("[airlock: output truncated"),
        "bash output not capped"
    );
    assert_eq!(stdout_of(&api.run(&sid, "python", "print('ok')")), "ok\n");
}

#[test]
fn workspace_quota_holds_for_uploads_and_code() {
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_LIMITS__WORKSPACE_MIB", "4"),
            ("AIRLOCK_LIMITS__UPLOAD_BYTES", "8388608"),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(
        api.upload(&sid, "keep.csv", b"a,b\n1,2\n".to_vec(), None)
            .status,
        201
    );
    let r = api.upload(&sid, "big.bin", vec![7u8; 5 * 1024 * 1024], None);
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (413, Some("workspace_quota_exceeded")),
        "{}",
        r.body
    );
    let r = api.run(
        &sid,
        "python",
        "open('fill.bin', 'wb').write(b'x' * 6 * 1024 * 1024)",
    );
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert_eq!(
        r.body["error"]["code"], "workspace_quota_exceeded",
        "{}",
        r.body
    );
    // What the execution wrote is gone; what was there before is intact.
    let files: Vec<String> = api.get(&format!("/v1/sessions/{sid}/files")).body["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(files, vec!["keep.csv".to_string()]);
    assert_eq!(
        stdout_of(&api.run(&sid, "bash", "cat keep.csv")),
        "a,b\n1,2\n"
    );
}

/// Past its burst a principal gets `429 rate_limited` with `Retry-After`, on the REST API and
/// on `/mcp` alike (one bucket for both channels); another principal goes on.
#[test]
fn requests_past_the_rate_limit_get_429_with_retry_after_on_every_channel() {
    let gw = Gateway::start_with(
        "\n[rate_limits]\nper_principal_per_minute = 6\nper_principal_burst = 3\n",
    );
    let token = harness::token("alice-tool");
    let alice = gw.api(&token);
    for _ in 0..3 {
        assert_eq!(alice.get("/v1/sessions").status, 200);
    }
    let r = harness::client()
        .get(format!("{}/v1/sessions", gw.url))
        .bearer_auth(&token)
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = r.json().unwrap_or_default();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // The MCP endpoint shares the bucket.
    let m = harness::client()
        .post(format!("{}/mcp", gw.url))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.status().as_u16(), 429);
    assert!(m.headers().get("retry-after").is_some());
    // Bob has his own bucket.
    assert_eq!(
        gw.api(&harness::token("bob-tool"))
            .get("/v1/sessions")
            .status,
        200
    );
}
