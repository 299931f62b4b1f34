//! Data scopes in a running gateway: restricted data and the network never meet, and files of
//! a session holding restricted data leave only through the steward group.

use crate::{
    harness::{self, stdout_of, Gateway},
    vault::{self, Bao},
};
use serde_json::json;

fn upload(api: &harness::Api, sid: &str, name: &str, classification: &str) -> harness::Resp {
    api.upload(
        sid,
        name,
        b"employee,salary\nalice,91000\n".to_vec(),
        Some(classification),
    )
}

fn violation(r: &harness::Resp) -> String {
    r.body["decision"]["violations"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_session_holding_restricted_data_gets_no_egress() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["egress_rules"]["default"] = json!(["files.example.test:443"]);
    });
    let gw = Gateway::start_opts("", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let with_egress =
        json!({"language": "python", "code": "print('ran')", "egress": ["files.example.test:443"]});
    // Before restricted data arrives, the grant is given.
    let r = api.run_with(&sid, with_egress.clone());
    assert_eq!(stdout_of(&r), "ran\n", "{}", r.body);
    let up = upload(&api, &sid, "salaries.csv", "restricted");
    assert_eq!(up.status, 201, "{}", up.body);
    // After: refused, with the reason.
    let r = api.run_with(&sid, with_egress);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(violation(&r), "egress_not_allowed_restricted_data");
    // Code without egress still runs on the data.
    let r = api.run(
        &sid,
        "python",
        "import pandas as pd\nprint(len(pd.read_csv('salaries.csv')))",
    );
    assert_eq!(stdout_of(&r), "1\n", "{}", r.body);
}

#[test]
fn restricted_files_and_anything_derived_from_them_leave_only_through_stewards() {
    let gw = Gateway::start();
    for (client, allowed) in [("alice-tool", false), ("steward-tool", true)] {
        let api = gw.api(&harness::token(client));
        let sid = api.session();
        assert_eq!(upload(&api, &sid, "salaries.csv", "restricted").status, 201);
        // A copy the code makes carries no classification of its own: the session's does.
        let r = api.run(&sid, "bash", "cp salaries.csv copy.csv && echo ok");
        assert_eq!(stdout_of(&r), "ok\n", "{}", r.body);
        for path in ["salaries.csv", "copy.csv"] {
            let d = api.get(&format!("/v1/sessions/{sid}/files/{path}"));
            if allowed {
                assert_eq!(d.status, 200, "{client} {path}: {}", d.body);
            } else {
                assert_eq!(d.status, 403, "{client} {path}: {}", d.body);
                assert_eq!(
                    d.body["error"]["details"]["decision"]["violations"][0]["code"],
                    "download_not_allowed",
                    "{}",
                    d.body
                );
            }
        }
    }
}

#[test]
fn restricted_warehouse_data_never_arrives_where_it_could_leave() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The hr connector, granted to analysts for this test, reads data labelled restricted.
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["egress_rules"]["default"] = json!(["files.example.test:443"]);
        d["airlock"]["connector_grants"]["hr"] = json!({"groups": {"analysts": {"read": ["sales.*"], "role": "analyst_read", "row_limit": 10}}});
    });
    let hr = "\n[[connectors]]\nname = \"hr\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5432\ndatabase = \"airlock_warehouse\"\nlabels = [\"restricted\"]\n";
    let gw = Gateway::start_opts(
        &vault::gateway_config(&bao, hr),
        &[
            ("VAULT_TOKEN", vault::ROOT_TOKEN),
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let read = "import airlock\ntry:\n    df = airlock.sql('SELECT count(*) AS n FROM sales.orders', connector='hr')\n    print('ROWS', int(df.n[0]))\nexcept airlock.SqlError as e:\n    print('refused', e.code)";
    // Inside an execution that holds egress: refused before any credential.
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": read, "egress": ["files.example.test:443"]}),
    );
    assert_eq!(stdout_of(&r), "refused data_scope_egress\n", "{}", r.body);
    let issued = harness::audit_events(&gw.audit_file())
        .iter()
        .filter(|e| e["type"] == "credential.issued")
        .count();
    assert_eq!(issued, 0);
    // Without egress the data arrives, and the session holds its label from then on.
    let r = api.run(&sid, "python", read);
    assert_eq!(stdout_of(&r), "ROWS 5\n", "{}", r.body);
    let s = api.get(&format!("/v1/sessions/{sid}"));
    assert!(
        s.body["labels"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("restricted"))),
        "{}",
        s.body
    );
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": "print(1)", "egress": ["files.example.test:443"]}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(violation(&r), "egress_not_allowed_restricted_data");
    // The same holds for the connector from the API: its result is labelled, egress is gone.
    let sid2 = api.session();
    let r = api.run_with(&sid2, json!({"language": "sql", "connector": "hr", "code": "SELECT count(*) AS n FROM sales.orders"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.run_with(
        &sid2,
        json!({"language": "python", "code": "print(1)", "egress": ["files.example.test:443"]}),
    );
    assert_eq!(
        violation(&r),
        "egress_not_allowed_restricted_data",
        "{}",
        r.body
    );
}
