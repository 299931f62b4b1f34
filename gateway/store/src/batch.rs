//! A commit as a list of statements with their arguments, run one of two ways:
//!
//! - in a transaction, one statement after another (PostgreSQL, and any commit with a write
//!   that checks a version);
//! - on SQLite, as one script `BEGIN IMMEDIATE; ...; COMMIT` in a single call. sqlx runs each
//!   SQLite connection on a worker thread of its own, and every call is a hand-off to that
//!   thread and back; an execution's commit made five to seven of them, each a thread wake-up
//!   on the request path. A script is one, whatever the number of statements.

use crate::codec::db;
use airlock_gateway_domain::ports::StoreError;
use sqlx::{any::AnyArguments, query::Query, Any, AnyPool, Transaction};
use std::borrow::Cow;

/// One argument of a statement.
pub(crate) enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

impl Arg {
    fn bind(self, q: AnyQuery<'_>) -> AnyQuery<'_> {
        match self {
            Self::Text(v) => q.bind(v),
            Self::OptText(v) => q.bind(v),
            Self::Int(v) => q.bind(v),
            Self::OptInt(v) => q.bind(v),
        }
    }
}

/// A statement whose arguments are `$1`, `$2`, ... in the order of `args`.
pub(crate) struct Statement {
    pub sql: Cow<'static, str>,
    pub args: Vec<Arg>,
}

impl Statement {
    pub(crate) async fn execute(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let mut q = sqlx::query(&self.sql);
        for a in self.args {
            q = a.bind(q);
        }
        q.execute(&mut **tx).await.map_err(db)?;
        Ok(())
    }
}

/// SQLite's limit on a parameter's number (`SQLITE_MAX_VARIABLE_NUMBER`, 32766 since 3.32),
/// with a margin; a larger commit runs as a transaction instead.
pub(crate) const MAX_SCRIPT_ARGS: usize = 30_000;

/// `statements` as one script that commits them all or nothing: each statement's `$n`
/// renumbered after the arguments of those before it.
pub(crate) fn script(statements: Vec<Statement>) -> (String, Vec<Arg>) {
    let mut sql = String::from("BEGIN IMMEDIATE;\n");
    let mut args = Vec::new();
    for s in statements {
        sql.push_str(&renumber(&s.sql, args.len()));
        sql.push_str(";\n");
        args.extend(s.args);
    }
    sql.push_str("COMMIT;");
    (sql, args)
}

/// `$n` -> `$(n + offset)`. The statements are the store's own constants: no `$` appears in
/// a string literal of theirs.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&format!("${}", n + offset)),
            Err(_) => out.push('$'),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Runs a script from [`script`] on one pooled connection, in a task of its own: a caller
/// that goes away (a client that hung up) must not stop it half-way with its transaction
/// open on a connection the pool hands out again. On an error the transaction is rolled
/// back; a connection that cannot be rolled back is closed, not returned to the pool.
pub(crate) async fn run_script(
    pool: &AnyPool,
    sql: String,
    args: Vec<Arg>,
) -> Result<(), StoreError> {
    let pool = pool.clone();
    let task = tokio::spawn(async move {
        let mut conn = pool.acquire().await.map_err(db)?;
        let mut q = sqlx::query(&sql);
        for a in args {
            q = a.bind(q);
        }
        let Err(e) = q.execute(&mut *conn).await else {
            return Ok(());
        };
        if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
            // Nothing to roll back (BEGIN itself failed), or the connection is broken:
            // either way a fresh one is cheaper than doubt about its state.
            drop(conn.detach());
        }
        Err(db(e))
    });
    task.await
        .map_err(|e| StoreError::Database(airlock_gateway_domain::Cause::new(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_moves_every_parameter_after_the_earlier_ones() {
        assert_eq!(
            renumber(
                "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO UPDATE SET b = $2",
                9
            ),
            "INSERT INTO t (a, b) VALUES ($10, $11) ON CONFLICT DO UPDATE SET b = $11"
        );
        assert_eq!(renumber("SELECT 1", 5), "SELECT 1");
        assert_eq!(renumber("$12,$3", 0), "$12,$3");
    }

    #[test]
    fn a_script_wraps_its_statements_in_one_immediate_transaction() {
        let s = |sql: &'static str, n: i64| Statement {
            sql: sql.into(),
            args: vec![Arg::Int(n), Arg::Text(n.to_string())],
        };
        let (sql, args) = script(vec![
            s("INSERT INTO a VALUES ($1, $2)", 1),
            s("INSERT INTO b VALUES ($1, $2)", 2),
        ]);
        assert_eq!(
            sql,
            "BEGIN IMMEDIATE;\nINSERT INTO a VALUES ($1, $2);\nINSERT INTO b VALUES ($3, $4);\nCOMMIT;"
        );
        assert_eq!(args.len(), 4);
    }
}
