//! The local backend's warm pool on the real binary: sessions take sandboxes started ahead,
//! each once and never after use, shared fairly between tenants, and a stopped gateway leaves
//! none behind.

use crate::harness::{self, stdout_of, Api, Gateway};
use serde_json::Value;
use std::time::Duration;

fn warm_ready(gw: &Gateway) -> u64 {
    let text = harness::client()
        .get(format!("{}/metrics", gw.url))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("airlock_sandboxes_warm{pool=\"default\"} "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map_or(0, |n| n as u64)
}

fn wait_full(gw: &Gateway, size: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while warm_ready(gw) != size {
        assert!(
            std::time::Instant::now() < deadline,
            "the warm pool did not fill: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether each session's sandbox came from the pool, as `session.created` recorded it.
fn warm_by_session(auditor: &Api) -> std::collections::BTreeMap<String, bool> {
    let events = auditor
        .get("/v1/audit/events?type=session.created&limit=100")
        .body;
    events["events"]
        .as_array()
        .map(|evs| {
            evs.iter()
                .map(|e| {
                    (
                        e["data"]["session_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        e["data"]["warm"] == Value::Bool(true),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sessions_take_warm_sandboxes_once_each_and_fairly_between_tenants() {
    let mut gw = Gateway::start_with("\n[sandbox.local]\npool_size = 2\n");
    wait_full(&gw, 2);
    let alice = gw.api(&harness::token("alice-tool"));
    let bob = gw.api(&harness::token("bob-tool"));
    let carol = gw.api(&harness::token("carol-tool"));
    let auditor = gw.api(&harness::token("auditor-tool"));

    // acme takes one of two; with the pool at half, acme's next session starts cold while
    // globex still gets a warm one.
    let s1 = alice.session();
    let s2 = bob.session();
    let s3 = carol.session();
    let warm = warm_by_session(&auditor);
    assert_eq!(warm.get(&s1), Some(&true), "{warm:?}");
    assert_eq!(warm.get(&s2), Some(&false), "{warm:?}");
    assert_eq!(warm.get(&s3), Some(&true), "{warm:?}");

    // A warm sandbox runs code like any other, and serves its session alone.
    assert_eq!(
        stdout_of(&alice.run(
            &s1,
            "python",
            "open('mine.txt', 'w').write('alice')\nsecret = 41\nprint(secret + 1)"
        )),
        "42\n"
    );
    let other = carol.run(
        &s3,
        "python",
        "import os\nprint(os.path.exists('mine.txt'), 'secret' in dir())",
    );
    assert_eq!(stdout_of(&other), "False False\n");

    // After use a sandbox is destroyed with its session, never handed out again: the next
    // warm session starts clean.
    assert_eq!(alice.delete(&format!("/v1/sessions/{s1}")).status, 200);
    wait_full(&gw, 2);
    let s4 = alice.session();
    assert_eq!(warm_by_session(&auditor).get(&s4), Some(&true));
    let fresh = alice.run(
        &s4,
        "python",
        "import os\nprint(os.listdir('.'), 'secret' in dir())",
    );
    assert_eq!(stdout_of(&fresh), "[] False\n");

    // A stopped gateway leaves no sandbox, warm or taken.
    wait_full(&gw, 2);
    let sandboxes = gw.dir.join("state/sandboxes");
    gw.stop();
    let left: Vec<_> = std::fs::read_dir(&sandboxes)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// The session a warm sandbox's egress speaks for is set when a session takes it: SQL from its
/// code (`airlock.sql()`) goes the governed path as that session's principal, and the rows it
/// read are metered to them.
#[test]
fn sql_from_a_warm_sandbox_speaks_for_the_session_that_took_it() {
    let bao = crate::vault::Bao::start();
    let gw = crate::connectors::start(&bao, "\n[sandbox.local]\npool_size = 1\n", &[]);
    wait_full(&gw, 1);
    let alice = gw.api(&harness::token("alice-tool"));
    let sid = alice.session();
    let auditor = gw.api(&harness::token("auditor-tool"));
    assert_eq!(warm_by_session(&auditor).get(&sid), Some(&true));
    let code = "import airlock\ndf = airlock.sql('SELECT region, amount FROM sales.orders ORDER BY id')\nprint(len(df))";
    assert_eq!(stdout_of(&alice.run(&sid, "python", code)), "5\n");
    let usage = alice.get("/v1/usage").body;
    assert_eq!(usage["principals"][0]["subject"], "alice-tool", "{usage}");
    assert_eq!(
        usage["principals"][0]["usage"]["warehouse_rows"], 5,
        "{usage}"
    );
    assert_eq!(usage["principals"][0]["usage"]["executions"], 1, "{usage}");
}
