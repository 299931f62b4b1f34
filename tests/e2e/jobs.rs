//! Executions as jobs: live Server-Sent Events, resume with Last-Event-ID, async submit,
//! cancel, listings, a secret split across flushes, and a gateway killed mid-run.

use crate::{
    harness::{self, Api, Gateway},
    sse::{follow, printed, streaming_client, submit_streaming, Sse},
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Submits with `Prefer: respond-async`; returns the 202 body.
fn submit_async(api: &Api, session: &str, body: Value) -> (u16, Option<String>, Value) {
    let r = api
        .http
        .post(format!("{}/v1/sessions/{session}/executions", api.base))
        .bearer_auth(&api.token)
        .header("prefer", "respond-async")
        .json(&body)
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, location, r.json().unwrap_or(Value::Null))
}

fn wait_status(api: &Api, execution: &str, want: &str) -> Value {
    let mut last = Value::Null;
    harness::wait_until(
        &format!("execution {want}"),
        Duration::from_secs(60),
        || {
            last = api.get(&format!("/v1/executions/{execution}")).body;
            last["status"] == want
        },
    );
    last
}

#[test]
fn output_streams_while_the_cell_runs() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let s = api.session();
    let code = "import time\nprint('first', time.time(), flush=True)\ntime.sleep(2)\nprint('second', time.time())";
    let mut stream = submit_streaming(&api, &s, code);
    assert_eq!(stream.status, 200);
    let events = stream.rest();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"status"), "{names:?}");
    assert_eq!(names.last(), Some(&"result"), "{names:?}");
    let ids: Vec<u64> = events.iter().map(|e| e.id.parse().unwrap_or(0)).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids count from 1"
    );
    let first = events
        .iter()
        .find(|e| e.event == "stdout" && e.data["text"].as_str().unwrap_or("").contains("first"))
        .unwrap_or_else(|| panic!("no first chunk: {events:?}"));
    let all = printed(&events);
    let second_at: f64 = all
        .lines()
        .find_map(|l| l.strip_prefix("second "))
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no second line in {all:?}"));
    assert!(
        first.received < second_at,
        "the first chunk arrived at {} but the cell printed its second line at {second_at}",
        first.received
    );
    let result = &events[events.len() - 1].data;
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(
        result["stdout"].as_str(),
        Some(all.as_str()),
        "the result holds what streamed"
    );
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "status")
        .filter_map(|e| e.data["status"].as_str())
        .collect();
    assert_eq!(statuses, ["queued", "running"]);
}

#[test]
fn resuming_with_last_event_id_yields_exactly_the_missing_events() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let s = api.session();
    let code =
        "import time\nfor i in range(6):\n    print('line', i, flush=True)\n    time.sleep(0.3)";
    let (status, location, body) =
        submit_async(&api, &s, json!({"language": "python", "code": code}));
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        location.as_deref(),
        Some(format!("/v1/executions/{id}").as_str())
    );

    let mut first = follow(&api, &id, None);
    let seen: Vec<Sse> = (0..4).filter_map(|_| first.next()).collect();
    assert_eq!(seen.len(), 4);
    drop(first); // the client goes away mid-stream
    let last = seen[3].id.clone();
    let resumed = follow(&api, &id, Some(&last)).rest();
    assert_eq!(resumed.last().map(|e| e.event.as_str()), Some("result"));

    // After the end, the whole stream replays; it is exactly the two parts joined.
    let full = follow(&api, &id, None).rest();
    let strip = |v: &[Sse]| -> Vec<(String, String, Value)> {
        v.iter()
            .map(|e| (e.id.clone(), e.event.clone(), e.data.clone()))
            .collect()
    };
    let mut joined = strip(&seen);
    joined.extend(strip(&resumed));
    assert_eq!(joined, strip(&full), "no gap, no duplicate");
    assert!(printed(&full).contains("line 5"));
    // A stream resumed after its result is empty and closes.
    let after_result = follow(&api, &id, Some(&full[full.len() - 1].id)).rest();
    assert!(after_result.is_empty(), "{after_result:?}");
}

#[test]
fn async_submit_then_poll_and_list() {
    let gw = Gateway::start();
    let alice = gw.api(&harness::token("alice-tool"));
    let bob = gw.api(&harness::token("bob-tool"));
    let s = alice.session();
    let (status, _, body) = submit_async(
        &alice,
        &s,
        json!({"language": "python", "code": "import time; time.sleep(1); print(6 * 7)"}),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    // One execution per session: a second one waits its turn.
    let busy = alice.run(&s, "python", "1");
    assert_eq!(busy.status, 409, "{}", busy.body);
    let done = wait_status(&alice, &id, "succeeded");
    assert_eq!(done["stdout"], "42\n");

    let list = alice.get(&format!("/v1/sessions/{s}/executions"));
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["executions"][0]["id"], id.as_str());
    let mine = alice.get("/v1/sessions?status=active");
    assert!(mine.body["sessions"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["id"] == s.as_str())));
    // Pages: one per page, the cursor leads on.
    alice.run(&s, "python", "2");
    let p1 = alice.get(&format!("/v1/sessions/{s}/executions?limit=1"));
    let cursor = p1.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!cursor.is_empty(), "{}", p1.body);
    let p2 = alice.get(&format!(
        "/v1/sessions/{s}/executions?limit=1&cursor={cursor}"
    ));
    assert_eq!(p2.body["executions"][0]["id"], id.as_str(), "{}", p2.body);
    assert_eq!(alice.get("/v1/sessions?limit=0").status, 400);
    assert_eq!(alice.get("/v1/sessions?status=nonsense").status, 400);

    // Another principal sees none of it.
    assert_eq!(bob.get(&format!("/v1/executions/{id}")).status, 404);
    assert_eq!(follow(&bob, &id, None).status, 404);
    assert_eq!(
        bob.post(&format!("/v1/executions/{id}/cancel"), json!({}))
            .status,
        404
    );
    assert_eq!(bob.get(&format!("/v1/sessions/{s}/executions")).status, 404);
    let theirs = bob.get("/v1/sessions");
    assert!(!theirs.body.to_string().contains(&s), "{}", theirs.body);
}

#[test]
fn cancel_stops_a_running_cell_and_is_audited_once() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let s = api.session();
    for (language, code) in [
        (
            "python",
            "import time\nprint('start', flush=True)\ntime.sleep(60)",
        ),
        ("bash", "echo start; sleep 60"),
    ] {
        let started = Instant::now();
        let (status, _, body) = submit_async(&api, &s, json!({"language": language, "code": code}));
        assert_eq!(status, 202, "{body}");
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let mut stream = follow(&api, &id, None);
        // Cancel once the code has printed (it is running).
        while let Some(e) = stream.next() {
            if e.event == "stdout" {
                break;
            }
        }
        let r = api.post(&format!("/v1/executions/{id}/cancel"), json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "cancelled", "{}", r.body);
        assert_eq!(r.body["error"]["code"], "cancelled");
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "{language} was not stopped"
        );
        let rest = stream.rest();
        assert_eq!(
            rest.last().map(|e| e.data["status"].clone()),
            Some(json!("cancelled"))
        );
        // Idempotent: the same answer, no second request on the record.
        let again = api.post(&format!("/v1/executions/{id}/cancel"), json!({}));
        assert_eq!(again.status, 200);
        assert_eq!(again.body["status"], "cancelled");
        let events = harness::audit_events(&gw.audit_file());
        let of = |ty: &str| {
            events
                .iter()
                .filter(|e| e["type"] == ty && e["data"]["execution_id"] == id.as_str())
                .count()
        };
        assert_eq!(of("execution.cancel_requested"), 1);
        assert_eq!(of("execution.completed"), 1);
    }
    // The session goes on.
    assert_eq!(
        harness::stdout_of(&api.run(&s, "python", "print('after')")),
        "after\n"
    );
}

#[test]
fn a_secret_printed_in_two_halves_never_streams_or_returns() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let s = api.session();
    // Built at run time so the code itself holds no token (the audit redacts code too).
    let code = "import time, sys\nt = 'ghp_' + 'Q' * 18 + 'R' * 18\n\
                print('token ' + t[:20], end='', flush=True)\ntime.sleep(1)\n\
                print(t[20:], flush=True)\nprint('done')";
    let events = submit_streaming(&api, &s, code).rest();
    let streamed = printed(&events);
    let token = format!("ghp_{}{}", "Q".repeat(18), "R".repeat(18));
    let (a, b) = token.split_at(20);
    for text in [
        streamed.as_str(),
        events
            .last()
            .and_then(|e| e.data["stdout"].as_str())
            .unwrap_or(""),
    ] {
        assert!(!text.contains(a), "first half in {text:?}");
        assert!(!text.contains(b), "second half in {text:?}");
        assert!(text.contains("[REDACTED]"), "{text:?}");
        assert!(text.contains("done"), "{text:?}");
    }
}

#[test]
fn a_hundred_streams_follow_ten_sessions() {
    let gw = Gateway::start_with("max_per_principal = 10");
    let api = gw.api(&harness::token("alice-tool"));
    let sessions: Vec<String> = (0..10).map(|_| api.session()).collect();
    let code =
        "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n    time.sleep(0.2)";
    let ids: Vec<String> = sessions
        .iter()
        .map(|s| {
            let (status, _, body) =
                submit_async(&api, s, json!({"language": "python", "code": code}));
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    let followers: Vec<_> = ids
        .iter()
        .flat_map(|id| std::iter::repeat_n(id.clone(), 10))
        .map(|id| {
            let api = gw.api(&api.token);
            std::thread::spawn(move || (id.clone(), follow(&api, &id, None).rest()))
        })
        .collect();
    let mut by_execution: std::collections::HashMap<String, Vec<Vec<Sse>>> = Default::default();
    for f in followers {
        let (id, events) = f.join().unwrap_or_else(|_| panic!("follower panicked"));
        by_execution.entry(id).or_default().push(events);
    }
    assert_eq!(by_execution.len(), 10);
    for (id, streams) in by_execution {
        assert_eq!(streams.len(), 10);
        let first: Vec<(String, Value)> = streams[0]
            .iter()
            .map(|e| (e.id.clone(), e.data.clone()))
            .collect();
        assert_eq!(
            first.last().map(|e| e.1["status"].clone()),
            Some(json!("succeeded")),
            "{id}"
        );
        assert!(printed(&streams[0]).contains("tick 4"));
        for s in &streams[1..] {
            let other: Vec<(String, Value)> =
                s.iter().map(|e| (e.id.clone(), e.data.clone())).collect();
            assert_eq!(other, first, "every follower of {id} saw the same events");
        }
    }
}

#[test]
fn a_gateway_killed_mid_run_ends_the_execution_gateway_restarted() {
    let mut gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let s = api.session();
    let (status, _, body) = submit_async(
        &api,
        &s,
        json!({"language": "python", "code": "import time\nprint('up', flush=True)\ntime.sleep(60)"}),
    );
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let mut stream = follow(&api, &id, None);
    while let Some(e) = stream.next() {
        if e.event == "stdout" {
            break;
        }
    }
    gw.kill9();
    gw.spawn();
    let e = api.get(&format!("/v1/executions/{id}"));
    assert_eq!(e.body["status"], "failed", "{}", e.body);
    assert_eq!(e.body["error"]["code"], "gateway_restarted", "{}", e.body);
    // Its stream is the result alone, and closes.
    let replay = follow(&api, &id, None).rest();
    assert_eq!(replay.len(), 1, "{replay:?}");
    assert_eq!(replay[0].event, "result");
    assert_eq!(replay[0].data["error"]["code"], "gateway_restarted");
    gw.stop();
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "the audit chain verifies: {out}");
    let completed = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "execution.completed" && e["data"]["execution_id"] == id.as_str())
        .count();
    assert_eq!(completed, 1);
}

#[test]
fn a_denied_execution_answers_as_without_streaming() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let s = api.session();
    let r = streaming_client()
        .post(format!("{}/v1/sessions/{s}/executions", api.base))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .json(&json!({"language": "python", "code": "import requests"}))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().unwrap_or(Value::Null);
    assert_eq!(body["status"], "denied", "{body}");
}
