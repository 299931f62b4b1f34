use crate::codec::{db, parse, session_from_row};
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead},
    files::FileInfo,
    ids::{ExecutionId, SessionId},
    ports::{
        AuditOutbox, AuditQuery, CredentialLeases, ExecutionStore, FileStore, LeaseRecord,
        RelayChain, RelayLeases, ReviewStore, SessionStore, StoreError, WebhookOutbox,
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
            // A connection to a local file cannot have been dropped by a server: checking it
            // before every use would be one more hand-off to its worker thread per call.
            opts = opts.test_before_acquire(false);
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
