//! Sessions end on idle timeout, on TTL and on shutdown, and take their sandboxes with them.

use crate::harness::{self, stdout_of, Gateway};
use std::time::{Duration, Instant};

fn wait_status(api: &harness::Api, sid: &str, want: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let r = api.get(&format!("/v1/sessions/{sid}"));
        if r.body["status"] == want || Instant::now() > deadline {
            return r.body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn idle_and_expired_sessions_are_swept() {
    let gw = Gateway::start_with("idle_timeout_seconds = 3\nttl_seconds = 6\n");
    let api = gw.api(&harness::token("alice-tool"));
    let idle = api.session();
    let busy = api.session();
    // `busy` stays active past the idle timeout by being used; it still ends at its TTL.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        assert_eq!(stdout_of(&api.run(&busy, "python", "print(1)")), "1\n");
        std::thread::sleep(Duration::from_millis(500));
    }
    let s = wait_status(&api, &idle, "expired", Duration::from_secs(10));
    assert_eq!(s["status"], "expired", "{s}");
    assert!(
        s["status_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("idle"),
        "{s}"
    );
    assert_eq!(
        api.get(&format!("/v1/sessions/{busy}")).body["status"],
        "active"
    );
    let s = wait_status(&api, &busy, "expired", Duration::from_secs(10));
    assert!(
        s["status_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("time to live"),
        "{s}"
    );
    assert_eq!(
        std::fs::read_dir(gw.sandboxes_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "workspaces left behind"
    );
    assert_eq!(
        harness::audit_events(&gw.audit_file())
            .iter()
            .filter(|e| e["type"] == "session.expired")
            .count(),
        2
    );
}

#[test]
fn shutdown_destroys_sandboxes_and_records_why() {
    let mut gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(stdout_of(&api.run(&sid, "python", "print(2)")), "2\n");
    gw.stop();
    assert_eq!(
        std::fs::read_dir(gw.sandboxes_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "workspaces left after SIGTERM"
    );
    let events = harness::audit_events(&gw.audit_file());
    assert!(
        events.iter().any(|e| e["type"] == "session.lost"
            && e["data"]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("shut down")),
        "no session.lost for the shutdown; events {:?}; gateway log:\n{}",
        events
            .iter()
            .map(|e| format!("{} {}", e["type"], e["data"]["reason"]))
            .collect::<Vec<_>>(),
        gw.log()
    );
    // The chain ends with the stop, sealed by a signed checkpoint of it.
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types[types.len() - 2..],
        ["gateway.stopped", "audit.checkpoint"]
    );
    let stopped = &events[events.len() - 2];
    assert_eq!(events[events.len() - 1]["data"]["hash"], stopped["hash"]);
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn one_execution_at_a_time_and_session_quotas() {
    let gw = Gateway::start_opts("", &[("AIRLOCK_SESSIONS__MAX_PER_PRINCIPAL", "1")]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    // A second session for the same principal is refused while the first is live.
    let r = api.post("/v1/sessions", serde_json::json!({}));
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (429, Some("too_many_sessions")),
        "{}",
        r.body
    );
    // Another principal is not affected.
    let bob = gw.api(&harness::token("bob-tool"));
    let bob_sid = bob.session();
    // A second execution while one runs gets 409 session_busy; the first completes normally.
    let slow = {
        let api = gw.api(&harness::token("alice-tool"));
        let sid = sid.clone();
        std::thread::spawn(move || {
            api.run(
                &sid,
                "python",
                "import time; time.sleep(2); print('slow done')",
            )
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let r = api.run(&sid, "python", "print('fast')");
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (409, Some("session_busy")),
        "{}",
        r.body
    );
    let done = slow
        .join()
        .unwrap_or_else(|_| panic!("slow execution thread"));
    assert_eq!(stdout_of(&done), "slow done\n");
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print('fast')")),
        "fast\n"
    );
    // Deleting frees the slot.
    assert_eq!(api.delete(&format!("/v1/sessions/{sid}")).status, 200);
    let again = api.session();
    assert_ne!(again, sid);
    assert_eq!(bob.delete(&format!("/v1/sessions/{bob_sid}")).status, 200);
}
