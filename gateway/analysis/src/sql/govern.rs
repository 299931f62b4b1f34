//! Column masks and row filters: the analysed statement rewritten so that every reference of a
//! governed table reads a derived table of its masked columns and permitted rows.
//!
//! `FROM sales.contacts c` becomes
//! `FROM (SELECT "id", CASE ... END AS "email", ... FROM "sales"."contacts" WHERE "region" IN ('north') OFFSET 0) AS c`,
//! so `SELECT *`, expressions, grouping, joins, subqueries, CTEs and set operations all see
//! the masked view: the table itself is named nowhere else in the statement. The derived table
//! is an optimisation fence (`OFFSET 0` in PostgreSQL, a `LIMIT` in MySQL/MariaDB: neither
//! server merges such a derived table into the outer query or pushes the outer conditions into
//! it), so a condition of the caller's that raises an error (`1/0` on some value) is never
//! evaluated on a row the filter removes. Its column list comes from the database (the
//! connector reads it with the run's login in the statement's transaction), so a column added
//! later is masked by name or not there at all.
//!
//! The result is printed and analysed again from the text: it must be accepted whole, read the
//! same tables, and name each governed table only inside the derived tables. Anything else is
//! refused; so are writes to a governed table.

use super::{analyze_here, parse, refusal};
use airlock_gateway_domain::connectors::{
    ColumnMask, FilterValue, PlainStatement, SqlDialect, SqlRefusal, StatementPlan, TableName,
    TableRules,
};
use sqlparser::ast::{
    Ident, ObjectName, Query, SetExpr, Statement, TableAlias, TableFactor, Value, VisitMut,
    VisitorMut,
};
use std::{collections::BTreeMap, ops::ControlFlow};

/// A statement with the rules of the governed tables it reads, waiting for their columns.
pub struct GovernedStatement {
    dialect: SqlDialect,
    default_schema: String,
    statement: Statement,
    /// The statement's length in bytes (for the stack its rewrite runs on).
    len: usize,
    tables: Vec<TableName>,
    rules: Vec<TableRules>,
}

/// Plans `canonical` (an accepted statement as analysis printed it) under `governed` (policy's
/// rules by `schema.table`, matched without regard to case: on a server whose names are not
/// case-sensitive, `Sales.Contacts` is the same table).
pub fn plan(
    dialect: SqlDialect,
    default_schema: &str,
    canonical: &str,
    governed: &BTreeMap<String, TableRules>,
) -> Result<Box<dyn StatementPlan>, SqlRefusal> {
    if governed.is_empty() {
        return Ok(Box::new(PlainStatement(canonical.to_owned())));
    }
    let rules: BTreeMap<String, &TableRules> = governed
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    let facts = analyze_here(dialect, default_schema, canonical);
    let (Some(_), [s]) = (facts.canonical.as_ref(), facts.statements.as_slice()) else {
        return Err(not_rewritable(
            "the statement is not one the analyser accepts whole",
        ));
    };
    if let Some(t) = s
        .writes_to
        .iter()
        .find(|t| rules.contains_key(&t.to_lowercase()))
    {
        return Err(refusal(
            "sql_write_governed",
            format!("{t} is read through column masks or row filters and cannot be changed through a connector"),
            "change it through a process that owns the data; here, read it",
        ));
    }
    let mut tables = vec![];
    let mut table_rules = vec![];
    for read in &s.reads {
        if let Some(r) = rules.get(&read.to_lowercase()) {
            let (schema, table) = read.split_once('.').unwrap_or((default_schema, read));
            tables.push(TableName {
                schema: schema.to_owned(),
                table: table.to_owned(),
            });
            table_rules.push((*r).clone());
        }
    }
    if tables.is_empty() {
        return Ok(Box::new(PlainStatement(canonical.to_owned())));
    }
    let statement = parse(dialect, canonical)
        .ok()
        .and_then(|mut v| v.pop())
        .ok_or_else(|| not_rewritable("the statement does not parse again"))?;
    Ok(Box::new(GovernedStatement {
        dialect,
        default_schema: default_schema.to_owned(),
        statement,
        len: canonical.len(),
        tables,
        rules: table_rules,
    }))
}

impl StatementPlan for GovernedStatement {
    fn governed_tables(&self) -> &[TableName] {
        &self.tables
    }

    fn statement(&self, columns: &[Vec<String>]) -> Result<String, SqlRefusal> {
        crate::stack::on_large_stack(self.len, || self.rewrite(columns))
    }
}

impl GovernedStatement {
    fn rewrite(&self, columns: &[Vec<String>]) -> Result<String, SqlRefusal> {
        let mut views = BTreeMap::new();
        for (i, t) in self.tables.iter().enumerate() {
            let cols = columns.get(i).map(Vec::as_slice).unwrap_or_default();
            views.insert(
                t.clone(),
                masked_view(self.dialect, t, cols, &self.rules[i])?,
            );
        }
        let mut stmt = self.statement.clone();
        let mut replacer = Replacer {
            views: &views,
            replaced: 0,
        };
        if let ControlFlow::Break(r) = stmt.visit(&mut replacer) {
            return Err(r);
        }
        let text = stmt.to_string();
        self.check(&text, replacer.replaced)?;
        Ok(text)
    }

    /// The rewritten text, analysed again: accepted whole, the same tables read, every
    /// governed table named exactly once per derived table that reads it.
    fn check(&self, text: &str, replaced: usize) -> Result<(), SqlRefusal> {
        let before = analyze_here(
            self.dialect,
            &self.default_schema,
            &self.statement.to_string(),
        );
        let after = analyze_here(self.dialect, &self.default_schema, text);
        if let Some(r) = after.refusals.first() {
            return Err(r.clone());
        }
        let reads = |f: &airlock_gateway_domain::connectors::SqlFacts| {
            f.statements.first().map(|s| s.reads.clone())
        };
        if after.canonical.as_deref() != Some(text) || reads(&before) != reads(&after) {
            return Err(not_rewritable(
                "the rewritten statement does not analyse as written",
            ));
        }
        let mut stmt = parse(self.dialect, text)
            .ok()
            .and_then(|mut v| v.pop())
            .ok_or_else(|| not_rewritable("the rewritten statement does not parse"))?;
        let mut named = 0usize;
        let governed: Vec<ObjectName> = self
            .tables
            .iter()
            .map(|t| qualified(self.dialect, t))
            .collect();
        let _ = sqlparser::ast::visit_relations_mut(&mut stmt, |n| {
            if governed.iter().any(|g| same_name(g, n)) {
                named += 1;
            }
            ControlFlow::<()>::Continue(())
        });
        if named != replaced {
            return Err(not_rewritable(
                "a governed table is named outside the masked view",
            ));
        }
        Ok(())
    }
}

fn not_rewritable(why: &str) -> SqlRefusal {
    refusal(
        "sql_not_rewritable",
        format!("the statement reads a table under column masks or row filters and cannot be rewritten safely: {why}"),
        "read the table with a plain SELECT over it (joins, subqueries, CTEs and grouping are fine)",
    )
}

/// Replaces each reference of a governed table, after its children are visited (so the
/// derived table put in its place is not visited again).
struct Replacer<'a> {
    views: &'a BTreeMap<TableName, Query>,
    replaced: usize,
}

impl VisitorMut for Replacer<'_> {
    type Break = SqlRefusal;

    fn post_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<SqlRefusal> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            partitions,
            ..
        } = t
        else {
            return ControlFlow::Continue(());
        };
        let Some((table, view)) = self.views.iter().find(|(k, _)| names(name, k)) else {
            return ControlFlow::Continue(());
        };
        if !partitions.is_empty() {
            return ControlFlow::Break(not_rewritable("a PARTITION clause"));
        }
        let alias = alias.take().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: name
                .0
                .last()
                .and_then(|p| p.as_ident().cloned())
                .unwrap_or_else(|| Ident::new(table.table.clone())),
            columns: vec![],
            at: None,
        });
        *t = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(view.clone()),
            alias: Some(alias),
            sample: None,
        };
        self.replaced += 1;
        ControlFlow::Continue(())
    }
}

/// Whether `name` (qualified and quoted by the analyser) is `t`.
fn names(name: &ObjectName, t: &TableName) -> bool {
    let parts: Vec<&str> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.as_str()))
        .collect();
    parts == [t.schema.as_str(), t.table.as_str()]
}

fn same_name(a: &ObjectName, b: &ObjectName) -> bool {
    let values = |n: &ObjectName| -> Vec<String> {
        n.0.iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
            .collect()
    };
    values(a) == values(b)
}

fn quote(d: SqlDialect) -> char {
    match d {
        SqlDialect::Postgres => '"',
        SqlDialect::Mysql => '`',
    }
}

fn qualified(d: SqlDialect, t: &TableName) -> ObjectName {
    ObjectName::from(vec![
        Ident::with_quote(quote(d), t.schema.clone()),
        Ident::with_quote(quote(d), t.table.clone()),
    ])
}

/// The derived table's query: every column in the table's order, masked ones as their mask,
/// rows through the filter, behind the dialect's optimisation fence.
fn masked_view(
    d: SqlDialect,
    t: &TableName,
    columns: &[String],
    rules: &TableRules,
) -> Result<Query, SqlRefusal> {
    if columns.is_empty() {
        return Err(refusal(
            "sql_table_not_found",
            format!("{t} is not a table this login can read"),
            "check the table's name",
        ));
    }
    let find = |wanted: &str| columns.iter().any(|c| c.eq_ignore_ascii_case(wanted));
    let missing: Vec<&str> = rules
        .masks
        .keys()
        .chain(rules.row_filter.iter().map(|c| &c.column))
        .map(String::as_str)
        .filter(|c| !find(c))
        .collect();
    if !missing.is_empty() {
        return Err(refusal(
            "sql_governance_mismatch",
            format!(
                "policy masks or filters columns {} has not got ({}); nothing is read until the policy names its columns",
                t,
                missing.join(", ")
            ),
            "ask the policy's owners to update the table's rules",
        ));
    }
    let q = quote(d);
    let col = |c: &str| Ident::with_quote(q, c.to_owned()).to_string();
    let projection: Vec<String> = columns
        .iter()
        .map(|c| {
            let mask = rules
                .masks
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c))
                .map(|(_, m)| m);
            match mask {
                None => col(c),
                Some(m) => format!("{} AS {}", mask_expr(d, &col(c), m), col(c)),
            }
        })
        .collect();
    let filter = match rules.row_filter.as_slice() {
        [] => String::new(),
        conditions => {
            let each: Vec<String> = conditions
                .iter()
                .map(|c| condition(&col(&c.column), &c.one_of))
                .collect();
            format!(" WHERE {}", each.join(" AND "))
        }
    };
    let fence = match d {
        SqlDialect::Postgres => "OFFSET 0",
        SqlDialect::Mysql => "LIMIT 18446744073709551615",
    };
    let text = format!(
        "SELECT {} FROM {}{filter} {fence}",
        projection.join(", "),
        qualified(d, t)
    );
    match parse(d, &text).ok().and_then(|mut v| v.pop()) {
        Some(Statement::Query(query)) if matches!(*query.body, SetExpr::Select(_)) => Ok(*query),
        _ => Err(not_rewritable(&format!(
            "the masked view of {t} does not parse"
        ))),
    }
}

fn mask_expr(d: SqlDialect, c: &str, m: &ColumnMask) -> String {
    let text = match d {
        SqlDialect::Postgres => format!("CAST({c} AS TEXT)"),
        SqlDialect::Mysql => format!("CAST({c} AS CHAR)"),
    };
    match m {
        ColumnMask::Null {} => "NULL".into(),
        ColumnMask::Redact {} => format!("CASE WHEN {c} IS NULL THEN NULL ELSE '****' END"),
        ColumnMask::KeepLast { keep } => format!(
            "CASE WHEN {c} IS NULL THEN NULL WHEN char_length({text}) > {} THEN concat('****', right({text}, {keep})) ELSE '****' END",
            u32::from(*keep) * 2
        ),
    }
}

/// `c IN (...)` with each value printed by sqlparser as a literal (never spliced text); no
/// value lets no row through.
fn condition(c: &str, values: &[FilterValue]) -> String {
    if values.is_empty() {
        return "1 = 0".into();
    }
    let literals: Vec<String> = values
        .iter()
        .map(|v| match v {
            FilterValue::Text(s) => Value::SingleQuotedString(s.clone()).to_string(),
            FilterValue::Number(n) => Value::Number(n.to_string(), false).to_string(),
        })
        .collect();
    format!("{c} IN ({})", literals.join(", "))
}
