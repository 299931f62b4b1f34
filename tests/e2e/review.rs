//! Compliance review in a running gateway with real OIDC personas: held work becomes a case,
//! four eyes holds whatever the caller tries, and an approval runs the exact held code once.

use crate::harness::{self, Api, Gateway, Resp};
use serde_json::{json, Value};
use std::time::Duration;

/// Code that imports numpy, which the test bundle holds for review.
const HELD: &str = "import numpy as np\nprint(int(np.arange(5).sum()))";

fn gateway(dir: &std::path::Path) -> Gateway {
    let bundle = harness::bundle_copy(dir, |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
    });
    Gateway::start_opts("", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())])
}

/// A held execution of alice's: (execution id, case id).
fn hold(alice: &Api, sid: &str) -> (String, String) {
    let r = alice.run(sid, "python", HELD);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["status"], "pending_review", "{}", r.body);
    let case = r.body["case_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no case: {}", r.body));
    (str_of(&r.body["id"]), case.to_owned())
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn approve(api: &Api, case: &str) -> Resp {
    api.post(
        &format!("/v1/reviews/{case}/approve"),
        json!({"comment": "looks fine"}),
    )
}

fn code_of(r: &Resp) -> String {
    str_of(&r.body["error"]["code"])
}

/// The execution once it has ended.
fn ended(api: &Api, exec: &str) -> Value {
    let mut last = Value::Null;
    harness::wait_until(
        "the approved execution ends",
        Duration::from_secs(60),
        || {
            last = api.get(&format!("/v1/executions/{exec}")).body;
            !matches!(
                last["status"].as_str(),
                Some("pending_review" | "queued" | "running")
            )
        },
    );
    last
}

#[test]
fn an_analysts_held_execution_runs_once_a_reviewer_from_another_person_approves_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(dir.path());
    let alice = gw.api(&harness::token("alice-tool"));
    let rita = gw.api(&harness::token("rita-tool"));
    let sid = alice.session();
    let (exec, case) = hold(&alice, &sid);

    // The case pins the exact code and what policy saw; the requester sees her own case.
    let c = alice.get(&format!("/v1/reviews/{case}"));
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["code"], HELD);
    assert_eq!(c.body["status"], "pending");
    assert_eq!(c.body["requester"]["subject"], "alice-tool");
    assert_eq!(c.body["approver_groups"], json!(["reviewers"]));
    assert_eq!(
        c.body["decision"]["violations"][0]["code"],
        "package_requires_review"
    );
    // Four eyes: alice cannot approve; another tenant's reviewer and an analyst see nothing.
    assert_eq!(code_of(&approve(&alice, &case)), "self_approval");
    let gina = gw.api(&harness::token("gina-tool"));
    assert_eq!(gina.get(&format!("/v1/reviews/{case}")).status, 404);
    assert_eq!(approve(&gina, &case).status, 404);
    let bob = gw.api(&harness::token("bob-tool"));
    assert_eq!(approve(&bob, &case).status, 404);
    assert_eq!(gina.get("/v1/reviews").body["cases"], json!([]));

    // Rita's queue has it; her approval runs it; alice follows it to its output.
    let queue = rita.get("/v1/reviews?status=pending");
    assert_eq!(
        queue.body["cases"][0]["id"],
        case.as_str(),
        "{}",
        queue.body
    );
    let found = |q: &str| {
        rita.get(&format!("/v1/reviews?{q}")).body["cases"]
            .as_array()
            .map(Vec::len)
    };
    assert_eq!(
        found("requester=alice-tool&tenant=acme&since=2026-01-01T00:00:00Z"),
        Some(1)
    );
    assert_eq!(found("requester=bob-tool"), Some(0));
    assert_eq!(found("until=2020-01-01T00:00:00Z"), Some(0));
    assert_eq!(rita.get("/v1/reviews?since=yesterday").status, 400);
    let a = approve(&rita, &case);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "approved");
    let done = ended(&alice, &exec);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["stdout"], "10\n");
    assert_eq!(done["case_id"], case.as_str());
    // Approving again is a no-op: nothing runs twice.
    assert_eq!(approve(&rita, &case).body["status"], "approved");
    let audit = harness::audit_events(&gw.audit_file());
    let ran = |ty: &str| {
        audit
            .iter()
            .filter(|e| e["type"] == ty && e["data"]["execution_id"] == exec.as_str())
            .count()
    };
    assert_eq!(ran("execution.completed"), 1);
    assert_eq!(ran("review.requested"), 1);
    assert_eq!(ran("review.approved"), 1);
    // Decided when held and again when approved (the run's import check is a third action).
    let decided: Vec<&Value> = audit
        .iter()
        .filter(|e| e["type"] == "policy.decided" && e["data"]["execution_id"] == exec.as_str())
        .filter(|e| e["data"]["action"] == "execution.run")
        .map(|e| &e["data"]["result"])
        .collect();
    assert_eq!(decided, [&json!("review"), &json!("review")]);
}

#[test]
fn reject_withdraw_two_approvals_for_restricted_data_and_simultaneous_approvals() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(dir.path());
    let alice = gw.api(&harness::token("alice-tool"));
    let (rita, rex) = (
        gw.api(&harness::token("rita-tool")),
        gw.api(&harness::token("rex-tool")),
    );
    let sid = alice.session();

    // Reject needs a reason; the execution ends denied.
    let (exec, case) = hold(&alice, &sid);
    let no_reason = rex.post(&format!("/v1/reviews/{case}/reject"), json!({}));
    assert_eq!(code_of(&no_reason), "invalid_request");
    let r = rex.post(
        &format!("/v1/reviews/{case}/reject"),
        json!({"reason": "not this week"}),
    );
    assert_eq!(r.body["status"], "rejected", "{}", r.body);
    let e = alice.get(&format!("/v1/executions/{exec}")).body;
    assert_eq!(e["status"], "denied");
    assert_eq!(e["error"]["code"], "review_rejected");
    assert_eq!(code_of(&approve(&rita, &case)), "case_closed");

    // Withdraw: only the requester; then the case is closed.
    let (exec, case) = hold(&alice, &sid);
    let w = format!("/v1/reviews/{case}/withdraw");
    assert_eq!(code_of(&rita.post(&w, json!({}))), "not_the_requester");
    assert_eq!(
        alice.post(&w, json!({"reason": "wrong cell"})).body["status"],
        "withdrawn"
    );
    assert_eq!(
        alice.get(&format!("/v1/executions/{exec}")).body["status"],
        "cancelled"
    );

    // Two reviewers at the same moment: exactly one run.
    let (exec, case) = hold(&alice, &sid);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| approve(&rita, &case));
        let b = s.spawn(|| approve(&rex, &case));
        (a.join(), b.join())
    });
    let statuses: Vec<u16> = [a, b]
        .into_iter()
        .map(|r| r.map(|r| r.status).unwrap_or(0))
        .collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(ended(&alice, &exec)["status"], "succeeded");
    let runs = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| {
            e["type"] == "execution.completed" && e["data"]["execution_id"] == exec.as_str()
        })
        .count();
    assert_eq!(runs, 1);

    // A session holding restricted data needs two approvals: one leaves the case pending.
    let up = alice.upload(
        &sid,
        "salaries.csv",
        b"name,salary\nx,1\n".to_vec(),
        Some("restricted"),
    );
    assert_eq!(up.status, 201, "{}", up.body);
    let (exec, case) = hold(&alice, &sid);
    let first = approve(&rita, &case);
    assert_eq!(first.body["status"], "pending", "{}", first.body);
    assert_eq!(first.body["approvals_required"], 2);
    assert_eq!(
        approve(&rita, &case).body["approvals"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        alice.get(&format!("/v1/executions/{exec}")).body["status"],
        "pending_review"
    );
    assert_eq!(approve(&rex, &case).body["status"], "approved");
    assert_eq!(ended(&alice, &exec)["status"], "succeeded");
}

/// `airlock policy build DIR -o OUT`.
fn build_bundle(dir: &str, out: &std::path::Path) {
    let ok = std::process::Command::new(harness::airlock_bin())
        .args(["policy", "build", dir, "-o"])
        .arg(out)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "policy build {dir}");
}

#[test]
fn policy_changed_between_hold_and_approval_is_decided_again_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let held = harness::bundle_copy(&d.join("held"), |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
    });
    // The stricter bundle, with a newer revision (the gateway refuses to roll back): numpy is
    // no longer allowed at all.
    let strict = harness::bundle_copy(&d.join("strict"), |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
        if let Some(allowed) = d["airlock"]["packages"]["allowed"].as_array_mut() {
            allowed.retain(|p| p != "numpy");
        }
    });
    harness::write_file(
        &d.join("strict/.manifest"),
        r#"{"revision": "airlock-default-9999.1", "roots": ["airlock"]}"#,
    );
    let www = d.join("www");
    std::fs::create_dir_all(&www).unwrap_or_else(|e| panic!("{e}"));
    build_bundle(&held, &www.join("bundle.tar.gz"));
    build_bundle(&strict, &d.join("strict.tar.gz"));
    let port = harness::free_port();
    let _server = harness::KillOnDrop(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(&www)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let url = format!("http://127.0.0.1:{port}/bundle.tar.gz");
    harness::wait_until("the bundle server listens", Duration::from_secs(20), || {
        harness::client()
            .get(&url)
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_URL", url.as_str()),
            ("AIRLOCK_POLICY__POLL_SECONDS", "1"),
        ],
    );
    let alice = gw.api(&harness::token("alice-tool"));
    let rita = gw.api(&harness::token("rita-tool"));
    let sid = alice.session();
    let (exec, case) = hold(&alice, &sid);

    // The operator tightens policy while the case waits.
    std::fs::rename(d.join("strict.tar.gz"), www.join("bundle.tar.gz"))
        .unwrap_or_else(|e| panic!("{e}"));
    harness::wait_until(
        "the stricter bundle is active",
        Duration::from_secs(30),
        || {
            let ready: Value = harness::client()
                .get(format!("{}/readyz", gw.url))
                .send()
                .and_then(|r| r.json())
                .unwrap_or_default();
            ready["checks"]["policy"]["revision"] == "airlock-default-9999.1"
        },
    );
    let a = approve(&rita, &case);
    assert_eq!(a.body["status"], "superseded", "{}", a.body);
    let e = alice.get(&format!("/v1/executions/{exec}")).body;
    assert_eq!(e["status"], "denied", "{e}");
    assert_eq!(e["error"]["code"], "review_superseded");
    let audit = harness::audit_events(&gw.audit_file());
    let decided: Vec<&Value> = audit
        .iter()
        .filter(|ev| ev["type"] == "policy.decided" && ev["data"]["execution_id"] == exec.as_str())
        .map(|ev| &ev["data"]["result"])
        .collect();
    assert_eq!(decided, [&json!("review"), &json!("deny")]);
    assert!(audit
        .iter()
        .any(|ev| ev["type"] == "review.superseded" && ev["data"]["case_id"] == case.as_str()));
    assert_eq!(runs_of(&audit, &exec), 0);
}

/// `execution.completed` events of `exec` that say it ran (succeeded or failed).
fn runs_of(audit: &[Value], exec: &str) -> usize {
    audit
        .iter()
        .filter(|ev| ev["type"] == "execution.completed" && ev["data"]["execution_id"] == exec)
        .filter(|ev| matches!(ev["data"]["status"].as_str(), Some("succeeded" | "failed")))
        .count()
}

#[test]
fn warehouse_sql_outside_the_grants_is_held_and_runs_once_with_the_review_role() {
    let bao = crate::vault::Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["connector_grants"]["warehouse"]["review"] =
            json!({"read": ["hr.*"], "role": "analyst_broad"});
    });
    let gw = crate::connectors::start(&bao, "", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())]);
    let alice = gw.api(&harness::token("alice-tool"));
    let rita = gw.api(&harness::token("rita-tool"));
    let sid = alice.session();
    let sql = "SELECT employee, salary FROM hr.salaries ORDER BY employee";
    let r = alice.run_with(
        &sid,
        json!({"language": "sql", "code": sql, "connector": "warehouse"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.body["decision"]["violations"][0]["code"], "sql_table_needs_review",
        "{}",
        r.body
    );
    let exec = str_of(&r.body["id"]);
    let case = str_of(&r.body["case_id"]);
    // Held: no login was issued for it.
    let issued = |gw: &Gateway| {
        harness::audit_events(&gw.audit_file())
            .into_iter()
            .filter(|e| {
                e["type"] == "credential.issued" && e["data"]["execution_id"] == exec.as_str()
            })
            .collect::<Vec<_>>()
    };
    assert!(issued(&gw).is_empty());
    let c = rita.get(&format!("/v1/reviews/{case}")).body;
    assert_eq!(c["connector"], "warehouse");
    assert_eq!(c["code"], sql);
    assert_eq!(approve(&rita, &case).body["status"], "approved");
    let done = ended(&alice, &exec);
    assert_eq!(done["status"], "succeeded", "{done}");
    let rows = &done["outputs"][0]["data"]["application/json"]["rows"];
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{done}");
    assert_eq!(rows[0][0], "alice");
    let logins = issued(&gw);
    assert_eq!(logins.len(), 1, "one statement, one login");
    assert_eq!(logins[0]["data"]["role"], "analyst_broad", "{}", logins[0]);
    // Approving again runs nothing more.
    assert_eq!(approve(&rita, &case).body["status"], "approved");
    assert_eq!(issued(&gw).len(), 1);
    // The same statement again is held again: an approval is for one statement, once.
    let again = alice.run_with(
        &sid,
        json!({"language": "sql", "code": sql, "connector": "warehouse"}),
    );
    assert_eq!(again.body["status"], "pending_review");
}

#[test]
fn a_case_nobody_decides_expires_and_its_execution_ends() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
        d["airlock"]["review_rules"]["expires_in_seconds"] = json!(1);
    });
    let gw = Gateway::start_opts("", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())]);
    let alice = gw.api(&harness::token("alice-tool"));
    let rita = gw.api(&harness::token("rita-tool"));
    let sid = alice.session();
    let (exec, case) = hold(&alice, &sid);
    // The sweeper expires it (nobody reads the case meanwhile).
    let mut e = Value::Null;
    harness::wait_until(
        "the sweeper expires the case",
        Duration::from_secs(30),
        || {
            e = alice.get(&format!("/v1/executions/{exec}")).body;
            e["status"] == "cancelled"
        },
    );
    assert_eq!(e["error"]["code"], "review_expired", "{e}");
    assert_eq!(
        alice.get(&format!("/v1/reviews/{case}")).body["status"],
        "expired"
    );
    assert_eq!(code_of(&approve(&rita, &case)), "case_closed");
    let audit = harness::audit_events(&gw.audit_file());
    let expired: Vec<&Value> = audit
        .iter()
        .filter(|ev| ev["type"] == "review.expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["case_id"], case.as_str());
    // The execution's own end names its case.
    let ended = audit
        .iter()
        .find(|ev| {
            ev["type"] == "execution.completed" && ev["data"]["execution_id"] == exec.as_str()
        })
        .unwrap_or_else(|| panic!("no execution.completed"));
    assert_eq!(ended["data"]["case_id"], case.as_str());
}
