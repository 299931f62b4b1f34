use crate::codec::{db, json, ms, parse, session_from_row};
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead},
    files::FileInfo,
    ids::{ExecutionId, SessionId},
    ports::{
        AuditOutbox, AuditQuery, Change, CredentialLeases, ExecutionStore, FileStore, LeaseRecord,
        RelayChain, RelayLeases, ReviewStore, SessionStore, StateCommit, StoreError, WebhookOutbox,
    },
    review::{CaseId, CaseQuery, CaseStatus, ReviewCase},
    session::SessionStatus,
    webhooks::WebhookDelivery,
    Execution, Session,
};
use async_trait::async_trait;
use sqlx::{
    any::{AnyPoolOptions, AnyRow},
    AnyPool, Row,
};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error("unsupported database URL scheme (use sqlite:// or postgres://)")]
    Scheme,
    #[error("connecting to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("running migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

pub struct SqlStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Connects; `migrate` applies pending migrations first (the default for `serve`).
    pub async fn connect(url: &str, migrate: bool) -> Result<Self, StoreOpenError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreOpenError::Scheme);
        };
        let mut opts =
            AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 4 } else { 16 });
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(url).await.map_err(StoreOpenError::Connect)?;
        let store = Self { pool, backend };
        if migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreOpenError> {
        let m = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        m.run(&self.pool).await.map_err(StoreOpenError::Migrate)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

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

/// `INSERT ... VALUES ($1, ..., $10), ($11, ...)` for `n` events.
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

#[async_trait]
impl StateCommit for SqlStore {
    async fn commit(&self, changes: Vec<Change>, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for change in changes {
            match change {
                Change::PutSession(s) => {
                    sqlx::query(UPSERT_SESSION)
                        .bind(s.id.to_string())
                        .bind(s.owner.owner_key())
                        .bind(json(&s.owner)?)
                        .bind(s.status.as_str())
                        .bind(s.status_reason.clone())
                        .bind(ms(s.created_at))
                        .bind(ms(s.expires_at))
                        .bind(ms(s.last_active_at))
                        .bind(json(&s.limits)?)
                        .bind(json(&s.labels)?)
                        .bind(s.instance_id.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                Change::PutExecution(e) => {
                    sqlx::query(UPSERT_EXECUTION)
                        .bind(e.id.to_string())
                        .bind(e.session_id.to_string())
                        .bind(e.owner_key.clone())
                        .bind(e.status.as_str())
                        .bind(json(&e)?)
                        .bind(ms(e.created_at))
                        .bind(e.tenant.clone())
                        .bind(e.end_code())
                        .bind(ms(e.created_at) / 3_600_000)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                Change::PutFile { session_id, file } => {
                    sqlx::query(UPSERT_FILE)
                        .bind(session_id.to_string())
                        .bind(file.path.clone())
                        .bind(i64::try_from(file.size).unwrap_or(i64::MAX))
                        .bind(file.sha256.clone())
                        .bind(file.classification.clone())
                        .bind(file.media_type.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                Change::PutCase(c) => crate::reviews::put_case(&mut tx, &c).await?,
                Change::PutWebhook(d) => crate::webhooks::put(&mut tx, &d).await?,
                Change::AddUsage(u) => crate::usage::add(&mut tx, &u).await?,
                Change::PutAccessKey(k) => crate::access_keys::put(&mut tx, &k).await?,
            }
        }
        // One statement per chunk of events, not one per event: every statement is a round trip
        // to the database (for SQLite, to its worker thread), and a commit's events go together.
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            let sql = insert_events_sql(chunk.len());
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.chainid.clone())
                    .bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
                    .bind(e.id.clone())
                    .bind(e.event_type.clone())
                    .bind(e.subject.clone())
                    .bind(e.hash.clone())
                    .bind(json(e)?)
                    .bind(crate::audit_rows::event_time_ms(e))
                    .bind(crate::audit_rows::event_actor(e))
                    .bind(crate::audit_rows::event_session(e))
                    .bind(crate::audit_rows::event_tenant(e));
            }
            q.execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db)
    }
}

#[async_trait]
impl ReviewStore for SqlStore {
    async fn case(&self, id: &CaseId) -> Result<Option<ReviewCase>, StoreError> {
        crate::reviews::case(&self.pool, id).await
    }

    async fn cases(&self, query: &CaseQuery) -> Result<Vec<ReviewCase>, StoreError> {
        crate::reviews::cases(&self.pool, query).await
    }

    async fn cases_expiring(&self, now_ms: i64, limit: u32) -> Result<Vec<ReviewCase>, StoreError> {
        crate::reviews::cases_expiring(&self.pool, now_ms, limit).await
    }

    async fn count_cases(&self, status: CaseStatus) -> Result<u64, StoreError> {
        crate::reviews::count_cases(&self.pool, status).await
    }
}

#[async_trait]
impl WebhookOutbox for SqlStore {
    async fn webhooks_pending(
        &self,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        crate::webhooks::pending(&self.pool, endpoint, limit).await
    }

    async fn webhook_delivered(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        crate::webhooks::delivered(&self.pool, id, at_ms).await
    }

    async fn webhook_failed(
        &self,
        id: &str,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        crate::webhooks::failed(&self.pool, id, next_attempt_ms, error).await
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn sessions_by_status(&self, status: SessionStatus) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query("SELECT * FROM sessions WHERE status = $1 ORDER BY id")
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn sessions_of_owner(
        &self,
        owner_key: &str,
        status: Option<SessionStatus>,
        before: Option<&SessionId>,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        crate::listing::sessions_of_owner(&self.pool, owner_key, status, before, limit).await
    }
}

#[async_trait]
impl ExecutionStore for SqlStore {
    async fn execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        let row = sqlx::query("SELECT body FROM executions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
            .transpose()
    }

    async fn executions_of_session(
        &self,
        session: &SessionId,
        before: Option<&ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        crate::listing::executions_of_session(&self.pool, session, before, limit).await
    }

    async fn orphaned_executions(&self, instance_id: &str) -> Result<Vec<Execution>, StoreError> {
        crate::listing::orphaned_executions(&self.pool, instance_id).await
    }
}

#[async_trait]
impl FileStore for SqlStore {
    async fn files(&self, session: &SessionId) -> Result<Vec<FileInfo>, StoreError> {
        let rows = sqlx::query("SELECT path, size, sha256, classification, media_type FROM files WHERE session_id = $1 ORDER BY path")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(file_from_row).collect()
    }
}

#[async_trait]
impl AuditOutbox for SqlStore {
    async fn audit_head(&self, chain_id: &str) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM audit_outbox WHERE chain_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain_id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(ChainHead {
                seq: u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
                hash: r.try_get("hash").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn audit_events_after(
        &self,
        chain_id: &str,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM audit_outbox WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain_id.to_owned())
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| parse(&r.try_get::<String, _>("body").map_err(db)?))
            .collect()
    }

    async fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        crate::audit_rows::query(&self.pool, query).await
    }
}

#[async_trait]
impl RelayLeases for SqlStore {
    async fn audit_relay_register(&self, chain_id: &str) -> Result<(), StoreError> {
        crate::audit_rows::register(&self.pool, chain_id).await
    }

    async fn audit_relay_chains(&self) -> Result<Vec<RelayChain>, StoreError> {
        crate::audit_rows::chains(&self.pool).await
    }

    async fn audit_relay_claim(
        &self,
        chain_id: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        crate::audit_rows::claim(&self.pool, chain_id, holder, now_ms, until_ms).await
    }

    async fn audit_mark_published(
        &self,
        chain_id: &str,
        seq: u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        crate::audit_rows::mark_published(&self.pool, chain_id, seq, now_ms).await
    }
}

#[async_trait]
impl CredentialLeases for SqlStore {
    async fn lease_opened(&self, l: &LeaseRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO credential_leases (lease_hash, lease_id, instance_id, connector, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(l.lease_hash.clone())
            .bind(l.lease_id.clone())
            .bind(l.instance_id.clone())
            .bind(l.connector.clone())
            .bind(l.issued_at_ms)
            .bind(l.expires_at_ms)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db)
    }

    async fn lease_closed(&self, lease_hash: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE credential_leases SET revoked_at = $2 WHERE lease_hash = $1")
            .bind(lease_hash.to_owned())
            .bind(at_ms)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db)
    }

    async fn leases_open(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        let rows = sqlx::query("SELECT lease_hash, lease_id, instance_id, connector, issued_at, expires_at FROM credential_leases WHERE revoked_at IS NULL ORDER BY issued_at")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRecord {
                    lease_hash: r.try_get("lease_hash").map_err(db)?,
                    lease_id: r.try_get("lease_id").map_err(db)?,
                    instance_id: r.try_get("instance_id").map_err(db)?,
                    connector: r.try_get("connector").map_err(db)?,
                    issued_at_ms: r.try_get("issued_at").map_err(db)?,
                    expires_at_ms: r.try_get("expires_at").map_err(db)?,
                })
            })
            .collect()
    }
}

fn file_from_row(r: &AnyRow) -> Result<FileInfo, StoreError> {
    Ok(FileInfo {
        path: r.try_get("path").map_err(db)?,
        size: u64::try_from(r.try_get::<i64, _>("size").map_err(db)?).unwrap_or(0),
        sha256: r.try_get("sha256").map_err(db)?,
        classification: r.try_get("classification").map_err(db)?,
        media_type: r.try_get("media_type").map_err(db)?,
    })
}
