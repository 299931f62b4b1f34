//! Listings for callers (their sessions, a session's executions, newest first, cursor pages)
//! and the executions a restart left unfinished.

use crate::codec::{db, parse, session_from_row};
use airlock_gateway_domain::{
    ids::{ExecutionId, SessionId},
    ports::StoreError,
    session::SessionStatus,
    Execution, Session,
};
use sqlx::{AnyPool, Row};

pub async fn sessions_of_owner(
    pool: &AnyPool,
    owner_key: &str,
    status: Option<SessionStatus>,
    before: Option<&SessionId>,
    limit: u32,
) -> Result<Vec<Session>, StoreError> {
    // Ids are UUIDv7 with a fixed prefix: their order is creation order.
    let mut sql = String::from("SELECT * FROM sessions WHERE owner_key = $1");
    let mut n = 1;
    if status.is_some() {
        n += 1;
        sql.push_str(&format!(" AND status = ${n}"));
    }
    if before.is_some() {
        n += 1;
        sql.push_str(&format!(" AND id < ${n}"));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
    let mut q = sqlx::query(&sql).bind(owner_key.to_owned());
    if let Some(s) = status {
        q = q.bind(s.as_str());
    }
    if let Some(b) = before {
        q = q.bind(b.to_string());
    }
    let rows = q.bind(i64::from(limit)).fetch_all(pool).await.map_err(db)?;
    rows.iter().map(session_from_row).collect()
}

pub async fn executions_of_session(
    pool: &AnyPool,
    session: &SessionId,
    before: Option<&ExecutionId>,
    limit: u32,
) -> Result<Vec<Execution>, StoreError> {
    let rows = match before {
        Some(b) => sqlx::query(
            "SELECT body FROM executions WHERE session_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(session.to_string())
        .bind(b.to_string())
        .bind(i64::from(limit)),
        None => sqlx::query(
            "SELECT body FROM executions WHERE session_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(session.to_string())
        .bind(i64::from(limit)),
    }
    .fetch_all(pool)
    .await
    .map_err(db)?;
    bodies(&rows)
}

/// Executions not ended whose session this instance ran, or whose session has ended: nobody
/// runs them any more.
pub async fn orphaned_executions(
    pool: &AnyPool,
    instance_id: &str,
) -> Result<Vec<Execution>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.body FROM executions e JOIN sessions s ON s.id = e.session_id
         WHERE e.status IN ('queued', 'running') AND (s.instance_id = $1 OR s.status <> 'active')
         ORDER BY e.id",
    )
    .bind(instance_id.to_owned())
    .fetch_all(pool)
    .await
    .map_err(db)?;
    bodies(&rows)
}

/// Executions from their JSON `body` column.
fn bodies(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Execution>, StoreError> {
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
        .collect()
}
