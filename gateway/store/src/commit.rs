//! `StateCommit`: a commit's changes and audit events as statements (`batch.rs`), written
//! atomically: on SQLite as one script in one call when every change is a plain write, else
//! in a transaction (PostgreSQL, and commits with a review case, whose write checks its
//! version).

use crate::{
    batch::{self, Arg, Statement},
    codec::{db, json, ms},
    sql_store::{Backend, SqlStore},
};
use airlock_gateway_domain::{
    audit::AuditEvent,
    files::FileInfo,
    ids::SessionId,
    ports::{Change, StateCommit, StoreError},
    Execution, Session,
};
use async_trait::async_trait;

const UPSERT_SESSION: &str = "INSERT INTO sessions (id, owner_key, principal, status, status_reason, created_at, expires_at, last_active_at, limits, labels, instance_id)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
 ON CONFLICT (id) DO UPDATE SET status = excluded.status, status_reason = excluded.status_reason,
 expires_at = excluded.expires_at, last_active_at = excluded.last_active_at, labels = excluded.labels";
const UPSERT_EXECUTION: &str = "INSERT INTO executions (id, session_id, owner_key, status, body, created_at, tenant, end_code, created_hour) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
 ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body, end_code = excluded.end_code";
const UPSERT_FILE: &str = "INSERT INTO files (session_id, path, size, sha256, classification, media_type) VALUES ($1, $2, $3, $4, $5, $6)
 ON CONFLICT (session_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
 classification = COALESCE(excluded.classification, files.classification), media_type = excluded.media_type";
const INSERT_EVENTS: &str = "INSERT INTO audit_outbox (chain_id, seq, event_id, event_type, subject, hash, body, time_ms, actor, session_id, tenant) VALUES ";
/// Columns of one event row.
const EVENT_COLUMNS: usize = 11;
/// Events per INSERT: 1,100 parameters, well under SQLite's and PostgreSQL's limits.
const EVENTS_PER_INSERT: usize = 100;

/// `INSERT ... VALUES ($1, ..., $11), ($12, ...)` for `n` events.
fn insert_events_sql(n: usize) -> String {
    let mut sql = String::from(INSERT_EVENTS);
    for row in 0..n {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..EVENT_COLUMNS {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * EVENT_COLUMNS + col + 1));
        }
        sql.push(')');
    }
    sql
}

fn session(s: &Session) -> Result<Statement, StoreError> {
    Ok(Statement {
        sql: UPSERT_SESSION.into(),
        args: vec![
            Arg::Text(s.id.to_string()),
            Arg::Text(s.owner.owner_key()),
            Arg::Text(json(&s.owner)?),
            Arg::Text(s.status.as_str().into()),
            Arg::OptText(s.status_reason.clone()),
            Arg::Int(ms(s.created_at)),
            Arg::Int(ms(s.expires_at)),
            Arg::Int(ms(s.last_active_at)),
            Arg::Text(json(&s.limits)?),
            Arg::Text(json(&s.labels)?),
            Arg::Text(s.instance_id.clone()),
        ],
    })
}

fn execution(e: &Execution) -> Result<Statement, StoreError> {
    Ok(Statement {
        sql: UPSERT_EXECUTION.into(),
        args: vec![
            Arg::Text(e.id.to_string()),
            Arg::Text(e.session_id.to_string()),
            Arg::Text(e.owner_key.clone()),
            Arg::Text(e.status.as_str().into()),
            Arg::Text(json(e)?),
            Arg::Int(ms(e.created_at)),
            Arg::OptText(e.tenant.clone()),
            Arg::OptText(e.end_code()),
            Arg::Int(ms(e.created_at) / 3_600_000),
        ],
    })
}

fn file(session_id: &SessionId, f: &FileInfo) -> Statement {
    Statement {
        sql: UPSERT_FILE.into(),
        args: vec![
            Arg::Text(session_id.to_string()),
            Arg::Text(f.path.clone()),
            Arg::Int(i64::try_from(f.size).unwrap_or(i64::MAX)),
            Arg::Text(f.sha256.clone()),
            Arg::OptText(f.classification.clone()),
            Arg::Text(f.media_type.clone()),
        ],
    }
}

/// One statement per chunk of events, not one per event: a commit's events go together.
fn events(events: &[AuditEvent]) -> Result<Vec<Statement>, StoreError> {
    let mut out = Vec::new();
    for chunk in events.chunks(EVENTS_PER_INSERT) {
        let mut args = Vec::with_capacity(chunk.len() * EVENT_COLUMNS);
        for e in chunk {
            args.extend([
                Arg::Text(e.chainid.clone()),
                Arg::Int(i64::try_from(e.seq).unwrap_or(i64::MAX)),
                Arg::Text(e.id.clone()),
                Arg::Text(e.event_type.clone()),
                Arg::OptText(e.subject.clone()),
                Arg::Text(e.hash.clone()),
                Arg::Text(json(e)?),
                Arg::OptInt(crate::audit_rows::event_time_ms(e)),
                Arg::OptText(crate::audit_rows::event_actor(e)),
                Arg::OptText(crate::audit_rows::event_session(e)),
                Arg::OptText(crate::audit_rows::event_tenant(e)),
            ]);
        }
        out.push(Statement {
            sql: insert_events_sql(chunk.len()).into(),
            args,
        });
    }
    Ok(out)
}

/// One write of a commit, in the order the commit gives them (a review case refers to the
/// execution written before it).
enum Write {
    Plain(Statement),
    /// A review case: its write checks the version it was read at.
    Case(Box<airlock_gateway_domain::review::ReviewCase>),
}

impl Write {
    fn of(change: Change) -> Result<Self, StoreError> {
        Ok(Self::Plain(match change {
            Change::PutSession(s) => session(&s)?,
            Change::PutExecution(e) => execution(&e)?,
            Change::PutFile {
                session_id,
                file: f,
            } => file(&session_id, &f),
            Change::AddUsage(u) => crate::usage::statement(&u),
            Change::PutWebhook(d) => crate::webhooks::statement(&d),
            Change::PutAccessKey(k) => crate::access_keys::statement(&k)?,
            Change::PutCase(c) => return Ok(Self::Case(c)),
        }))
    }

    fn plain(self) -> Option<Statement> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Case(_) => None,
        }
    }
}

#[async_trait]
impl StateCommit for SqlStore {
    async fn commit(&self, changes: Vec<Change>, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut writes = changes
            .into_iter()
            .map(Write::of)
            .collect::<Result<Vec<_>, _>>()?;
        writes.extend(self::events(events)?.into_iter().map(Write::Plain));
        if self.backend() == Backend::Sqlite && fits_a_script(&writes) {
            let plain = writes.into_iter().filter_map(Write::plain).collect();
            let (sql, args) = batch::script(plain);
            return batch::run_script(&self.pool, sql, args).await;
        }
        self.in_transaction(writes).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db)
    }
}

/// Plain writes only, and few enough arguments for SQLite's limit.
fn fits_a_script(writes: &[Write]) -> bool {
    let mut args = 0;
    for w in writes {
        match w {
            Write::Plain(s) => args += s.args.len(),
            Write::Case(_) => return false,
        }
    }
    args <= batch::MAX_SCRIPT_ARGS
}

impl SqlStore {
    async fn in_transaction(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for w in writes {
            match w {
                Write::Plain(s) => s.execute(&mut tx).await?,
                Write::Case(c) => crate::reviews::put_case(&mut tx, &c).await?,
            }
        }
        tx.commit().await.map_err(db)
    }
}
