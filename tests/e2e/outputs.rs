//! Output inspection in a running gateway: personal data that a session's code prints,
//! displays, writes to a file or gets back from SQL reaches the caller masked or not at all, as
//! policy rules, through the REST result, the event stream and downloads alike; the audit trail
//! records what was found, never the values.

use crate::{
    harness::{self, stdout_of, Gateway},
    sse::submit_streaming,
    vault::{self, Bao},
};
use serde_json::{json, Value};

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";
const CUSTOMERS: &str = "name,email,card\nJane,jane.doe@example.com,4111 1111 1111 1111\n";

fn error_code(execution: &Value) -> &str {
    execution["error"]["code"].as_str().unwrap_or_default()
}

fn audit_text(gw: &Gateway) -> String {
    std::fs::read_to_string(gw.audit_file()).unwrap_or_default()
}

fn inspected(gw: &Gateway) -> Vec<Value> {
    harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "output.inspected")
        .map(|e| e["data"].clone())
        .collect()
}

/// Restricted data printed (in two flushes), displayed and written to files by the code of a
/// session holding restricted data: masked in the stream, the result and downloads; a file
/// that is not text cannot be inspected and does not leave.
#[test]
fn restricted_data_reaches_the_caller_masked_by_every_way_out() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("steward-tool"));
    let sid = api.session();
    let up = api.upload(&sid, "customers.csv", CUSTOMERS.into(), Some("restricted"));
    assert_eq!(up.status, 201, "{}", up.body);
    let code = "import time, pandas as pd\ndf = pd.read_csv('customers.csv')\ne = df.email[0]\n\
                print('contact ' + e[:6], end='', flush=True)\ntime.sleep(0.5)\nprint(e[6:], flush=True)\n\
                display(df)\ndf.to_csv('out.csv', index=False)\n\
                open('blob.bin', 'wb').write(bytes(range(256)))\nprint('card', df.card[0])";
    let mut stream = submit_streaming(&api, &sid, code);
    assert_eq!(stream.status, 200);
    let events = stream.rest();
    let streamed = serde_json::to_string(
        &events
            .iter()
            .filter(|e| e.event != "result")
            .map(|e| &e.data)
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let result = events
        .iter()
        .find(|e| e.event == "result")
        .map(|e| e.data.clone())
        .unwrap_or_else(|| panic!("no result in {events:?}"));
    assert_eq!(result["status"], "succeeded", "{result}");
    let id = result["id"].as_str().unwrap_or_default().to_owned();
    let fetched = api.get(&format!("/v1/executions/{id}")).body;
    for (way, text) in [
        ("stream", streamed),
        ("result event", result.to_string()),
        ("GET", fetched.to_string()),
    ] {
        assert!(!text.contains(EMAIL), "{way}: {text}");
        assert!(!text.contains("doe@example"), "{way}: {text}");
        assert!(!text.contains(CARD), "{way}: {text}");
        assert!(text.contains("contact [email]"), "{way}: {text}");
        assert!(text.contains("**** **** **** 1111"), "{way}: {text}");
    }
    assert_eq!(
        fetched["stdout"], "contact [email]\ncard **** **** **** 1111\n",
        "{fetched}"
    );
    // The display (pandas' HTML and text) is masked too.
    let display = fetched["outputs"][0]["data"].to_string();
    assert!(
        display.contains("[email]") && !display.contains(EMAIL),
        "{display}"
    );

    // Files on their way out: the copy the code wrote and the upload itself.
    for path in ["out.csv", "customers.csv"] {
        let d = api.get(&format!("/v1/sessions/{sid}/files/{path}"));
        assert_eq!(d.status, 200, "{path}: {}", d.body);
        let text = String::from_utf8_lossy(&d.bytes);
        assert!(
            !text.contains(EMAIL) && !text.contains(CARD),
            "{path}: {text}"
        );
        assert!(
            text.contains("[email]") && text.contains("**** **** **** 1111"),
            "{text}"
        );
    }
    let blob = api.get(&format!("/v1/sessions/{sid}/files/blob.bin"));
    assert_eq!(blob.status, 403, "{}", blob.body);
    assert_eq!(
        blob.body["error"]["code"], "output_blocked",
        "{}",
        blob.body
    );
    assert_eq!(
        blob.body["error"]["details"]["violations"][0]["code"], "output_blocked",
        "{}",
        blob.body
    );

    // The audit trail has the counts, never a value.
    let audit = audit_text(&gw);
    assert!(!audit.contains(EMAIL) && !audit.contains(CARD));
    let ev = inspected(&gw);
    let of_run = ev
        .iter()
        .find(|e| e["execution_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no output.inspected for {id}: {ev:?}"));
    assert_eq!(of_run["outcome"], "released");
    let email_stdout = of_run["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["detector"] == "email" && f["where"] == "stdout")
        .unwrap_or_else(|| panic!("{of_run}"));
    assert_eq!(email_stdout["count"], 1);
    assert_eq!(email_stdout["action"], "mask");
    assert!(ev
        .iter()
        .any(|e| e["path"] == "blob.bin" && e["outcome"] == "blocked"));
}

/// Rules the operator writes apply in any session: a named detector of the organisation's
/// own identifiers masked, social security numbers blocked with a hint the model can act on.
#[test]
fn operator_rules_mask_named_detectors_and_block_what_may_not_leave() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["outputs"]["default"] = json!({
            "us_ssn": {"action": "block"},
            "employee_id": {"action": "mask"},
        });
    });
    let gw = Gateway::start_opts(
        "\n[outputs]\ndetectors = [{ name = \"employee_id\", pattern = \"EMP-[0-9]{6}\" }]\n",
        &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run(&sid, "python", "print('id', 'EMP-' + '123456')");
    assert_eq!(stdout_of(&r), "id [employee_id]\n", "{}", r.body);

    let r = api.run(
        &sid,
        "python",
        "print('before')\nimport sys\nprint('ssn', '123-45-' + '6789', file=sys.stderr)",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert_eq!(error_code(&r.body), "output_blocked", "{}", r.body);
    let value = r.body["error"]["value"].as_str().unwrap_or_default();
    assert!(
        value.contains("us_ssn") && value.contains("aggregates"),
        "{value}"
    );
    assert!(!r.body.to_string().contains("123-45-6789"), "{}", r.body);
    assert_eq!(r.body["stdout"], "", "{}", r.body);

    // The session goes on.
    let r = api.run(&sid, "python", "print(6 * 7)");
    assert_eq!(stdout_of(&r), "42\n", "{}", r.body);
    // A file that is not text leaves an unlabelled session (no rule says otherwise).
    let r = api.run(
        &sid,
        "python",
        "open('b.bin', 'wb').write(bytes(range(256)))\nprint('ok')",
    );
    assert_eq!(stdout_of(&r), "ok\n");
    let d = api.get(&format!("/v1/sessions/{sid}/files/b.bin"));
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.bytes.len(), 256);
}

/// Rows from a connector labelled restricted come back masked (the session holds the label
/// from that statement on), and so does their CSV in the workspace on download; code that
/// reads them through `airlock.sql()` gets them whole and prints them masked.
#[test]
fn sql_rows_of_restricted_data_are_masked_in_the_result_and_the_csv() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["connector_grants"]["hr"] = json!({"groups": {"data-stewards": {"read": ["sales.*"], "role": "analyst_read", "row_limit": 10}}});
    });
    let hr = "\n[[connectors]]\nname = \"hr\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5432\ndatabase = \"airlock_warehouse\"\nlabels = [\"restricted\"]\n";
    let gw = Gateway::start_opts(
        &vault::gateway_config(&bao, hr),
        &[
            ("VAULT_TOKEN", vault::ROOT_TOKEN),
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
        ],
    );
    let api = gw.api(&harness::token("steward-tool"));
    let sid = api.session();
    let r = api.run_with(
        &sid,
        json!({"language": "sql", "connector": "hr",
               "code": "SELECT region, 'jane.doe@example.com' AS contact FROM sales.orders ORDER BY id LIMIT 2"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    let result = &r.body["outputs"][0]["data"]["application/json"];
    let rows = result["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{result}");
    for row in &rows {
        assert_eq!(row[1], "[email]", "{result}");
    }
    let csv = result["artifact"].as_str().unwrap_or_default().to_owned();
    let d = api.get(&format!("/v1/sessions/{sid}/files/{csv}"));
    assert_eq!(d.status, 200, "{}", d.body);
    let text = String::from_utf8_lossy(&d.bytes);
    assert!(!text.contains(EMAIL) && text.contains("[email]"), "{text}");
    // Code that reads the same data itself (`airlock.sql()`, rows to the running code) and
    // prints it, in a session that held no label when the run began: the label arrives with
    // the rows, mid-run, and what the code prints after is masked.
    let fresh = api.session();
    let code = "import airlock\n\
                df = airlock.sql(\"SELECT 'jane.doe@example.com' AS contact FROM sales.orders LIMIT 1\", connector='hr')\n\
                print(len(df), df.contact[0].split('@')[1], flush=True)\nprint(df.contact[0])";
    let r = api.run(&fresh, "python", code);
    assert_eq!(stdout_of(&r), "1 example.com\n[email]\n", "{}", r.body);
    // The rows the code got are not kept where the API could read them back.
    let listed = api
        .get(&format!("/v1/sessions/{fresh}/executions"))
        .body
        .to_string();
    assert!(!listed.contains(EMAIL), "{listed}");
    assert!(
        listed.contains("the running code"),
        "the nested statement is listed: {listed}"
    );
    let ev = inspected(&gw);
    assert!(
        ev.iter().any(|e| e["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["where"] == "sql" && f["count"] == 2)),
        "{ev:?}"
    );
}

/// Output policy that holds: the code runs to its end, the requester gets nothing held (not in
/// the stream, the result or her view of the case), reviewers of her tenant see it whole; an
/// approval by someone else releases it into the execution, a rejection ends it
/// `output_blocked`. The audit trail records counts and decisions, never the value.
#[test]
fn a_held_output_reaches_the_requester_only_when_a_reviewer_releases_it() {
    const IBAN: &str = "DE89370400440532013000";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["outputs"]["default"] = json!({"iban": {"action": "hold"}});
    });
    let gw = Gateway::start_opts("", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())]);
    let alice = gw.api(&harness::token("alice-tool"));
    let rita = gw.api(&harness::token("rita-tool"));
    let gina = gw.api(&harness::token("gina-tool"));
    let sid = alice.session();
    let code = "import time\nprint('paying', flush=True)\ntime.sleep(0.3)\n\
                print('to DE89' + '370400440532013000', flush=True)\ntime.sleep(0.3)\nprint('done')";
    let held = |api: &harness::Api| -> (Value, String) {
        let mut stream = submit_streaming(api, &sid, code);
        let events = stream.rest();
        let result = events
            .iter()
            .find(|e| e.event == "result")
            .map(|e| e.data.clone())
            .unwrap_or_else(|| panic!("no result in {events:?}"));
        let text = serde_json::to_string(&events.iter().map(|e| &e.data).collect::<Vec<_>>())
            .unwrap_or_default();
        (result, text)
    };
    let (result, streamed) = held(&alice);
    assert_eq!(result["status"], "pending_review", "{result}");
    assert_eq!(error_code(&result), "output_held", "{result}");
    assert!(streamed.contains("paying"), "{streamed}");
    assert!(
        !streamed.contains(IBAN) && !streamed.contains("done"),
        "{streamed}"
    );
    let exec = result["id"].as_str().unwrap_or_default().to_owned();
    let case = result["case_id"].as_str().unwrap_or_default().to_owned();
    let fetched = alice.get(&format!("/v1/executions/{exec}"));
    assert_eq!(fetched.body["status"], "pending_review");
    assert!(!fetched.body.to_string().contains(IBAN));

    // The requester's view of her case has no held output; her tenant's reviewer sees it all.
    let own = alice.get(&format!("/v1/reviews/{case}"));
    assert_eq!(own.body["kind"], "output", "{}", own.body);
    assert!(own.body.get("held_output").is_none(), "{}", own.body);
    assert!(!own.body.to_string().contains(IBAN));
    let seen = rita.get(&format!("/v1/reviews/{case}"));
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(
        seen.body["held_output"]["stdout"],
        format!("paying\nto {IBAN}\ndone\n")
    );
    assert_eq!(gina.get(&format!("/v1/reviews/{case}")).status, 404);
    let own_approval = alice.post(&format!("/v1/reviews/{case}/approve"), json!({}));
    assert_eq!(own_approval.status, 403, "{}", own_approval.body);

    let ok = rita.post(
        &format!("/v1/reviews/{case}/approve"),
        json!({"comment": "finance"}),
    );
    assert_eq!(ok.body["status"], "approved", "{}", ok.body);
    let released = alice.get(&format!("/v1/executions/{exec}")).body;
    assert_eq!(released["status"], "succeeded", "{released}");
    assert_eq!(released["stdout"], format!("paying\nto {IBAN}\ndone\n"));

    // Rejected, it never leaves.
    let (result, _) = held(&alice);
    let exec = result["id"].as_str().unwrap_or_default().to_owned();
    let case = result["case_id"].as_str().unwrap_or_default().to_owned();
    let no = rita.post(
        &format!("/v1/reviews/{case}/reject"),
        json!({"reason": "account numbers stay in finance"}),
    );
    assert_eq!(no.body["status"], "rejected", "{}", no.body);
    let rejected = alice.get(&format!("/v1/executions/{exec}")).body;
    assert_eq!(rejected["status"], "failed", "{rejected}");
    assert_eq!(error_code(&rejected), "output_blocked", "{rejected}");
    assert!(!rejected.to_string().contains(IBAN));

    let audit = audit_text(&gw);
    assert!(
        !audit.contains(IBAN),
        "the value never reaches the audit trail"
    );
    let types: Vec<String> = harness::audit_events(&gw.audit_file())
        .into_iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "output.released").count(), 1);
    assert_eq!(types.iter().filter(|t| *t == "review.rejected").count(), 1);
}
