//! SQL for connectors, as an allowlist. The statement is parsed with sqlparser in the
//! connector's dialect and walked by [`walk::Walker`], which accepts only the statement,
//! relation, expression, function, type and literal forms it fully understands and refuses
//! every other form with its own stable code. An accepted statement is printed back from its
//! syntax tree with every table fully qualified ([`SqlFacts::canonical`]): that text, not what
//! the caller sent, is what the connector runs, so comments, server defaults (search path,
//! default database) and dialect quirks cannot make the database read something the analysis
//! did not see.

mod allow;
mod dml;
mod expr;
mod govern;
mod lexical;
mod relation;
mod walk;

#[cfg(test)]
mod govern_tests;
#[cfg(test)]
mod tests;

pub(crate) use govern::plan;

use airlock_gateway_domain::connectors::{SqlDialect, SqlFacts, SqlRefusal, SqlStatementFacts};
use sqlparser::{
    ast::Statement,
    dialect::{Dialect, MySqlDialect, PostgreSqlDialect},
    parser::Parser,
};

/// Parser recursion (nested subqueries, parentheses) beyond which the SQL is refused.
const PARSER_RECURSION_LIMIT: usize = 64;

/// A refusal as the walker builds it.
pub(crate) fn refusal(code: &str, message: impl Into<String>, hint: &str) -> SqlRefusal {
    SqlRefusal {
        code: code.into(),
        message: message.into(),
        hint: hint.into(),
    }
}

fn parser_dialect(d: SqlDialect) -> Box<dyn Dialect> {
    match d {
        SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
        SqlDialect::Mysql => Box::new(MySqlDialect {}),
    }
}

fn parse(dialect: SqlDialect, sql: &str) -> Result<Vec<Statement>, String> {
    let d = parser_dialect(dialect);
    Parser::new(d.as_ref())
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| e.to_string())
}

/// Analyses `sql` for a connector whose unqualified names resolve to `default_schema`.
/// Runs on a large stack: syntax trees of deeply nested input are dropped recursively.
pub fn analyze(dialect: SqlDialect, default_schema: &str, sql: &str) -> SqlFacts {
    crate::stack::on_large_stack(sql.len(), || analyze_here(dialect, default_schema, sql))
}

fn analyze_here(dialect: SqlDialect, default_schema: &str, sql: &str) -> SqlFacts {
    let mut facts = SqlFacts {
        dialect: dialect.as_str().into(),
        ..Default::default()
    };
    if let Some(r) = lexical::check(dialect, sql) {
        facts.refusals.push(r);
        return facts;
    }
    let mut statements = match parse(dialect, sql) {
        Ok(s) => s,
        Err(e) if e.contains("recursion limit") => {
            facts.refusals.push(too_complex());
            return facts;
        }
        Err(e) => {
            facts.error = Some(e);
            return facts;
        }
    };
    for s in statements.iter_mut() {
        let mut w = walk::Walker::new(dialect, default_schema);
        let outcome = w.statement(s);
        facts.statements.push(w.facts(s));
        if let Err(r) = outcome {
            facts.refusals.push(r);
        }
    }
    if let ([only], true) = (statements.as_slice(), facts.refusals.is_empty()) {
        match canonical(dialect, only) {
            Ok(text) => facts.canonical = Some(text),
            Err(r) => facts.refusals.push(r),
        }
    }
    facts
}

pub(crate) fn too_complex() -> SqlRefusal {
    refusal(
        "sql_too_complex",
        "the statement nests too deeply to be analysed",
        "flatten it: fewer nested subqueries and parentheses, shorter chains of operators",
    )
}

/// The accepted statement printed back, checked to parse into the same tree again and to carry
/// no backslash (the one character whose meaning in string literals and quoted names differs
/// between the analyser and the servers' escaping modes).
fn canonical(dialect: SqlDialect, stmt: &Statement) -> Result<String, SqlRefusal> {
    let text = stmt.to_string();
    if text.contains('\\') {
        return Err(refusal(
            "sql_literal_not_supported",
            "backslashes are not accepted in connector SQL (their meaning in strings and names differs between servers and modes)",
            "write the value without backslashes, e.g. chr(92) in PostgreSQL or CHAR(92) in MySQL",
        ));
    }
    match parse(dialect, &text) {
        Ok(again) if again.len() == 1 && &again[0] == stmt => Ok(text),
        _ => Err(refusal(
            "sql_literal_not_supported",
            "the statement does not print back to the same statement (a literal or name in a form the analyser cannot reproduce exactly)",
            "use plain single-quoted strings without repeated quotes and plain or double-quoted names",
        )),
    }
}

/// Facts for a statement the walker refused before looking inside: its kind only.
pub(crate) fn refused_statement_facts(kind: &str) -> SqlStatementFacts {
    SqlStatementFacts {
        kind: kind.into(),
        writes: kind != "select",
        ..Default::default()
    }
}
