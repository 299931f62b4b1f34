//! SQL for connectors, parsed with sqlparser in the connector's dialect: statement kinds, and
//! the fully qualified tables each statement reads and writes (default schema resolved, CTE
//! names left out, subqueries and joins followed).

use airlock_gateway_domain::connectors::{SqlDialect, SqlFacts, SqlStatementFacts};
use sqlparser::{
    ast::{ObjectName, Query, Statement, Visit, Visitor},
    dialect::{Dialect, MySqlDialect, PostgreSqlDialect},
    parser::Parser,
};
use std::{collections::BTreeSet, ops::ControlFlow};

/// Collects relations, CTE names, and whether anything but a plain query appears.
#[derive(Default)]
struct Collect {
    relations: Vec<ObjectName>,
    ctes: BTreeSet<String>,
    nested_statements: usize,
    select_into: bool,
    locking: bool,
}

impl Visitor for Collect {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.relations.push(relation.clone());
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        if !query.locks.is_empty() {
            self.locking = true;
        }
        if let sqlparser::ast::SetExpr::Select(s) = query.body.as_ref() {
            if s.into.is_some() {
                self.select_into = true;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, _s: &Statement) -> ControlFlow<()> {
        self.nested_statements += 1;
        ControlFlow::Continue(())
    }
}

fn part_name(p: &sqlparser::ast::ObjectNamePart) -> String {
    match p.as_ident() {
        Some(i) => i.value.to_lowercase(),
        None => p.to_string().to_lowercase(),
    }
}

/// `schema.table` for a relation name (a database or catalog prefix is dropped).
fn qualify(name: &ObjectName, default_schema: &str) -> String {
    let parts: Vec<String> = name.0.iter().map(part_name).collect();
    match parts.as_slice() {
        [table] => format!("{default_schema}.{table}"),
        [.., schema, table] => format!("{schema}.{table}"),
        [] => String::new(),
    }
}

fn kind(s: &Statement) -> &'static str {
    match s {
        Statement::Query(_) => "select",
        Statement::Insert(_) => "insert",
        Statement::Update { .. } => "update",
        Statement::Delete(_) => "delete",
        Statement::Merge { .. } => "merge",
        Statement::CreateTable(_) | Statement::CreateView { .. } | Statement::CreateIndex(_) => {
            "create"
        }
        Statement::Drop { .. } => "drop",
        Statement::AlterTable { .. } => "alter",
        Statement::Truncate { .. } => "truncate",
        Statement::Grant { .. } => "grant",
        Statement::Revoke { .. } => "revoke",
        Statement::Copy { .. } => "copy",
        Statement::Explain { .. } | Statement::ExplainTable { .. } => "explain",
        Statement::Set(_) => "set",
        _ => "other",
    }
}

fn statement_facts(s: &Statement, default_schema: &str) -> SqlStatementFacts {
    let mut c = Collect::default();
    let _ = s.visit(&mut c);
    let kind = kind(s);
    let tables: BTreeSet<String> = c
        .relations
        .iter()
        .filter(|r| !(r.0.len() == 1 && c.ctes.contains(&part_name(&r.0[0]))))
        .map(|r| qualify(r, default_schema))
        .filter(|t| !t.is_empty())
        .collect();
    // A query is a read only when nothing inside it changes anything: no data-modifying CTE
    // (a nested statement), no SELECT INTO, no row locks.
    let writes = match kind {
        "select" => c.nested_statements > 1 || c.select_into || c.locking,
        "explain" => c.nested_statements > 1,
        _ => true,
    };
    let target = match s {
        Statement::Insert(i) => match &i.table {
            sqlparser::ast::TableObject::TableName(n) => Some(qualify(n, default_schema)),
            _ => None,
        },
        _ => None,
    };
    let writes_to = match (writes, target) {
        (false, _) => vec![],
        (true, Some(t)) => vec![t],
        (true, None) => tables.iter().cloned().collect(),
    };
    SqlStatementFacts {
        kind: kind.into(),
        writes,
        reads: tables.into_iter().collect(),
        writes_to,
    }
}

pub fn analyze(dialect: SqlDialect, default_schema: &str, sql: &str) -> SqlFacts {
    let d: Box<dyn Dialect> = match dialect {
        SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
        SqlDialect::Mysql => Box::new(MySqlDialect {}),
    };
    let default_schema = default_schema.to_lowercase();
    match Parser::parse_sql(d.as_ref(), sql) {
        Ok(stmts) => SqlFacts {
            dialect: dialect.as_str().into(),
            statements: stmts
                .iter()
                .map(|s| statement_facts(s, &default_schema))
                .collect(),
            error: None,
        },
        Err(e) => SqlFacts {
            dialect: dialect.as_str().into(),
            statements: vec![],
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> SqlFacts {
        analyze(SqlDialect::Postgres, "public", sql)
    }

    #[test]
    fn reads_resolve_schemas_and_follow_joins_ctes_and_subqueries() {
        let f = pg("WITH big AS (SELECT * FROM sales.orders WHERE amount > 10)
                    SELECT c.name, b.amount FROM big b JOIN Sales.Customers c ON c.id = b.customer_id
                    WHERE c.region IN (SELECT region FROM regions)");
        assert_eq!(f.error, None);
        assert_eq!(f.statements.len(), 1);
        let s = &f.statements[0];
        assert_eq!((s.kind.as_str(), s.writes), ("select", false));
        assert_eq!(
            s.reads,
            ["public.regions", "sales.customers", "sales.orders"]
        );
    }

    #[test]
    fn writes_and_hidden_writes_are_writes() {
        for sql in [
            "INSERT INTO sales.orders (id) VALUES (1)",
            "UPDATE sales.orders SET amount = 0",
            "DELETE FROM sales.orders",
            "DROP TABLE hr.salaries",
            "CREATE TABLE x (id int)",
            "GRANT SELECT ON hr.salaries TO public",
            "WITH gone AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM gone",
            "SELECT * INTO copy_of FROM sales.orders",
            "SELECT * FROM sales.orders FOR UPDATE",
        ] {
            let f = pg(sql);
            assert_eq!(f.error, None, "{sql}");
            assert!(f.statements.iter().all(|s| s.writes), "{sql}: {f:?}");
        }
        let f = pg("INSERT INTO sales.orders SELECT * FROM hr.salaries");
        assert_eq!(f.statements[0].writes_to, ["sales.orders"]);
        assert_eq!(f.statements[0].reads, ["hr.salaries", "sales.orders"]);
    }

    #[test]
    fn batches_comments_and_garbage() {
        assert_eq!(pg("SELECT 1; DROP TABLE hr.salaries").statements.len(), 2);
        // A comment does not hide a statement from the parser.
        let f = pg("SELECT 1 /* harmless */; -- and\nDELETE FROM sales.orders");
        assert_eq!(f.statements.len(), 2);
        assert!(pg("SELEC * FROM").error.is_some());
        // MySQL quoting in the MySQL dialect.
        let f = analyze(
            SqlDialect::Mysql,
            "shop",
            "SELECT * FROM `orders` o JOIN hr.salaries s ON 1=1",
        );
        assert_eq!(f.statements[0].reads, ["hr.salaries", "shop.orders"]);
    }
}
