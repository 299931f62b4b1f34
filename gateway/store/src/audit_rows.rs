//! The audit outbox beyond appends: the relay table (how far each chain is published, which
//! replica relays it) and the query behind the audit API.

use crate::codec::{db, parse};
use airlock_gateway_domain::{
    audit::AuditEvent,
    ports::{AuditQuery, RelayChain, StoreError},
};
use sqlx::{AnyPool, Row};

/// Unix milliseconds of the event's `time` (None when it does not parse).
pub fn event_time_ms(e: &AuditEvent) -> Option<i64> {
    time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(crate::codec::ms)
}

/// The principal's subject, for events that carry one.
pub fn event_actor(e: &AuditEvent) -> Option<String> {
    e.data
        .pointer("/principal/subject")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The tenant an event belongs to: its principal's, or a review case's requester's.
pub fn event_tenant(e: &AuditEvent) -> Option<String> {
    ["/principal/tenant", "/requester/tenant"]
        .iter()
        .find_map(|p| e.data.pointer(p).and_then(|v| v.as_str()))
        .map(str::to_owned)
}

pub fn event_session(e: &AuditEvent) -> Option<String> {
    e.data
        .get("session_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| e.subject.clone().filter(|s| s.starts_with("ses_")))
}

fn seq(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub async fn register(pool: &AnyPool, chain_id: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_relay (chain_id) VALUES ($1) ON CONFLICT (chain_id) DO NOTHING")
        .bind(chain_id.to_owned())
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(db)
}

pub async fn chains(pool: &AnyPool) -> Result<Vec<RelayChain>, StoreError> {
    let rows = sqlx::query(
        "SELECT chain_id, published_seq, holder, lease_until FROM audit_relay ORDER BY chain_id",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(RelayChain {
                chain_id: r.try_get("chain_id").map_err(db)?,
                published_seq: seq(r.try_get("published_seq").map_err(db)?),
                holder: r.try_get("holder").map_err(db)?,
                lease_until_ms: r.try_get("lease_until").map_err(db)?,
            })
        })
        .collect()
}

pub async fn claim(
    pool: &AnyPool,
    chain_id: &str,
    holder: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<Option<u64>, StoreError> {
    let done = sqlx::query(
        "UPDATE audit_relay SET holder = $2, lease_until = $4
         WHERE chain_id = $1 AND (holder IS NULL OR holder = $2 OR lease_until < $3)",
    )
    .bind(chain_id.to_owned())
    .bind(holder.to_owned())
    .bind(now_ms)
    .bind(until_ms)
    .execute(pool)
    .await
    .map_err(db)?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT published_seq FROM audit_relay WHERE chain_id = $1")
        .bind(chain_id.to_owned())
        .fetch_one(pool)
        .await
        .map_err(db)?;
    Ok(Some(seq(row.try_get("published_seq").map_err(db)?)))
}

pub async fn mark_published(
    pool: &AnyPool,
    chain_id: &str,
    upto: u64,
    now_ms: i64,
) -> Result<(), StoreError> {
    // Writes only, the first one taking the write lock: a transaction that reads first and
    // writes later cannot wait for SQLite's lock (it fails at once with SQLITE_BUSY when the
    // recorder committed in between).
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "UPDATE audit_outbox SET published_at = $3 WHERE chain_id = $1 AND seq <= $2
         AND seq > (SELECT published_seq FROM audit_relay WHERE chain_id = $1)",
    )
    .bind(chain_id.to_owned())
    .bind(to_i64(upto))
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let done = sqlx::query(
        "UPDATE audit_relay SET published_seq = $2 WHERE chain_id = $1 AND published_seq < $2",
    )
    .bind(chain_id.to_owned())
    .bind(to_i64(upto))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        let known = sqlx::query("SELECT 1 FROM audit_relay WHERE chain_id = $1")
            .bind(chain_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::Corrupt(format!(
                "chain {chain_id} is not registered for relaying"
            )));
        }
    }
    tx.commit().await.map_err(db)
}

pub async fn query(pool: &AnyPool, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
    // Built from fixed fragments; every value is bound, never formatted into the SQL.
    let mut sql = String::from("SELECT body FROM audit_outbox WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if q.actor.is_some() {
        sql += &format!(" AND actor = ${}", next());
    }
    if q.session_id.is_some() {
        sql += &format!(" AND session_id = ${}", next());
    }
    if q.event_type.is_some() {
        sql += &format!(" AND event_type = ${}", next());
    }
    if q.since_ms.is_some() {
        sql += &format!(" AND time_ms >= ${}", next());
    }
    if q.until_ms.is_some() {
        sql += &format!(" AND time_ms < ${}", next());
    }
    if q.tenant.is_some() {
        sql += &format!(" AND tenant = ${}", next());
    }
    if q.after.is_some() {
        sql += &format!(" AND event_id > ${}", next());
    }
    sql += &format!(" ORDER BY event_id LIMIT ${}", next());
    let mut query = sqlx::query(&sql);
    for v in [&q.actor, &q.session_id, &q.event_type]
        .into_iter()
        .flatten()
    {
        query = query.bind(v.clone());
    }
    for v in [q.since_ms, q.until_ms].into_iter().flatten() {
        query = query.bind(v);
    }
    if let Some(t) = &q.tenant {
        query = query.bind(t.clone());
    }
    if let Some(after) = &q.after {
        query = query.bind(after.clone());
    }
    query = query.bind(i64::from(q.limit));
    let rows = query.fetch_all(pool).await.map_err(db)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
        .collect()
}
