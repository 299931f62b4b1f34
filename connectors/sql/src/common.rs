//! What the PostgreSQL and MySQL connectors share.

use airlock_gateway_domain::connectors::{ConnectorError, SqlResult};
use airlock_gateway_domain::Cause;
use std::time::Duration;

/// "Could not reach" (503 connector_unavailable) against "the database refused" (sql_error).
pub(crate) fn map_err(e: sqlx::Error) -> ConnectorError {
    match e {
        sqlx::Error::Database(d) => ConnectorError::Query(d.message().to_owned()),
        sqlx::Error::Io(e) => ConnectorError::Unavailable(Cause::new(e)),
        sqlx::Error::Tls(e) => ConnectorError::Unavailable(Cause::boxed(e)),
        sqlx::Error::PoolTimedOut => ConnectorError::Unavailable(Cause::msg("timed out")),
        other => ConnectorError::Query(other.to_string()),
    }
}

/// The statement without trailing semicolons (it is wrapped in a subquery).
pub(crate) fn statement(sql: &str) -> &str {
    sql.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// Connects within `d` (a database that does not answer is unavailable, not slow).
pub(crate) async fn connect_within<C>(
    d: Duration,
    connect: impl std::future::Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, ConnectorError> {
    tokio::time::timeout(d, connect)
        .await
        .map_err(|_| {
            ConnectorError::Unavailable(Cause::msg(format!("no connection within {d:?}")))
        })?
        .map_err(map_err)
}

/// Adds one row unless the cap is reached; false once the result is truncated.
pub(crate) fn push_row(out: &mut SqlResult, max_rows: u64, row: Vec<serde_json::Value>) -> bool {
    if out.rows.len() as u64 >= max_rows {
        out.truncated = true;
        return false;
    }
    out.rows.push(row);
    true
}
