//! Review cases: versioned writes (a stale version is a conflict, not an overwrite) and the
//! listings of reviewers, requesters and the expiry sweeper.

use crate::codec::{db, json, ms, parse};
use airlock_gateway_domain::{
    ports::StoreError,
    review::{scope_of, CaseId, CaseQuery, CaseStatus, ReviewCase},
};
use sqlx::{Any, AnyPool, Row, Transaction};

const INSERT_CASE: &str = "INSERT INTO review_cases (id, execution_id, session_id, status, tenant, requester_key, created_at, expires_at, version, body, reviewer_scope)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const UPDATE_CASE: &str =
    "UPDATE review_cases SET status = $1, version = $2, body = $3, decided_at = COALESCE(decided_at, $6)
 WHERE id = $4 AND version = $5";

/// Inserts a case at version 1, or moves it from `version - 1` to `version`.
pub async fn put_case(tx: &mut Transaction<'_, Any>, c: &ReviewCase) -> Result<(), StoreError> {
    let version = i64::try_from(c.version).unwrap_or(i64::MAX);
    if c.version <= 1 {
        sqlx::query(INSERT_CASE)
            .bind(c.id.to_string())
            .bind(c.execution_id.to_string())
            .bind(c.session_id.to_string())
            .bind(c.status.as_str())
            .bind(c.tenant().map(str::to_owned))
            .bind(c.requester.owner_key())
            .bind(ms(c.created_at))
            .bind(ms(c.expires_at))
            .bind(version)
            .bind(json(c)?)
            .bind(c.reviewer_scope())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        return Ok(());
    }
    let done = sqlx::query(UPDATE_CASE)
        .bind(c.status.as_str())
        .bind(version)
        .bind(json(c)?)
        .bind(c.id.to_string())
        .bind(version - 1)
        .bind((c.status != CaseStatus::Pending).then(|| ms(c.updated_at)))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("case {} changed", c.id)));
    }
    Ok(())
}

pub async fn case(pool: &AnyPool, id: &CaseId) -> Result<Option<ReviewCase>, StoreError> {
    let row = sqlx::query("SELECT body FROM review_cases WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
        .transpose()
}

pub async fn cases(pool: &AnyPool, q: &CaseQuery) -> Result<Vec<ReviewCase>, StoreError> {
    // Ids are UUIDv7 with a fixed prefix: their order is creation order.
    let mut sql = String::from("SELECT body FROM review_cases WHERE 1 = 1");
    let mut binds: Vec<String> = vec![];
    let mut param = |sql: &mut String, clause: &str, v: String| {
        binds.push(v);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(s) = q.status {
        param(&mut sql, " AND status = ?", s.as_str().to_owned());
    }
    match &q.tenant {
        Some(Some(t)) => param(&mut sql, " AND tenant = ?", t.clone()),
        Some(None) => sql.push_str(" AND tenant IS NULL"),
        None => {}
    }
    if let Some(r) = &q.requester {
        param(&mut sql, " AND requester_key = ?", r.clone());
    }
    if let Some(t) = &q.reviewer_tenant {
        param(
            &mut sql,
            " AND reviewer_scope IN ('*', ?)",
            scope_of(t.as_deref()),
        );
    }
    if let Some(b) = &q.before {
        param(&mut sql, " AND id < ?", b.to_string());
    }
    // Times are numbers: bound after the text parameters, numbered after them.
    let mut times = vec![];
    for (clause, t) in [
        (" AND created_at >= ", q.created_since_ms),
        (" AND created_at < ", q.created_until_ms),
    ] {
        if let Some(t) = t {
            times.push(t);
            sql.push_str(&format!("{clause}${}", binds.len() + times.len()));
        }
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", q.limit.max(1)));
    let mut query = sqlx::query(&sql);
    for b in binds {
        query = query.bind(b);
    }
    for t in times {
        query = query.bind(t);
    }
    let rows = query.fetch_all(pool).await.map_err(db)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
        .collect()
}

pub async fn cases_expiring(
    pool: &AnyPool,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<ReviewCase>, StoreError> {
    let rows = sqlx::query(
        "SELECT body FROM review_cases WHERE status = $1 AND expires_at <= $2 ORDER BY expires_at LIMIT $3",
    )
    .bind(CaseStatus::Pending.as_str())
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
        .collect()
}

pub async fn count_cases(pool: &AnyPool, status: CaseStatus) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM review_cases WHERE status = $1")
        .bind(status.as_str())
        .fetch_one(pool)
        .await
        .map_err(db)?
        .try_get("n")
        .map_err(db)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
