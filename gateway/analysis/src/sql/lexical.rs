//! What is refused before parsing: comments the server would execute.
//!
//! MySQL runs the inside of `/*! ... */` (and MariaDB of `/*M! ... */`) as SQL, conditionally
//! on the server version, and reads optimizer hints (`/*+ SET_VAR(...) */`, which change session
//! variables for the statement) from comments. The connector only ever runs the canonical text,
//! which has no comments, so nothing hidden there could run; they are refused anyway, so the
//! caller learns the statement would not run as written. The check is on the raw text, so the
//! sequence inside a string literal is refused too (rare; the hint says how to avoid it).

use super::refusal;
use airlock_gateway_domain::connectors::{SqlDialect, SqlRefusal};

const EXECUTABLE: &[&str] = &["/*!", "/*m!", "/*+"];

pub(super) fn check(dialect: SqlDialect, sql: &str) -> Option<SqlRefusal> {
    if dialect != SqlDialect::Mysql {
        return None;
    }
    let lower = sql.to_ascii_lowercase();
    EXECUTABLE.iter().find(|m| lower.contains(*m)).map(|m| {
        refusal(
            "sql_executable_comment",
            format!("the SQL contains {m:?}: MySQL and MariaDB execute such comments (versioned code, optimizer hints)"),
            "write the SQL plainly without /*! */, /*M! */ or /*+ */ comments; if a string must contain that sequence, build it with CONCAT",
        )
    })
}
