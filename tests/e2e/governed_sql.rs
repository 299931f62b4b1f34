//! Column masks and row filters, tried as an attacker would, on real PostgreSQL and MariaDB with
//! real OpenBao logins that can read every row and column of `sales.contacts`. The shipped
//! bundle's rules (masks on email and card, rows of the caller's own tenant) are given to both
//! connectors; alice is of tenant acme, carol of globex. Every statement below tries another SQL
//! form to reach a raw value or another tenant's row: each comes back masked and filtered, or
//! is refused, through the API and through `airlock.sql()` in the sandbox.

use crate::{
    harness::{self, stdout_of, Gateway},
    vault::{self, Bao},
};
use serde_json::{json, Value};

const POSTGRES: &[&str] = &[
    "SELECT * FROM sales.contacts",
    "SELECT email, card FROM SALES.CONTACTS",
    "SELECT \"email\" FROM \"sales\".\"contacts\"",
    "SELECT c.email, c.card FROM sales.orders o JOIN sales.contacts c ON c.id = o.id",
    "SELECT (SELECT string_agg(email || card, ',') FROM sales.contacts)",
    "SELECT count(*) FROM sales.contacts WHERE email LIKE '%globex%'",
    "WITH x AS (SELECT * FROM sales.contacts) SELECT * FROM x",
    "WITH RECURSIVE r AS (SELECT id, email FROM sales.contacts) SELECT * FROM r",
    "SELECT email FROM sales.contacts UNION SELECT region FROM sales.orders",
    "SELECT name, email FROM sales.contacts WHERE tenant = 'globex'",
    "SELECT name FROM sales.contacts WHERE true OR tenant = 'globex'",
    "SELECT region, count(*), string_agg(card, ',') FROM sales.contacts GROUP BY region",
    "SELECT upper(email), substring(card from 1 for 6), length(card), md5(email) FROM sales.contacts",
    "SELECT c FROM sales.contacts c",
    "SELECT x.e, x.k FROM sales.contacts AS x (i, t, r, n, e, k)",
    "SELECT * FROM sales.orders o, LATERAL (SELECT name, email FROM sales.contacts c WHERE c.id = o.id) x",
    "SELECT name FROM sales.contacts WHERE 1 / (CASE WHEN tenant = 'globex' THEN 0 ELSE 1 END) = 1",
    "SELECT name FROM sales.contacts ORDER BY email, card",
    "SELECT * FROM sales.contacts WHERE id IN (SELECT id FROM sales.contacts WHERE card LIKE '4012%')",
    "SELECT id FROM sales.contacts WHERE card = '4111111111111111'",
    "SELECT json_agg(c) FROM sales.contacts c",
    "SELECT * FROM sales.contacts a NATURAL JOIN (SELECT * FROM sales.contacts) b",
    "SELECT count(DISTINCT email), count(DISTINCT tenant) FROM sales.contacts",
    "SELECT sales.contacts.email FROM sales.contacts",
    "SELECT * FROM contacts",
    "TABLE sales.contacts",
    "SELECT * FROM sales.contacts FOR UPDATE",
    "UPDATE sales.contacts SET name = name WHERE email LIKE 'a%'",
    "DELETE FROM sales.contacts WHERE tenant = 'globex'",
    "SELECT most_common_vals::text FROM pg_catalog.pg_stats WHERE tablename = 'contacts'",
    "SELECT * FROM information_schema.columns",
];

const MARIADB: &[&str] = &[
    "SELECT * FROM contacts",
    "SELECT email, card FROM `sales`.`contacts`",
    "SELECT c.email FROM orders o JOIN contacts c ON c.id = o.id",
    "SELECT c.email FROM orders o LEFT JOIN sales.contacts c USING (id)",
    "SELECT (SELECT max(concat(email, card)) FROM contacts) AS m",
    "WITH x AS (SELECT * FROM contacts) SELECT * FROM x",
    "SELECT email FROM contacts UNION SELECT region FROM orders",
    "SELECT name, email FROM contacts WHERE tenant = 'globex'",
    "SELECT region, count(*) FROM contacts GROUP BY region",
    "SELECT count(*) FROM contacts WHERE email LIKE '%globex%'",
    "SELECT name FROM contacts c WHERE EXISTS (SELECT 1 FROM contacts d WHERE d.card = '4111111111111111')",
    "SELECT upper(email), left(card, 6), reverse(card) FROM contacts",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM contacts) a) b",
    "SELECT name FROM contacts ORDER BY card",
    "SELECT * FROM information_schema.COLUMN_STATISTICS",
    "SELECT * FROM mysql.innodb_index_stats",
    "UPDATE contacts SET name = 'x'",
    "TABLE contacts",
];

/// Raw values of the table: whole e-mail addresses and card numbers, and the other tenant's
/// names (for alice, globex's; for carol, acme's).
fn leaked<'a>(text: &str, other_tenant: &[&'a str]) -> Option<&'a str> {
    const RAW: &[&str] = &[
        "@acme.test",
        "@globex.test",
        "4111111111111111",
        "5500005555555559",
        "4012888888881881",
        "378282246310005",
        "411111",
        "550000",
    ];
    RAW.iter()
        .chain(other_tenant)
        .find(|m| text.contains(**m))
        .copied()
}

const GLOBEX: &[&str] = &["Cy Cole", "Di Dunn"];
const ACME: &[&str] = &["Ann Archer", "Bo Brand", "Ed Ek"];

fn gateway(bao: &Bao, dir: &std::path::Path) -> Gateway {
    let bundle = harness::bundle_copy(dir, |d| {
        let tables = d["airlock"]["connector_grants"]["warehouse"]["tables"].clone();
        assert!(
            tables["sales.contacts"].is_object(),
            "the shipped bundle governs sales.contacts"
        );
        d["airlock"]["connector_grants"]["shop"] = json!({
            "groups": {"analysts": {"read": ["sales.*"], "role": "shop_read", "row_limit": 100}},
            "tables": tables,
        });
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

/// What a statement returned, as text: the rows and stdout of a success, the message of a
/// failure or a denial. Masked, filtered or refused: never a raw value.
fn through_the_api(api: &harness::Api, sid: &str, connector: &str, sql: &str, other: &[&str]) {
    let r = api.run_with(
        sid,
        json!({"language": "sql", "connector": connector, "code": sql}),
    );
    let answer = match (r.status, r.body["status"].as_str()) {
        (200, Some("succeeded")) => format!("{}{}", r.body["outputs"], r.body["stdout"]),
        (200, Some("failed")) => {
            let code = r.body["error"]["code"].as_str().unwrap_or_default();
            assert!(
                code.starts_with("sql_"),
                "{connector}: {sql}: failed without a code: {}",
                r.body
            );
            r.body["error"]["value"].to_string()
        }
        (403, _) => {
            let code = r.body["decision"]["violations"][0]["code"]
                .as_str()
                .unwrap_or_default();
            assert!(code.starts_with("sql_"), "{connector}: {sql}: {}", r.body);
            String::new()
        }
        _ => panic!("{connector}: {sql}: {} {}", r.status, r.body),
    };
    assert_eq!(leaked(&answer, other), None, "{connector}: {sql}: {answer}");
}

fn rows(api: &harness::Api, sid: &str, connector: &str, sql: &str) -> Value {
    let r = api.run_with(
        sid,
        json!({"language": "sql", "connector": connector, "code": sql}),
    );
    assert_eq!(r.status, 200, "{sql}: {}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{sql}: {}", r.body);
    r.body["outputs"][0]["data"]["application/json"]["rows"].clone()
}

#[test]
fn masked_columns_and_filtered_rows_cannot_be_reached_by_any_sql_form() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(&bao, dir.path());
    let alice = gw.api(&harness::token("alice-tool"));
    let sid = alice.session();

    // What alice sees: acme's rows, e-mail redacted, the card's last four of long numbers.
    let expected = json!([
        [1, "Ann Archer", "****", "****1111"],
        [2, "Bo Brand", "****", "****5559"],
        [5, "Ed Ek", null, "****"]
    ]);
    for (connector, table) in [("warehouse", "sales.contacts"), ("shop", "contacts")] {
        let sql = format!("SELECT id, name, email, card FROM {table} ORDER BY id");
        assert_eq!(rows(&alice, &sid, connector, &sql), expected, "{connector}");
    }
    // A condition that raises an error on another tenant's row is never evaluated on one:
    // the masked view is an optimisation fence.
    let fenced = "SELECT count(*) AS n FROM sales.contacts WHERE 1 / (CASE WHEN tenant = 'globex' THEN 0 ELSE 1 END) = 1";
    assert_eq!(rows(&alice, &sid, "warehouse", fenced), json!([[3]]));
    let fenced = "SELECT count(*) AS n FROM contacts WHERE regexp_instr('a', CASE WHEN tenant = 'globex' THEN '(' ELSE 'a' END) > 0";
    assert_eq!(rows(&alice, &sid, "shop", fenced), json!([[3]]));

    for sql in POSTGRES {
        through_the_api(&alice, &sid, "warehouse", sql, GLOBEX);
    }
    for sql in MARIADB {
        through_the_api(&alice, &sid, "shop", sql, GLOBEX);
    }

    // The same statements from running code, through airlock.sql().
    let code = format!(
        "import json, airlock\nout = []\nfor c, q in json.loads({list:?}):\n    try:\n        out.append(airlock.sql(q, connector=c).to_json(orient='split'))\n    except airlock.SqlError as e:\n        out.append(e.code)\nprint(json.dumps(out))\n",
        list = serde_json::to_string(
            &POSTGRES
                .iter()
                .map(|q| ("warehouse", q))
                .chain(MARIADB.iter().map(|q| ("shop", q)))
                .collect::<Vec<_>>()
        )
        .unwrap_or_default(),
    );
    let out = stdout_of(&alice.run(&sid, "python", &code));
    let results: Vec<String> =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(results.len(), POSTGRES.len() + MARIADB.len(), "{out}");
    for r in &results {
        assert_eq!(leaked(r, GLOBEX), None, "via airlock.sql: {r}");
    }
    assert!(
        results.iter().any(|r| r.contains("Ann Archer")),
        "airlock.sql() read no row at all: {out}"
    );

    // The filter follows the caller: carol of globex sees globex's rows only.
    let carol = gw.api(&harness::token("carol-tool"));
    let csid = carol.session();
    for connector in ["warehouse", "shop"] {
        let names = rows(
            &carol,
            &csid,
            connector,
            "SELECT name FROM sales.contacts ORDER BY id",
        );
        assert_eq!(names, json!([["Cy Cole"], ["Di Dunn"]]), "{connector}");
        through_the_api(
            &carol,
            &csid,
            connector,
            "SELECT * FROM sales.contacts",
            ACME,
        );
    }

    // What ran is on the record: the rewritten statement and what it governed.
    let ran: Vec<Value> = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "sql.statement" && e["data"]["rewritten"].is_string())
        .collect();
    assert!(!ran.is_empty());
    let first = &ran[0]["data"];
    assert!(
        first["rewritten"]
            .as_str()
            .unwrap_or_default()
            .contains("OFFSET 0"),
        "{first}"
    );
    assert_eq!(
        first["governed"]["sales.contacts"]["masked_columns"],
        json!(["card", "email"])
    );
}
