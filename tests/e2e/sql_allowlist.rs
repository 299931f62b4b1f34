//! SQL as an allowlist, tried as an attacker would: real PostgreSQL and MariaDB, real OpenBao
//! credentials from roles that can read far more than policy grants (hr, and on MariaDB every
//! database including `mysql.user`). Policy grants `sales.*` only. Every statement below tries
//! another SQL form to reach an ungranted table or change session state, through the API and
//! through `airlock.sql()` in the sandbox: none may return a row of an ungranted table, and
//! each must be refused with a stable code before any credential is issued.

use crate::{
    harness::{self, stdout_of, Gateway},
    vault::{self, Bao},
};
use serde_json::{json, Value};

/// Statements against PostgreSQL (default schema `public`; the role reads sales and hr).
const POSTGRES: &[&str] = &[
    "SELECT * FROM hr.salaries",
    "SELECT * FROM HR.SALARIES",
    "SELECT * FROM \"hr\".\"salaries\"",
    "SELECT * FROM airlock_warehouse.hr.salaries",
    "SELECT * FROM salaries",
    "TABLE hr.salaries",
    "SELECT (SELECT string_agg(employee || ':' || salary, ',') FROM hr.salaries)",
    "SELECT * FROM sales.orders WHERE id IN (SELECT 1 FROM hr.salaries WHERE salary > 0)",
    "SELECT region FROM sales.orders UNION ALL SELECT employee FROM hr.salaries",
    "SELECT region FROM sales.orders /* harmless */ UNION SELECT employee FROM hr.salaries",
    "WITH x AS (SELECT * FROM hr.salaries) SELECT * FROM x",
    "WITH RECURSIVE r AS (SELECT * FROM hr.salaries) SELECT * FROM r",
    "SELECT * FROM (WITH salaries AS (SELECT 1 AS a) SELECT * FROM salaries) x CROSS JOIN hr.salaries",
    "SELECT * FROM sales.orders o JOIN LATERAL (SELECT * FROM hr.salaries) s ON true",
    "SELECT * FROM sales.orders o, (hr.salaries s JOIN sales.customers c ON true)",
    "SELECT count(*) FILTER (WHERE id IN (SELECT 1 FROM hr.salaries)) FROM sales.orders",
    "SELECT query_to_xml('select * from hr.salaries', true, true, '')",
    "SELECT table_to_xml('hr.salaries', true, true, '')",
    "SELECT xpath('/row', query_to_xml('select * from hr.salaries', true, false, ''))",
    "SELECT * FROM ROWS FROM (json_each('{}')) AS t",
    "SELECT set_config('search_path', 'hr', false)",
    "SELECT current_setting('search_path')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT pg_ls_dir('.')",
    "SELECT pg_sleep(5)",
    "SELECT setseed(0.5)",
    "SELECT pg_notify('x', (SELECT max(employee) FROM hr.salaries))",
    "SELECT pg_advisory_lock(42)",
    "SELECT 'hr.salaries'::regclass",
    "SELECT pg_catalog.concat('a', 'b')",
    "SELECT 1 OPERATOR(pg_catalog.+) 1",
    "SELECT $q$x$q$ AS a FROM sales.orders",
    "SELECT E'\\'' AS a FROM sales.orders",
    "SELECT U&'\\0041' AS a FROM sales.orders",
    "SELECT * FROM sales.orders FOR UPDATE",
    "SELECT * INTO TEMP stolen FROM hr.salaries",
    "CREATE TEMP TABLE stolen AS SELECT * FROM hr.salaries",
    "SET search_path = hr",
    "SET ROLE airlock_vault",
    "RESET ALL",
    "COPY hr.salaries TO STDOUT",
    "EXPLAIN ANALYZE SELECT * FROM hr.salaries",
    "PREPARE p AS SELECT * FROM hr.salaries",
    "DO $$ BEGIN PERFORM * FROM hr.salaries; END $$",
    "DECLARE c CURSOR FOR SELECT * FROM hr.salaries",
    "LISTEN hr",
    "SELECT 1; SELECT * FROM hr.salaries",
    "SELECT 1 /* ; */ ; -- hidden\nSELECT * FROM hr.salaries",
    "WITH gone AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM gone",
];

/// Statements against MariaDB (default database `sales`; the role reads every database).
const MARIADB: &[&str] = &[
    "SELECT * FROM hr.salaries",
    "SELECT * FROM `hr`.`salaries`",
    "SELECT User, Password FROM mysql.user",
    "SELECT * FROM information_schema.tables",
    "SELECT 1 /*!, (SELECT max(salary) FROM hr.salaries) */",
    "SELECT 1 /*!50000 , (SELECT max(salary) FROM hr.salaries) */",
    "SELECT 1 /*M!, (SELECT max(salary) FROM hr.salaries) */",
    "SELECT /*+ SET_VAR(sql_mode='ANSI_QUOTES') */ 1",
    "SELECT region FROM orders UNION SELECT employee FROM hr.salaries",
    "SELECT * FROM orders WHERE id IN (SELECT 1 FROM hr.salaries)",
    "WITH x AS (SELECT * FROM hr.salaries) SELECT * FROM x",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT SLEEP(5)",
    "SELECT BENCHMARK(100000000, MD5('x'))",
    "SELECT GET_LOCK('x', 1)",
    "SELECT @@version",
    "SELECT @a := 1",
    "SET @a = (SELECT max(salary) FROM hr.salaries)",
    "SET SESSION sql_mode = 'ANSI_QUOTES'",
    "SELECT \"hr\" AS a",
    "SELECT _latin1'x' AS a",
    "SELECT * FROM hr.salaries INTO OUTFILE '/tmp/stolen'",
    "HANDLER hr.salaries OPEN",
    "USE hr",
    "SHOW TABLES FROM hr",
    "DO SLEEP(1)",
    "SELECT * FROM orders LOCK IN SHARE MODE",
    "SELECT 1; SELECT * FROM hr.salaries",
    "SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS t",
];

/// What must never come back: hr.salaries' values, a server file's contents. (A refusal
/// carries no rows at all; this catches a refusal that carried data in its message.)
/// A value of the protected rows in `body`, as a value of its own: not inside an id or a hash
/// (a random UUID once held "91000").
fn leaked(body: &str) -> Option<&'static str> {
    ["91000", "87000", "root:x:0"].into_iter().find(|m| {
        body.match_indices(m).any(|(i, _)| {
            let before = body[..i].chars().next_back();
            let after = body[i + m.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    })
}

fn gateway(bao: &Bao, dir: &std::path::Path) -> Gateway {
    let bundle = harness::bundle_copy(dir, |d| {
        d["airlock"]["connector_grants"]["warehouse"]["groups"]["analysts"]["role"] =
            json!("analyst_broad");
        d["airlock"]["connector_grants"]["shop"] = json!({"groups": {"analysts": {"read": ["sales.*"], "role": "shop_broad", "row_limit": 100}}});
    });
    let shop = "\n[[connectors]]\nname = \"shop\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = 3306\ndatabase = \"sales\"\n";
    Gateway::start_opts(
        &vault::gateway_config(bao, shop),
        &[
            ("VAULT_TOKEN", vault::ROOT_TOKEN),
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
        ],
    )
}

fn issued(gw: &Gateway) -> usize {
    harness::audit_events(&gw.audit_file())
        .iter()
        .filter(|e| e["type"] == "credential.issued")
        .count()
}

/// Each statement through the API: 403 with a violation code, no leaked value.
fn through_the_api(api: &harness::Api, sid: &str, connector: &str, statements: &[&str]) {
    for sql in statements {
        let r = api.run_with(
            sid,
            json!({"language": "sql", "connector": connector, "code": sql}),
        );
        let body = r.body.to_string();
        assert_eq!(r.status, 403, "{connector}: {sql} was not refused: {body}");
        let code = r.body["decision"]["violations"][0]["code"]
            .as_str()
            .unwrap_or_default();
        assert!(
            code.starts_with("sql_") || code == "connector_language",
            "{connector}: {sql}: refused without an SQL code: {body}"
        );
        assert_eq!(leaked(&body), None, "{connector}: {sql}: {body}");
    }
}

/// All statements through `airlock.sql()` in one Python execution: each raises SqlError with a
/// code, none returns a frame.
fn through_the_sandbox(api: &harness::Api, sid: &str, connector: &str, statements: &[&str]) {
    let code = format!(
        "import json, airlock\nout = []\nfor q in json.loads({list:?}):\n    try:\n        df = airlock.sql(q, connector={connector:?})\n        out.append(['ROWS', q, df.to_json()])\n    except airlock.SqlError as e:\n        out.append([e.code, q, ''])\nprint(json.dumps(out))\n",
        list = serde_json::to_string(statements).unwrap_or_default(),
    );
    let out = stdout_of(&api.run(sid, "python", &code));
    let results: Vec<Vec<String>> =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(results.len(), statements.len(), "{out}");
    for r in results {
        assert!(
            r[0].starts_with("sql_"),
            "{connector} via airlock.sql: {r:?}"
        );
        assert_eq!(leaked(&r[2]), None, "{r:?}");
    }
}

#[test]
fn no_sql_form_reaches_an_ungranted_table_or_changes_the_session() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(&bao, dir.path());
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();

    through_the_api(&api, &sid, "warehouse", POSTGRES);
    through_the_api(&api, &sid, "shop", MARIADB);
    assert_eq!(issued(&gw), 0, "a refused statement got a credential");
    through_the_sandbox(&api, &sid, "warehouse", POSTGRES);
    through_the_sandbox(&api, &sid, "shop", MARIADB);
    assert_eq!(issued(&gw), 0, "a refused statement got a credential");

    // The same connectors still answer what is granted, through the canonical statement.
    let r = api.run_with(
        &sid,
        json!({"language": "sql", "connector": "warehouse", "code": "select Region, count(*) AS n from SALES.Orders -- comment\n group by region order by 1"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["outputs"][0]["data"]["application/json"]["rows"],
        json!([["east", 1], ["north", 2], ["south", 2]])
    );
    let r = api.run_with(
        &sid,
        json!({"language": "sql", "connector": "shop", "code": "SELECT region, 'it''s' AS q FROM orders # a comment\n WHERE id = 1"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["outputs"][0]["data"]["application/json"]["rows"],
        json!([["north", "it's"]])
    );
    // What ran is the canonical text, recorded with the statement.
    let stmt: Vec<Value> = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "sql.statement")
        .collect();
    let canonical = stmt[0]["data"]["statement"]["canonical"]
        .as_str()
        .unwrap_or_default();
    assert!(
        canonical.contains("\"sales\".\"orders\"") && !canonical.contains("comment"),
        "{canonical}"
    );
}

/// A string that merely spells an attack is a string: the analyser agrees with the server
/// (MySQL's backslash escape becomes a doubled quote in the canonical text).
#[test]
fn a_literal_that_looks_like_an_injection_is_only_a_literal() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(&bao, dir.path());
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run_with(
        &sid,
        json!({"language": "sql", "connector": "shop", "code": "SELECT 'a\\' UNION SELECT employee FROM hr.salaries -- ' AS s"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = &r.body["outputs"][0]["data"]["application/json"]["rows"];
    assert_eq!(
        rows,
        &json!([["a' UNION SELECT employee FROM hr.salaries -- "]]),
        "{}",
        r.body
    );
    assert_eq!(leaked(&rows.to_string()), None);
}

/// The control: the Vault roles of these tests really can read what policy refuses, so the
/// refusals above are the analyser's and policy's doing, not the database's.
#[test]
fn the_vault_roles_here_can_read_what_policy_refuses() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["connector_grants"]["warehouse"]["groups"]["analysts"] =
            json!({"read": ["sales.*", "hr.*"], "role": "analyst_broad", "row_limit": 100});
        d["airlock"]["connector_grants"]["shop"] = json!({"groups": {"analysts": {"read": ["sales.*", "hr.*"], "role": "shop_broad", "row_limit": 100}}});
    });
    let shop = "\n[[connectors]]\nname = \"shop\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = 3306\ndatabase = \"sales\"\n";
    let gw = Gateway::start_opts(
        &vault::gateway_config(&bao, shop),
        &[
            ("VAULT_TOKEN", vault::ROOT_TOKEN),
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    for connector in ["warehouse", "shop"] {
        let r = api.run_with(
            &sid,
            json!({"language": "sql", "connector": connector, "code": "SELECT salary FROM hr.salaries ORDER BY salary DESC"}),
        );
        assert_eq!(r.status, 200, "{connector}: {}", r.body);
        assert!(
            r.body["outputs"].to_string().contains("91000"),
            "{connector}: {}",
            r.body
        );
    }
}
