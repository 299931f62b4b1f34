//! Warehouse SQL through Vault-brokered, per-execution credentials: a real OpenBao issues a
//! PostgreSQL login per query (scram-sha-256, so only the issued password works), policy
//! decides tables and writes, the login is gone when the execution ends, and the sandbox never
//! holds it.

use crate::{
    harness::{self, stdout_of, Gateway},
    vault::{self, Bao},
};
use serde_json::{json, Value};

pub(crate) fn start(bao: &Bao, extra: &str, env: &[(&str, &str)]) -> Gateway {
    let mut all = vec![("VAULT_TOKEN", vault::ROOT_TOKEN)];
    all.extend_from_slice(env);
    Gateway::start_opts(&vault::gateway_config(bao, extra), &all)
}

fn sql(api: &harness::Api, sid: &str, code: &str) -> harness::Resp {
    api.run_with(
        sid,
        json!({"language": "sql", "connector": "warehouse", "code": code}),
    )
}

fn events_of(gw: &Gateway, ty: &str) -> Vec<Value> {
    harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == ty)
        .collect()
}

#[test]
fn an_analyst_reads_sales_with_a_login_that_is_gone_afterwards() {
    let bao = Bao::start();
    let gw = start(&bao, "", &[]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = sql(
        &api,
        &sid,
        "SELECT region, sum(amount) AS total FROM sales.orders GROUP BY region ORDER BY region",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    let result = &r.body["outputs"][0]["data"]["application/json"];
    assert_eq!(result["columns"], json!(["region", "total"]));
    assert_eq!(
        result["rows"],
        json!([["east", 300.0], ["north", 162.75], ["south", 95.75]])
    );
    let csv = result["artifact"].as_str().unwrap_or_default().to_owned();
    assert!(csv.starts_with("sql/") && csv.ends_with(".csv"), "{result}");

    // The kernel analyses the CSV next.
    let out = stdout_of(&api.run(
        &sid,
        "python",
        &format!("import pandas as pd\ndf = pd.read_csv('{csv}')\nprint(list(df.columns), df.total.sum())"),
    ));
    assert_eq!(out.trim(), "['region', 'total'] 558.5");

    // The credential's life is on the record, and the login no longer exists.
    let issued = events_of(&gw, "credential.issued");
    assert_eq!(issued.len(), 1);
    let user = issued[0]["data"]["db_user"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!user.is_empty());
    assert!(
        issued[0]["data"]["ttl_seconds"].as_u64() <= Some(30 + 15),
        "lease shortened: {}",
        issued[0]
    );
    let revoked = events_of(&gw, "credential.revoked");
    assert_eq!(revoked[0]["data"]["ok"], true, "{}", revoked[0]);
    assert_eq!(revoked[0]["data"]["lease"], issued[0]["data"]["lease"]);
    assert!(
        !issued[0].to_string().contains("database/creds"),
        "lease ids are hashed"
    );
    let stmt = &events_of(&gw, "sql.statement")[0]["data"];
    assert_eq!(
        stmt["statement"]["statements"][0]["reads"],
        json!(["sales.orders"])
    );
    assert_eq!(stmt["rows"], 3);
    assert!(
        !vault::role_exists(&user),
        "the login {user} outlived its execution"
    );

    // Nothing of the credential is in the sandbox: not in its environment, not in its files.
    let out = stdout_of(&api.run(&sid, "bash", "env; ls -laR; cat sql/*.csv"));
    assert!(
        !out.contains(&user) && !out.to_lowercase().contains("vault"),
        "{out}"
    );
    // The session now holds the connector's classification.
    let s = api.get(&format!("/v1/sessions/{sid}"));
    assert!(
        s.body["labels"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("confidential"))),
        "{}",
        s.body
    );
}

#[test]
fn policy_denies_other_tables_writes_batches_and_garbage_before_any_credential() {
    let bao = Bao::start();
    let gw = start(&bao, "", &[]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    for (code, want, names) in [
        (
            "SELECT * FROM hr.salaries",
            "sql_table_not_allowed",
            "hr.salaries",
        ),
        (
            "DELETE FROM sales.orders",
            "sql_write_not_allowed",
            "sales.orders",
        ),
        (
            "SELECT 1; DROP TABLE sales.orders",
            "sql_multiple_statements",
            "2 statements",
        ),
        (
            "SELECT 1 /* ; */ ; -- hidden\nDELETE FROM sales.orders",
            "sql_multiple_statements",
            "2 statements",
        ),
        ("SELEC amount FROM", "sql_unparseable", "does not parse"),
    ] {
        let r = sql(&api, &sid, code);
        assert_eq!(r.status, 403, "{code}: {}", r.body);
        let v = &r.body["decision"]["violations"];
        assert!(
            v.as_array()
                .is_some_and(|v| v.iter().any(|v| v["code"] == want
                    && v["message"].as_str().unwrap_or_default().contains(names))),
            "{code}: {v}"
        );
    }
    // A group without a grant.
    let steward = gw.api(&harness::token("steward-tool"));
    let s2 = steward.session();
    let r = sql(&steward, &s2, "SELECT 1");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["decision"]["violations"][0]["code"],
        "connector_not_allowed"
    );
    assert!(
        events_of(&gw, "credential.issued").is_empty(),
        "no credential for a denied query"
    );
}

#[test]
fn the_database_still_refuses_what_the_vault_role_does_not_grant() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Policy deliberately opened to hr, and to a connector whose database is down.
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["connector_grants"]["warehouse"]["groups"]["analysts"]["read"] =
            json!(["sales.*", "hr.*"]);
        d["airlock"]["connector_grants"]["down"] = json!({"groups": {"analysts": {"read": ["sales.*"], "role": "analyst_read", "row_limit": 10}}});
    });
    let down = "\n[[connectors]]\nname = \"down\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 1\ndatabase = \"airlock_warehouse\"\n";
    let gw = start(
        &bao,
        down,
        &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = sql(&api, &sid, "SELECT * FROM hr.salaries");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert_eq!(r.body["error"]["code"], "sql_error");
    assert!(
        r.body["error"]["value"]
            .as_str()
            .unwrap_or_default()
            .contains("permission denied"),
        "{}",
        r.body
    );
    let user = events_of(&gw, "credential.issued")[0]["data"]["db_user"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !vault::role_exists(&user),
        "{:?}",
        events_of(&gw, "credential.revoked")
    );

    let r = api.run_with(
        &sid,
        json!({"language": "sql", "connector": "down", "code": "SELECT 1"}),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "connector_unavailable");
    let revoked = events_of(&gw, "credential.revoked");
    assert_eq!(revoked.len(), 2, "the unused credential was revoked too");
    assert!(revoked.iter().all(|e| e["data"]["ok"] == true));
}

#[test]
fn vault_down_is_a_clear_503_and_it_works_again_without_a_gateway_restart() {
    let mut bao = Bao::start();
    let gw = start(&bao, "", &[]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(
        sql(&api, &sid, "SELECT count(*) AS n FROM sales.orders").status,
        200
    );
    bao.stop();
    let r = sql(&api, &sid, "SELECT count(*) AS n FROM sales.orders");
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "secrets_unavailable");
    // Readiness shows it without taking the gateway out of service (Python still runs).
    let ready = |gw: &Gateway| -> (u16, Value) {
        let r = harness::client()
            .get(format!("{}/readyz", gw.url))
            .send()
            .unwrap_or_else(|e| panic!("{e}"));
        (r.status().as_u16(), r.json().unwrap_or_default())
    };
    let (status, body) = ready(&gw);
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["checks"]["secrets"], "ok", "{body}");
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print('still here')")),
        "still here\n"
    );
    bao.resume();
    assert_eq!(ready(&gw).1["checks"]["secrets"], "ok");
    let r = sql(&api, &sid, "SELECT count(*) AS n FROM sales.orders");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["outputs"][0]["data"]["application/json"]["rows"],
        json!([[5]])
    );
}

#[test]
fn python_in_the_sandbox_gets_a_dataframe_through_the_gateway_never_a_credential() {
    let bao = Bao::start();
    let gw = start(&bao, "", &[]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let code = "import os, airlock\n\
df = airlock.sql('SELECT region, amount FROM sales.orders ORDER BY id')\n\
print(type(df).__name__, len(df), round(float(df.amount.sum()), 2))\n\
try:\n    airlock.sql('SELECT * FROM hr.salaries')\nexcept airlock.SqlError as e:\n    print('denied', e.code)\n\
print([k for k in os.environ if any(s in k.upper() for s in ('PASS', 'VAULT', 'PGUSER', 'TOKEN'))])\n";
    let out = stdout_of(&api.run(&sid, "python", code));
    assert_eq!(out, "DataFrame 5 558.5\ndenied sql_table_not_allowed\n[]\n");
    // The nested query went the whole governed path: decided, a login issued and revoked.
    let issued = events_of(&gw, "credential.issued");
    assert_eq!(issued.len(), 1, "the denied query got no credential");
    let user = issued[0]["data"]["db_user"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!vault::role_exists(&user));
    assert_eq!(events_of(&gw, "credential.revoked")[0]["data"]["ok"], true);
    let decided = events_of(&gw, "policy.decided");
    assert!(decided.iter().any(|e| e["data"]["result"] == "deny"
        && e["data"]["input"]["request"]["connector"] == "warehouse"));
    // Code in any language of a running execution may ask; each query is decided on its own.
    let r = api.run(&sid, "bash", "curl -s -x http://127.0.0.1:3128 -X POST http://sql.airlock/v1/query -H 'content-type: application/json' -d '{\"connector\":\"warehouse\",\"sql\":\"DELETE FROM sales.orders\"}'; echo");
    let out = stdout_of(&r);
    assert!(
        out.contains("\"status\":\"denied\"") && out.contains("sql_write_not_allowed"),
        "{out}"
    );
}

#[test]
fn mariadb_through_the_same_path() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["connector_grants"]["shop"] = json!({"groups": {"analysts": {"read": ["sales.*"], "role": "shop_read", "row_limit": 2}}});
    });
    let shop = "\n[[connectors]]\nname = \"shop\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = 3306\ndatabase = \"sales\"\nlabels = [\"internal\"]\n";
    let gw = start(
        &bao,
        shop,
        &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let run = |code: &str| {
        api.run_with(
            &sid,
            json!({"language": "sql", "connector": "shop", "code": code}),
        )
    };
    // `orders` resolves to the connector's database, sales.
    let r = run("SELECT region, SUM(amount) AS total, MIN(ordered_on) AS first FROM orders GROUP BY region ORDER BY region");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    let res = &r.body["outputs"][0]["data"]["application/json"];
    assert_eq!(res["columns"], json!(["region", "total", "first"]));
    // Two rows shown (the row limit), all three in the CSV.
    assert_eq!(
        res["rows"],
        json!([
            ["east", 300.0, "2026-02-14"],
            ["north", 162.75, "2026-01-05"]
        ])
    );
    assert_eq!(
        (res["row_count"].as_u64(), res["truncated"].as_bool()),
        (Some(3), Some(true))
    );
    let csv = res["artifact"].as_str().unwrap_or_default().to_owned();
    let out = stdout_of(&api.run(
        &sid,
        "python",
        &format!("import pandas as pd\nprint(len(pd.read_csv('{csv}')))"),
    ));
    assert_eq!(out.trim(), "3");
    let r = run("SELECT * FROM hr.salaries");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body["decision"]["violations"][0]["code"],
        "sql_table_not_allowed"
    );
    let issued = events_of(&gw, "credential.issued");
    let user = issued[0]["data"]["db_user"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!user.is_empty());
    assert!(
        !vault::mysql_user_exists(&user),
        "{user} outlived its execution"
    );
}

#[test]
fn a_lease_left_by_a_killed_gateway_is_revoked_when_it_starts_again() {
    let bao = Bao::start();
    let mut gw = start(&bao, "", &[]);
    let token = harness::token("alice-tool");
    let api = gw.api(&token);
    let sid = api.session();
    // A query still running when the gateway dies: it waits for a lock another session holds.
    let _lock = vault::hold_table_lock("sales.slow", 60);
    let slow = {
        let api = gw.api(&token);
        let sid = sid.clone();
        std::thread::spawn(move || {
            let _ = sql(&api, &sid, "SELECT count(*) AS n FROM sales.slow");
        })
    };
    let mut user = String::new();
    crate::harness::wait_until(
        "the slow query's credential",
        // Generous: CI runs every end-to-end test at once on two cores (it once took over
        // 20 s there). The query waits for the lock (60 s) after its credential, so the kill
        // below still lands while it runs; a request that ends without a credential fails at
        // once.
        std::time::Duration::from_secs(60),
        || {
            if let Some(e) = events_of(&gw, "credential.issued").first() {
                user = e["data"]["db_user"].as_str().unwrap_or_default().to_owned();
            }
            // A request that ended without a credential will not get one: say what it got.
            assert!(
                !user.is_empty() || !slow.is_finished(),
                "the slow query ended before any credential was issued; audit: {:?}",
                harness::audit_events(&gw.audit_file())
                    .iter()
                    .map(|e| format!("{} {}", e["type"], e["data"]))
                    .collect::<Vec<_>>()
            );
            !user.is_empty()
        },
    );
    assert!(vault::role_exists_now(&user));
    gw.kill9();
    // The gateway died under the request: its thread ends with a failed request (a panic).
    let _ = slow.join();
    assert!(vault::role_exists_now(&user), "nothing revoked it yet");
    // The restart sweeps it, long before the lease (30 s + 15 s) would have run out.
    gw.spawn();
    assert!(
        !vault::role_exists(&user),
        "the orphaned login survived the restart"
    );
    let swept = events_of(&gw, "credential.revoked");
    assert!(swept.iter().any(|e| e["data"]["reason"] == "left by a previous process" && e["data"]["ok"] == true), "{swept:?}");
}

#[test]
fn a_credential_echoed_back_by_a_crafted_query_is_redacted() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["connector_grants"]["warehouse"]["groups"]["analysts"] =
            json!({"read": ["pg_catalog.*"], "role": "analyst_echo", "row_limit": 10});
    });
    let gw = start(&bao, "", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = sql(&api, &sid, "SELECT d.description AS note, r.rolname AS pw_user FROM pg_catalog.pg_shdescription d JOIN pg_catalog.pg_roles r ON d.objoid = r.oid WHERE r.rolname = current_user");
    assert_eq!(r.status, 200, "{}", r.body);
    let row = &r.body["outputs"][0]["data"]["application/json"]["rows"][0];
    // The role's comment is 'pw=<password>': the password itself never comes back.
    assert_eq!(row[0], "pw=[REDACTED]", "{}", r.body);
    let csv = stdout_of(&api.run(&sid, "bash", "cat sql/*.csv"));
    assert!(csv.contains("pw=[REDACTED]"), "{csv}");
    let audit = std::fs::read_to_string(gw.audit_file()).unwrap_or_default();
    assert!(!audit.contains("pw=") || audit.contains("pw=[REDACTED]"));
}

#[test]
fn the_gateway_logs_in_with_approle_and_a_least_privilege_vault_policy() {
    let bao = Bao::start();
    let (role_id, secret_id) = bao.approle();
    assert!(!role_id.is_empty() && !secret_id.is_empty());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secret_file = dir.path().join("secret-id");
    std::fs::write(&secret_file, &secret_id).unwrap_or_else(|e| panic!("{e}"));
    // No VAULT_TOKEN at all: the [vault] section's AppRole settings override the token default.
    let gw = Gateway::start_opts(
        &vault::gateway_config(&bao, ""),
        &[
            ("AIRLOCK_VAULT__AUTH", "approle"),
            ("AIRLOCK_VAULT__ROLE_ID", role_id.as_str()),
            (
                "AIRLOCK_VAULT__SECRET_ID_FILE",
                secret_file.to_str().unwrap_or_default(),
            ),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = sql(&api, &sid, "SELECT count(*) AS n FROM sales.orders");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["outputs"][0]["data"]["application/json"]["rows"],
        json!([[5]])
    );
    let revoked = events_of(&gw, "credential.revoked");
    assert_eq!(
        revoked[0]["data"]["ok"], true,
        "the policy allows revoking: {revoked:?}"
    );
}
