//! Column masks and row filters: the rewrite of every form a governed table can be read
//! through, and the refusals. The databases' own answers are the end-to-end tests'
//! (tests/e2e/governed_sql.rs); here, the shape of what is sent.

use super::{analyze, plan};
use airlock_gateway_domain::connectors::{
    ColumnMask, FilterValue, RowCondition, SqlDialect,
    SqlDialect::{Mysql, Postgres},
    SqlRefusal, TableRules,
};
use std::collections::BTreeMap;

const COLUMNS: [&str; 5] = ["id", "region", "name", "email", "card"];

fn rules(filter: &[&str]) -> BTreeMap<String, TableRules> {
    let mut masks = BTreeMap::new();
    masks.insert("email".into(), ColumnMask::Redact {});
    masks.insert("card".into(), ColumnMask::KeepLast { keep: 4 });
    let row_filter = vec![RowCondition {
        column: "region".into(),
        one_of: filter
            .iter()
            .map(|v| FilterValue::Text((*v).into()))
            .collect(),
    }];
    BTreeMap::from([(
        "sales.contacts".to_owned(),
        TableRules { masks, row_filter },
    )])
}

/// The statement as the connector would run it, with the test table's columns.
fn rewritten(
    d: SqlDialect,
    sql: &str,
    governed: &BTreeMap<String, TableRules>,
) -> Result<String, SqlRefusal> {
    let schema = match d {
        Postgres => "public",
        Mysql => "sales",
    };
    let facts = analyze(d, schema, sql);
    let canonical = facts
        .canonical
        .unwrap_or_else(|| panic!("not accepted: {:?}", facts.refusals));
    let p = plan(d, schema, &canonical, governed)?;
    let cols: Vec<Vec<String>> = p
        .governed_tables()
        .iter()
        .map(|_| COLUMNS.iter().map(|c| (*c).to_owned()).collect())
        .collect();
    p.statement(&cols)
}

fn ok(d: SqlDialect, sql: &str) -> String {
    rewritten(d, sql, &rules(&["north"])).unwrap_or_else(|r| panic!("{sql}: {r:?}"))
}

/// Every reference reads the masked view: as many views as references, the table named only
/// inside them, the masks and the filter in each.
fn every_reference_masked(d: SqlDialect, sql: &str, references: usize) {
    let text = ok(d, sql);
    let (table, fence) = match d {
        Postgres => (r#"FROM "sales"."contacts""#, "OFFSET 0"),
        Mysql => ("FROM `sales`.`contacts`", "LIMIT 18446744073709551615"),
    };
    assert_eq!(text.matches(table).count(), references, "{text}");
    assert_eq!(text.matches(fence).count(), references, "{text}");
    assert_eq!(
        text.matches("ELSE '****' END AS").count(),
        2 * references,
        "{text}"
    );
    assert_eq!(text.matches("IN ('north')").count(), references, "{text}");
}

#[test]
fn every_form_of_reading_a_governed_table_reads_the_masked_view() {
    for (sql, n) in [
        ("SELECT * FROM sales.contacts", 1),
        ("SELECT email FROM Sales.Contacts", 1),
        ("SELECT c.email, o.amount FROM sales.orders o JOIN sales.contacts c ON c.id = o.id", 1),
        ("SELECT a.email, b.email FROM sales.contacts a, sales.contacts b", 2),
        ("SELECT (SELECT max(email) FROM sales.contacts) AS m", 1),
        ("SELECT 1 WHERE EXISTS (SELECT 1 FROM sales.contacts WHERE email LIKE 'a%')", 1),
        ("SELECT id FROM sales.orders WHERE id IN (SELECT id FROM sales.contacts)", 1),
        ("WITH x AS (SELECT * FROM sales.contacts) SELECT email FROM x", 1),
        ("SELECT email FROM sales.contacts UNION SELECT region FROM sales.orders", 1),
        ("SELECT region, count(*), max(card) FROM sales.contacts GROUP BY region", 1),
        ("SELECT upper(email), length(card) FROM sales.contacts WHERE card LIKE '4%' ORDER BY 1", 1),
        ("SELECT o.id, (SELECT c.email FROM sales.contacts c WHERE c.id = o.id) FROM sales.orders o", 1),
        ("SELECT * FROM (SELECT * FROM (SELECT email FROM sales.contacts) a) b", 1),
        ("SELECT * FROM sales.orders o, LATERAL (SELECT email FROM sales.contacts c WHERE c.id = o.id) x", 1),
        ("SELECT x.e FROM sales.contacts AS x (i, r, n, e)", 1),
        ("SELECT c FROM sales.contacts c", 1),
        ("INSERT INTO sales.copy SELECT * FROM sales.contacts", 1),
    ] {
        every_reference_masked(Postgres, sql, n);
    }
    for (sql, n) in [
        ("SELECT * FROM contacts", 1),
        ("SELECT `email` FROM `sales`.`contacts` AS c", 1),
        (
            "SELECT c.email FROM orders o LEFT JOIN contacts c USING (id)",
            1,
        ),
        (
            "SELECT email FROM contacts UNION ALL SELECT email FROM sales.contacts",
            2,
        ),
        (
            "SELECT email FROM contacts WHERE id IN (SELECT id FROM contacts)",
            2,
        ),
    ] {
        every_reference_masked(Mysql, sql, n);
    }
}

#[test]
fn the_reference_keeps_its_alias_or_takes_the_tables_name() {
    let text = ok(Postgres, "SELECT c.email FROM sales.contacts c");
    assert!(text.ends_with(") c"), "{text}");
    let text = ok(Postgres, "SELECT contacts.email FROM sales.contacts");
    assert!(text.ends_with(r#") AS "contacts""#), "{text}");
}

#[test]
fn masks_are_expressions_over_the_column_and_keep_last_hides_short_values() {
    let text = ok(Postgres, "SELECT card FROM sales.contacts");
    assert!(
        text.contains(r#"WHEN char_length(CAST("card" AS TEXT)) > 8 THEN concat('****', right(CAST("card" AS TEXT), 4))"#),
        "{text}"
    );
    let text = ok(Mysql, "SELECT card FROM contacts");
    assert!(text.contains("CAST(`card` AS CHAR)"), "{text}");
    let mut null = rules(&["north"]);
    if let Some(r) = null.get_mut("sales.contacts") {
        r.masks.insert("name".into(), ColumnMask::Null {});
    }
    let text = rewritten(Postgres, "SELECT name FROM sales.contacts", &null).expect("accepted");
    assert!(text.contains(r#"NULL AS "name""#), "{text}");
}

#[test]
fn writes_to_a_governed_table_are_refused() {
    for sql in [
        "UPDATE sales.contacts SET name = 'x' WHERE email = 'a@example.com'",
        "DELETE FROM sales.contacts WHERE email LIKE 'a%'",
        "INSERT INTO sales.contacts (id) VALUES (9)",
        "INSERT INTO SALES.CONTACTS (id) VALUES (9)",
    ] {
        let r = rewritten(Postgres, sql, &rules(&["north"])).expect_err("refused");
        assert_eq!(r.code, "sql_write_governed", "{sql}");
    }
}

#[test]
fn policy_naming_columns_the_table_lacks_refuses_rather_than_reading_unmasked() {
    let mut renamed = rules(&["north"]);
    if let Some(r) = renamed.get_mut("sales.contacts") {
        r.masks.insert("phone".into(), ColumnMask::Redact {});
    }
    let r = rewritten(Postgres, "SELECT * FROM sales.contacts", &renamed).expect_err("refused");
    assert_eq!(r.code, "sql_governance_mismatch");
    assert!(r.message.contains("phone"), "{r:?}");
    let facts = analyze(Postgres, "public", "SELECT * FROM sales.contacts");
    let p = plan(
        Postgres,
        "public",
        facts.canonical.as_deref().expect("canonical"),
        &rules(&["north"]),
    )
    .expect("accepted");
    assert_eq!(
        p.statement(&[vec![]]).expect_err("refused").code,
        "sql_table_not_found"
    );
}

#[test]
fn filter_values_are_literals_whatever_they_hold() {
    let text = rewritten(
        Postgres,
        "SELECT * FROM sales.contacts",
        &rules(&["x' OR '1'='1"]),
    );
    match text {
        Ok(t) => {
            assert!(t.contains("IN ('x'' OR ''1''=''1')"), "{t}");
            let outside = t.replace("'x'' OR ''1''=''1'", "");
            assert!(!outside.contains(" OR "), "{t}");
        }
        Err(r) => assert_eq!(r.code, "sql_literal_not_supported"),
    }
    let r =
        rewritten(Postgres, "SELECT * FROM sales.contacts", &rules(&["a\\"])).expect_err("refused");
    assert_eq!(r.code, "sql_literal_not_supported");
    let text = rewritten(Postgres, "SELECT * FROM sales.contacts", &rules(&[])).expect("accepted");
    assert!(text.contains("WHERE 1 = 0"), "{text}");
}

#[test]
fn statements_without_governed_tables_run_as_analysed() {
    let facts = analyze(Postgres, "public", "SELECT * FROM sales.orders");
    let canonical = facts.canonical.expect("canonical");
    let p = plan(Postgres, "public", &canonical, &rules(&["north"])).expect("accepted");
    assert!(p.governed_tables().is_empty());
    assert_eq!(p.statement(&[]).expect("accepted"), canonical);
    let p = plan(Postgres, "public", &canonical, &BTreeMap::new()).expect("accepted");
    assert_eq!(p.statement(&[]).expect("accepted"), canonical);
}

#[test]
fn a_cte_named_like_the_table_is_not_the_table() {
    let text = ok(
        Postgres,
        "WITH contacts AS (SELECT 1 AS email) SELECT email FROM contacts",
    );
    assert!(!text.contains("OFFSET 0"), "{text}");
}

#[test]
fn partitions_of_a_governed_table_are_refused() {
    let facts = analyze(Mysql, "sales", "SELECT * FROM contacts PARTITION (p0)");
    let Some(canonical) = facts.canonical else {
        return; // the analyser refuses PARTITION itself
    };
    let p = plan(Mysql, "sales", &canonical, &rules(&["north"])).expect("accepted");
    let cols = vec![COLUMNS.iter().map(|c| (*c).to_owned()).collect()];
    assert_eq!(
        p.statement(&cols).expect_err("refused").code,
        "sql_not_rewritable"
    );
}
