//! Every execution is recorded; edits, deletions and reorderings of the file are detected.

use crate::harness::{self, stdout_of, Gateway};

#[test]
fn executions_are_recorded_and_tampering_is_detected() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let ok = api.run(&sid, "python", "print('audited')");
    assert_eq!(stdout_of(&ok), "audited\n");
    let denied = api.run(&sid, "python", "import socketserver, paramiko");
    assert_eq!(denied.status, 403);

    let events = harness::audit_events(&gw.audit_file());
    for r in [&ok, &denied] {
        let eid = r.body["id"].as_str().unwrap_or_default();
        let of = |t: &str| {
            events
                .iter()
                .filter(|e| e["type"] == t && e["data"]["execution_id"] == eid)
                .count()
        };
        assert_eq!(of("execution.requested"), 1, "{eid}");
        assert_eq!(of("policy.decided"), 1, "{eid}");
    }
    let ok_id = ok.body["id"].as_str().unwrap_or_default();
    let completed = events
        .iter()
        .find(|e| e["type"] == "execution.completed" && e["data"]["execution_id"] == ok_id)
        .unwrap_or_else(|| panic!("no completed event"));
    assert_eq!(completed["data"]["status"], "succeeded");
    assert_eq!(completed["id"], ok.body["audit_id"]);
    let requested = events
        .iter()
        .find(|e| e["type"] == "execution.requested" && e["data"]["execution_id"] == ok_id)
        .unwrap_or_else(|| panic!("no requested event"));
    assert_eq!(requested["data"]["code"], "print('audited')");
    assert_eq!(requested["specversion"], "1.0");
    // The requested and decided events come before the completed one in the chain.
    assert!(requested["seq"].as_u64() < completed["seq"].as_u64());

    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");

    let original = std::fs::read_to_string(gw.audit_file()).unwrap_or_default();
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() >= 8);
    let tampered_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let check = |name: &str, text: String, want: &str| {
        let p = tampered_dir.path().join(name);
        harness::write_file(&p, &text);
        let (code, out) = harness::verify(&p);
        assert_eq!(code, 1, "{name} not detected: {out}");
        assert!(out.contains(want), "{name}: {out}");
    };
    let mut edited = lines.clone();
    let e = edited[3].replace("alice-tool", "mallory");
    edited[3] = &e;
    check("edited", edited.join("\n") + "\n", "HashMismatch");
    let mut deleted = lines.clone();
    deleted.remove(4);
    check("deleted", deleted.join("\n") + "\n", "Gap");
    let mut reordered = lines.clone();
    reordered.swap(2, 3);
    check("reordered", reordered.join("\n") + "\n", "BROKEN");
}

/// Redaction removes only the secret it matched: code dressed up as a private key, or hidden
/// behind a secret-looking assignment, stays on the record, and an event that was redacted
/// says so.
#[test]
fn redaction_cannot_be_used_to_hide_code() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let code = "k = '''\n-----BEGIN RSA PRIVATE KEY-----\n'''\nprint(sum(range(7)))  # the_hidden_marker\nk2 = '''\n-----END RSA PRIVATE KEY-----\n'''\npassword = str(len('the_call_marker'))\napi_key = 'sk_live_abcdefghijklmnopqrstu'\n";
    let r = api.run(&sid, "python", code);
    assert_eq!(stdout_of(&r), "21\n", "{}", r.body);
    let events = harness::audit_events(&gw.audit_file());
    let requested = events
        .iter()
        .find(|e| e["type"] == "execution.requested" && e["data"]["execution_id"] == r.body["id"])
        .unwrap_or_else(|| panic!("no execution.requested"));
    let stored = requested["data"]["code"].as_str().unwrap_or_default();
    assert!(
        stored.contains("print(sum(range(7)))  # the_hidden_marker"),
        "{stored}"
    );
    assert!(stored.contains("str(len('the_call_marker'))"), "{stored}");
    assert!(
        !stored.contains("sk_live_abcdefghijklmnopqrstu"),
        "{stored}"
    );
    assert!(
        requested["data"]["redactions"].as_u64().unwrap_or(0) >= 1,
        "{requested}"
    );
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");
}
