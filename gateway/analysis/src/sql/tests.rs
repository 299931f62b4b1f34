use super::*;
use airlock_gateway_domain::connectors::SqlDialect::{Mysql, Postgres};

fn pg(sql: &str) -> SqlFacts {
    analyze(Postgres, "public", sql)
}

fn my(sql: &str) -> SqlFacts {
    analyze(Mysql, "shop", sql)
}

fn codes(f: &SqlFacts) -> Vec<&str> {
    f.refusals.iter().map(|r| r.code.as_str()).collect()
}

/// Accepted, with these reads, and a canonical text that names them qualified.
fn accepted(f: &SqlFacts, reads: &[&str]) {
    assert!(f.refusals.is_empty() && f.error.is_none(), "{f:?}");
    assert_eq!(f.statements.len(), 1);
    assert_eq!(f.statements[0].reads, reads, "{f:?}");
    assert!(f.canonical.is_some());
}

#[test]
fn reads_resolve_schemas_and_follow_joins_ctes_and_subqueries() {
    let f = pg("WITH big AS (SELECT * FROM sales.orders WHERE amount > 10)
                SELECT c.name, b.amount FROM big b JOIN Sales.Customers c ON c.id = b.customer_id
                WHERE c.region IN (SELECT region FROM regions) -- trailing comment");
    accepted(&f, &["public.regions", "sales.customers", "sales.orders"]);
    let text = f.canonical.as_deref().unwrap_or_default();
    assert!(text.contains(r#""sales"."orders""#), "{text}");
    assert!(text.contains(r#""public"."regions""#), "{text}");
    assert!(
        !text.contains("comment"),
        "comments are not part of what runs: {text}"
    );
}

#[test]
fn quoted_names_keep_their_case_and_unquoted_fold_like_the_server() {
    // PostgreSQL: "Sales" is another schema than sales.
    accepted(&pg(r#"SELECT * FROM "Sales".orders"#), &["Sales.orders"]);
    accepted(&pg("SELECT * FROM SALES.Orders"), &["sales.orders"]);
    // MySQL on Linux: database and table names are case-sensitive, kept as written.
    accepted(&my("SELECT * FROM SALES.orders"), &["SALES.orders"]);
    accepted(&my("SELECT * FROM `orders`"), &["shop.orders"]);
    // Names whose dots or stars would make schema.table ambiguous.
    assert_eq!(
        codes(&pg(r#"SELECT * FROM "sales.x".y"#)),
        ["sql_identifier_not_supported"]
    );
    assert_eq!(
        codes(&my("SELECT * FROM `sales*`.y")),
        ["sql_identifier_not_supported"]
    );
    // A catalog or database prefix is not silently dropped.
    assert_eq!(
        codes(&pg("SELECT * FROM otherdb.hr.salaries")),
        ["sql_relation_not_supported"]
    );
}

#[test]
fn cte_names_are_scoped_like_sql() {
    // The outer `salaries` is the real table: the CTE lives only inside the subquery.
    accepted(
        &pg("SELECT * FROM (WITH salaries AS (SELECT 1 AS a) SELECT * FROM salaries) x, salaries"),
        &["public.salaries"],
    );
    // A non-recursive CTE does not see itself: the inner name is the table.
    accepted(
        &pg("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders"),
        &["public.orders"],
    );
    // Earlier CTEs are visible to later ones, later ones are not to earlier ones.
    accepted(
        &pg("WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b"),
        &[],
    );
    accepted(
        &pg("WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a"),
        &["public.b"],
    );
    // RECURSIVE: PostgreSQL allows forward references, MySQL only itself and earlier ones.
    accepted(
        &pg("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a"),
        &[],
    );
    accepted(
        &my("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a"),
        &["shop.b"],
    );
    // A qualified name is never a CTE.
    accepted(
        &pg("WITH x AS (SELECT 1) SELECT * FROM public.x"),
        &["public.x"],
    );
}

#[test]
fn only_plain_reads_and_writes_are_statements() {
    for sql in [
        "DROP TABLE hr.salaries",
        "CREATE TABLE x (id int)",
        "GRANT SELECT ON hr.salaries TO public",
        "COPY hr.salaries TO '/tmp/x'",
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "SET search_path = hr",
        "SET ROLE postgres",
        "RESET ALL",
        "EXPLAIN ANALYZE SELECT * FROM hr.salaries",
        "DO $$ BEGIN PERFORM 1; END $$",
        "CALL p()",
        "PREPARE q AS SELECT * FROM hr.salaries",
        "EXECUTE q",
        "DEALLOCATE q",
        "LISTEN x",
        "NOTIFY x",
        "LOCK TABLE sales.orders",
        "VACUUM sales.orders",
        "SHOW search_path",
        "TRUNCATE sales.orders",
        "MERGE INTO sales.orders o USING hr.salaries s ON true WHEN MATCHED THEN DELETE",
        "ALTER TABLE sales.orders ADD COLUMN x int",
        "DECLARE c CURSOR FOR SELECT * FROM hr.salaries",
    ] {
        let f = pg(sql);
        assert!(
            f.error.is_some() || codes(&f).contains(&"sql_statement_not_allowed"),
            "{sql}: {f:?}"
        );
        assert!(f.canonical.is_none(), "{sql}");
    }
    for sql in [
        "SELECT * INTO copy_of FROM sales.orders",
        "WITH gone AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM gone",
        "WITH x AS (INSERT INTO sales.t VALUES (1) RETURNING *) SELECT * FROM x",
        "WITH x AS (UPDATE sales.t SET a = 1 RETURNING *) SELECT * FROM x",
    ] {
        assert_eq!(codes(&pg(sql)), ["sql_statement_not_allowed"], "{sql}");
    }
    for sql in [
        "SET @a = 1",
        "SELECT * FROM shop.orders INTO OUTFILE '/tmp/x'",
        "HANDLER hr.salaries OPEN",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE shop.t",
        "USE hr",
        "SHOW TABLES",
        "DO SLEEP(10)",
    ] {
        let f = my(sql);
        assert!(
            f.error.is_some() || codes(&f).contains(&"sql_statement_not_allowed"),
            "{sql}: {f:?}"
        );
        assert!(f.canonical.is_none(), "{sql}");
    }
}

#[test]
fn granted_writes_are_understood_and_everything_else_refused() {
    let f = pg("INSERT INTO sales.staging (id, amount) SELECT id, amount FROM sales.orders");
    assert!(f.refusals.is_empty(), "{f:?}");
    assert_eq!(f.statements[0].writes_to, ["sales.staging"]);
    assert_eq!(f.statements[0].reads, ["sales.orders"]);
    let f = pg("UPDATE sales.staging SET amount = 0 WHERE id = 1");
    assert_eq!(
        (f.statements[0].kind.as_str(), f.statements[0].writes),
        ("update", true)
    );
    assert_eq!(f.statements[0].writes_to, ["sales.staging"]);
    let f = my("DELETE FROM staging WHERE id = 1");
    assert_eq!(f.statements[0].writes_to, ["shop.staging"]);
    for sql in [
        "INSERT INTO sales.t VALUES (1) ON CONFLICT DO NOTHING",
        "UPDATE sales.t SET a = s.a FROM hr.salaries s",
        "DELETE FROM sales.t USING hr.salaries s WHERE true",
    ] {
        assert_eq!(codes(&pg(sql)), ["sql_clause_not_supported"], "{sql}");
    }
    assert_eq!(
        codes(&my("DELETE s, o FROM shop.s JOIN hr.o ON true")),
        ["sql_clause_not_supported"]
    );
}

#[test]
fn functions_are_allowlisted_per_dialect() {
    accepted(
        &pg("SELECT region, count(*), sum(amount), round(avg(amount)::numeric, 2), string_agg(name, ', ' ORDER BY name),
                    row_number() OVER (PARTITION BY region ORDER BY amount DESC)
             FROM sales.orders GROUP BY region, name, amount"),
        &["sales.orders"],
    );
    accepted(
        &my("SELECT region, GROUP_CONCAT(name SEPARATOR ','), IFNULL(x, 0), DATE_FORMAT(d, '%Y') FROM orders GROUP BY region"),
        &["shop.orders"],
    );
    for sql in [
        "SELECT query_to_xml('select * from hr.salaries', true, true, '')",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_import('/etc/passwd')",
        "SELECT dblink('host=x', 'select 1')",
        "SELECT set_config('search_path', 'hr', false)",
        "SELECT current_setting('data_directory')",
        "SELECT pg_sleep(10)",
        "SELECT nextval('sales.seq')",
        "SELECT pg_advisory_lock(1)",
        "SELECT version()",
        "SELECT * FROM sales.orders WHERE pg_notify('x', 'y') IS NULL",
        "SELECT pg_catalog.lower('x')",
        "SELECT sales.myfunc(1)",
        "SELECT \"LOWER\"('x')",
        "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
        "SELECT * FROM pg_ls_dir('/')",
        "SELECT cursor_to_xml('c', 1, true, true, '')",
        "SELECT table_to_xml('hr.salaries', true, true, '')",
    ] {
        let f = pg(sql);
        assert!(
            codes(&f).contains(&"sql_function_not_allowed"),
            "{sql}: {f:?}"
        );
    }
    for sql in [
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT SLEEP(10)",
        "SELECT BENCHMARK(1000000, MD5('x'))",
        "SELECT GET_LOCK('x', 10)",
        "SELECT DATABASE()",
        "SELECT USER()",
        "SELECT sys_exec('id')",
    ] {
        let f = my(sql);
        assert!(
            codes(&f).contains(&"sql_function_not_allowed"),
            "{sql}: {f:?}"
        );
    }
}

#[test]
fn casts_literals_variables_and_operators() {
    for (sql, code) in [
        ("SELECT 'hr.salaries'::regclass", "sql_type_not_allowed"),
        (
            "SELECT x::sales.mytype FROM sales.orders",
            "sql_type_not_allowed",
        ),
        ("SELECT $$x$$", "sql_literal_not_supported"),
        ("SELECT E'\\x41'", "sql_literal_not_supported"),
        ("SELECT U&'\\0041'", "sql_literal_not_supported"),
        ("SELECT $1", "sql_variable_not_allowed"),
        (
            "SELECT 1 OPERATOR(pg_catalog.+) 1",
            "sql_expression_not_supported",
        ),
        ("SELECT 'a\\b'", "sql_literal_not_supported"),
    ] {
        let f = pg(sql);
        assert!(codes(&f).contains(&code), "{sql}: {f:?}");
    }
    for (sql, code) in [
        ("SELECT @a := 1", "sql_expression_not_supported"),
        ("SELECT @a", "sql_variable_not_allowed"),
        ("SELECT @@secure_file_priv", "sql_variable_not_allowed"),
        ("SELECT _utf8'x'", "sql_literal_not_supported"),
        ("SELECT 'a\\\\b'", "sql_literal_not_supported"),
        ("SELECT \"dq\"", "sql_literal_not_supported"),
        ("SELECT X'41'", "sql_literal_not_supported"),
    ] {
        let f = my(sql);
        assert!(codes(&f).contains(&code), "{sql}: {f:?}");
    }
    // Plain literals survive the round trip, including doubled quotes.
    accepted(
        &pg("SELECT * FROM sales.orders WHERE name = 'O''Brien' AND d > DATE '2024-01-01'"),
        &["sales.orders"],
    );
    accepted(
        &my("SELECT * FROM orders WHERE name = 'O''Brien'"),
        &["shop.orders"],
    );
    // A MySQL backslash-escaped quote is the same character, printed the standard way.
    assert_eq!(
        my("SELECT 'a\\'b'").canonical.as_deref(),
        Some("SELECT 'a''b'")
    );
}

#[test]
fn mysql_executable_comments_are_refused_and_other_comments_dropped() {
    for sql in [
        "SELECT 1 /*!, (SELECT pw FROM mysql.user) */",
        "SELECT 1 /*!50000 , (SELECT pw FROM mysql.user) */",
        "SELECT 1 /*M!, (SELECT pw FROM mysql.user) */",
        "SELECT /*+ SET_VAR(sql_mode='') */ 1",
    ] {
        assert_eq!(codes(&my(sql)), ["sql_executable_comment"], "{sql}");
    }
    // `--1` is not a comment in MySQL (`1--1` is 2); the analyser agrees or refuses.
    let f = my("SELECT 1--1, name FROM orders");
    assert!(f.refusals.is_empty(), "{f:?}");
    assert_eq!(f.statements[0].reads, ["shop.orders"]);
    let f = my("SELECT name FROM orders # , (SELECT pw FROM mysql.user)\n WHERE 1 = 1");
    accepted(&f, &["shop.orders"]);
    // PostgreSQL nests block comments.
    let f = pg("SELECT 1 /* outer /* inner */ still comment */ FROM sales.orders");
    accepted(&f, &["sales.orders"]);
}

#[test]
fn relations_other_than_tables_and_subqueries_are_refused() {
    for sql in [
        "TABLE hr.salaries",
        "SELECT * FROM sales.orders FOR UPDATE",
        "SELECT * FROM sales.orders TABLESAMPLE SYSTEM (10)",
        "SELECT * FROM ROWS FROM (generate_series(1, 2)) AS t",
        "SELECT * FROM XMLTABLE('/x' PASSING '<x/>' COLUMNS a int) AS t",
    ] {
        let f = pg(sql);
        assert!(f.error.is_some() || !f.refusals.is_empty(), "{sql}: {f:?}");
        assert!(f.canonical.is_none(), "{sql}");
    }
    accepted(&pg("SELECT * FROM generate_series(1, 3) AS g(n)"), &[]);
    accepted(&pg("SELECT current_user"), &[]);
    accepted(&pg("SELECT * FROM sales.orders o, LATERAL (SELECT * FROM sales.items i WHERE i.o = o.id) x"), &["sales.items", "sales.orders"]);
    let f = my("SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS t");
    assert!(f.error.is_some() || !f.refusals.is_empty(), "{f:?}");
}

#[test]
fn every_read_is_found_wherever_it_hides() {
    for (sql, hidden) in [
        (
            "SELECT (SELECT max(amount) FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders WHERE EXISTS (SELECT 1 FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders WHERE id IN (SELECT id FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders WHERE id = ANY (SELECT id FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders UNION SELECT * FROM hr.salaries",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders o JOIN (hr.salaries s JOIN sales.x y ON true) ON true",
            "hr.salaries",
        ),
        (
            "SELECT CASE WHEN true THEN (SELECT 1 FROM hr.salaries) END",
            "hr.salaries",
        ),
        (
            "SELECT count(*) FILTER (WHERE id IN (SELECT id FROM hr.salaries)) FROM sales.orders",
            "hr.salaries",
        ),
        (
            "SELECT sum(a) OVER (PARTITION BY (SELECT 1 FROM hr.salaries)) FROM sales.orders",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders ORDER BY (SELECT 1 FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders LIMIT (SELECT 1 FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "SELECT * FROM sales.orders GROUP BY a HAVING max(a) > (SELECT 1 FROM hr.salaries)",
            "hr.salaries",
        ),
        (
            "WITH x AS (SELECT * FROM hr.salaries) SELECT 1",
            "hr.salaries",
        ),
        (
            "SELECT * FROM (VALUES ((SELECT 1 FROM hr.salaries))) v",
            "hr.salaries",
        ),
        (
            "SELECT * FROM unnest(ARRAY(SELECT id FROM hr.salaries))",
            "hr.salaries",
        ),
    ] {
        let f = pg(sql);
        let seen = f
            .statements
            .first()
            .is_some_and(|s| s.reads.iter().any(|r| r == hidden));
        // Either refused outright, or the hidden read is in the facts for policy to judge.
        assert!(
            !f.refusals.is_empty() || f.error.is_some() || seen,
            "{sql}: {f:?}"
        );
    }
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let deep_parens = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let chain = format!("SELECT 1{}", "+1".repeat(200_000));
    let subqueries = format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000));
    let nots = format!("SELECT {}true", "NOT ".repeat(100_000));
    for sql in [deep_parens, chain, subqueries, nots] {
        let f = pg(&sql);
        assert!(
            codes(&f).contains(&"sql_too_complex") || f.error.is_some(),
            "{}...: {:?}",
            &sql[..40],
            f.refusals
        );
        assert!(f.canonical.is_none());
    }
    // Ordinary nesting is fine.
    accepted(
        &pg(&format!(
            "SELECT {}1{} FROM sales.orders",
            "(".repeat(20),
            ")".repeat(20)
        )),
        &["sales.orders"],
    );
}

#[test]
fn batches_and_garbage() {
    let f = pg("SELECT 1; DROP TABLE hr.salaries");
    assert_eq!(f.statements.len(), 2);
    assert!(f.canonical.is_none());
    assert!(pg("SELEC * FROM").error.is_some());
    assert!(pg("").canonical.is_none());
}
