//! The audit API for compliance reviewers: only auditors read, every read is recorded, and a
//! checkpoint kept outside the log exposes a truncated tail.

use crate::harness::{self, stdout_of, Gateway};
use serde_json::Value;

#[test]
fn auditors_read_filtered_pages_and_every_read_is_audited() {
    let gw = Gateway::start();
    let alice = gw.api(&harness::token("alice-tool"));
    let bob = gw.api(&harness::token("bob-tool"));
    let auditor = gw.api(&harness::token("auditor-tool"));
    let s1 = alice.session();
    stdout_of(&alice.run(&s1, "python", "print(1)"));
    stdout_of(&alice.run(&s1, "python", "print(2)"));
    let s2 = bob.session();
    stdout_of(&bob.run(&s2, "python", "print(3)"));

    // Not an auditor: refused, with a stable code.
    let r = alice.get("/v1/audit/events");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "not_an_auditor");

    // By session: only that session's events.
    let r = auditor.get(&format!("/v1/audit/events?session_id={s1}&limit=1000"));
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.body["events"].as_array().cloned().unwrap_or_default();
    assert!(events.len() >= 7, "{}", events.len());
    assert!(events
        .iter()
        .all(|e| e["data"]["session_id"] == s1.as_str()));
    // By subject and type.
    let r = auditor.get("/v1/audit/events?subject=bob-tool&type=execution.requested");
    let events = r.body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{}", r.body);
    assert_eq!(events[0]["data"]["code"], "print(3)");
    // By time: nothing before the epoch of these events; a bad time is a 400.
    let r = auditor.get("/v1/audit/events?until=2000-01-01T00:00:00Z");
    assert_eq!(
        r.body["events"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.body
    );
    let r = auditor.get("/v1/audit/events?since=yesterday");
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "invalid_request");

    // Pages: three of size 2 walk the same events as one large page, in order.
    let all = auditor
        .get(&format!("/v1/audit/events?session_id={s1}&limit=1000"))
        .body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut walked: Vec<Value> = vec![];
    let mut after = String::new();
    loop {
        let r = auditor.get(&format!("/v1/audit/events?session_id={s1}&limit=2{after}"));
        walked.extend(r.body["events"].as_array().cloned().unwrap_or_default());
        match r.body["next"].as_str() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
    }
    assert_eq!(walked, all);

    // JSON lines export.
    let resp = auditor
        .http
        .get(format!(
            "{}/v1/audit/events?format=jsonl&session_id={s1}&limit=1000",
            gw.url
        ))
        .bearer_auth(&auditor.token)
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let text = resp.text().unwrap_or_default();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines, all);

    // Every read above (and the refused one is not a read) is in the trail.
    let queried: Vec<Value> = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "audit.queried")
        .collect();
    assert!(queried.len() >= 8, "{}", queried.len());
    assert!(queried
        .iter()
        .all(|e| e["data"]["principal"]["subject"] == "auditor-tool"));
    assert!(queried
        .iter()
        .any(|e| e["data"]["filter"]["subject"] == "bob-tool"));
}

#[test]
fn a_checkpoint_kept_outside_the_log_exposes_a_truncated_tail() {
    let gw = Gateway::start();
    let alice = gw.api(&harness::token("alice-tool"));
    let auditor = gw.api(&harness::token("auditor-tool"));
    let sid = alice.session();
    stdout_of(&alice.run(&sid, "python", "print(1)"));
    assert_eq!(alice.get("/v1/audit/checkpoint").status, 403);
    let r = auditor.get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.body);
    let seq = r.body["seq"].as_u64().unwrap_or(0);
    assert!(seq > 5, "{}", r.body);
    assert_eq!(r.body["alg"], "Ed25519");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cp = dir.path().join("checkpoint.json");
    harness::write_file(&cp, &r.body.to_string());
    stdout_of(&alice.run(&sid, "python", "print(2)"));

    let key = harness::audit_key(&gw);
    let verify = |file: &std::path::Path, extra: &[&str]| {
        let out = std::process::Command::new(harness::airlock_bin())
            .args(["audit", "verify", "--key"])
            .arg(&key)
            .arg("--checkpoint")
            .arg(&cp)
            .args(extra)
            .arg(file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = verify(&gw.audit_file(), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("independent checkpoints matched: 1"), "{out}");
    assert!(!out.contains("checkpoints verified: 0"), "{out}");

    // Cut the log before the head the auditor's checkpoint vouches for (no --require-sealed:
    // the independent copy alone tells).
    let text = std::fs::read_to_string(gw.audit_file()).unwrap_or_default();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|e| e["seq"].as_u64() < Some(seq)))
        .collect();
    let cut = dir.path().join("cut.jsonl");
    harness::write_file(&cut, &(kept.join("\n") + "\n"));
    let (code, out) = verify(&cut, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Truncated"), "{out}");

    // A checkpoint signed by another key is not trusted.
    let mut forged: Value = r.body.clone();
    forged["seq"] = Value::from(seq - 2);
    harness::write_file(&cp, &forged.to_string());
    let (code, out) = verify(&gw.audit_file(), &[]);
    assert_ne!(code, Some(0), "{out}");
}

/// A tenant auditor reads only the events of their own tenant's principals, whatever filter
/// they send; the trail they read from still verifies whole; one without a tenant reads
/// nothing; tenant-wide reads (replay) stay with the gateway's auditors.
#[test]
fn a_tenant_auditor_reads_only_their_tenants_events() {
    let gw = Gateway::start();
    let alice = gw.api(&harness::token("alice-tool"));
    let carol = gw.api(&harness::token("carol-tool"));
    let s1 = alice.session();
    stdout_of(&alice.run(&s1, "python", "print('acme')"));
    let s2 = carol.session();
    stdout_of(&carol.run(&s2, "python", "print('globex')"));

    let acme = gw.api(&harness::token("acme-auditor-tool"));
    let r = acme.get("/v1/audit/events?limit=1000");
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.body["events"].as_array().cloned().unwrap_or_default();
    assert!(events
        .iter()
        .any(|e| e["data"]["session_id"] == s1.as_str()));
    let tenant_of = |e: &Value| {
        e["data"]["principal"]["tenant"]
            .as_str()
            .or(e["data"]["requester"]["tenant"].as_str())
            .map(str::to_owned)
    };
    assert!(
        events
            .iter()
            .all(|e| tenant_of(e).as_deref() == Some("acme")),
        "{}",
        r.body
    );
    // Asking for globex's session by name changes nothing.
    let r = acme.get(&format!("/v1/audit/events?session_id={s2}"));
    assert_eq!(
        r.body["events"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.body
    );
    let r = acme.get("/v1/audit/events?subject=carol-tool");
    assert_eq!(
        r.body["events"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.body
    );
    // A full auditor sees both tenants.
    let all = gw.api(&harness::token("auditor-tool"));
    let r = all.get(&format!("/v1/audit/events?session_id={s2}"));
    assert!(r.body["events"].as_array().is_some_and(|e| !e.is_empty()));
    // No tenant, nothing; replay covers every tenant.
    let lone = gw.api(&harness::token("lone-auditor-tool"));
    assert_eq!(lone.get("/v1/audit/events").status, 403);
    let replay = acme.post_raw("/v1/audit/replay", "application/gzip", vec![1, 2, 3]);
    assert_eq!(replay.status, 403, "{}", replay.body);
    // The trail itself is whole and verifies.
    let out = std::process::Command::new(harness::airlock_bin())
        .args(["audit", "verify", "--key"])
        .arg(harness::audit_key(&gw))
        .arg(gw.audit_file())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
