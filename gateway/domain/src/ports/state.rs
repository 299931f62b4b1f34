//! The state store: changes committed with their audit events, and what reads them back.

use crate::{
    audit::{AuditEvent, ChainHead},
    execution::Execution,
    files::FileInfo,
    ids::{ExecutionId, SessionId},
    session::{Session, SessionStatus},
    Cause,
};
use async_trait::async_trait;

// ---------------------------------------------------------------------------------------------
// State

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] Cause),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A versioned write found another version: someone changed the record first. Nothing of
    /// the commit was applied.
    #[error("changed concurrently: {0}")]
    Conflict(String),
}

/// A state change, applied atomically together with the audit events that record it.
#[derive(Clone, Debug)]
pub enum Change {
    PutSession(Box<Session>),
    /// An execution; one with an empty `audit_id` gets the id of the last event committed
    /// with it.
    PutExecution(Box<Execution>),
    PutFile {
        session_id: SessionId,
        file: FileInfo,
    },
    /// A review case at `case.version`: inserted when `case.version` is 1, else applied only
    /// over version `case.version - 1` (the commit fails with [`StoreError::Conflict`]).
    PutCase(Box<crate::review::ReviewCase>),
    /// A webhook delivery for the outbox (inserted; its id is new).
    PutWebhook(crate::webhooks::WebhookDelivery),
    /// Usage added to a principal's figures of a day.
    AddUsage(crate::usage::UsageEntry),
    /// A personal access key, inserted or replaced (revocation).
    PutAccessKey(Box<crate::access_keys::AccessKey>),
}

/// Applying a state change together with the audit events that record it.
#[async_trait]
pub trait StateCommit: Send + Sync {
    /// Applies `changes` and appends `events` to the audit outbox in one transaction.
    async fn commit(&self, changes: Vec<Change>, events: &[AuditEvent]) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;
    async fn sessions_by_status(&self, status: SessionStatus) -> Result<Vec<Session>, StoreError>;
    /// An owner's sessions, newest first, before the cursor `before`.
    async fn sessions_of_owner(
        &self,
        owner_key: &str,
        status: Option<SessionStatus>,
        before: Option<&SessionId>,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError>;
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    async fn execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError>;
    /// A session's executions, newest first, before the cursor `before`.
    async fn executions_of_session(
        &self,
        session: &SessionId,
        before: Option<&ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError>;
    /// Executions not ended (`queued`, `running`) whose session is `instance_id`'s or has
    /// ended: after a restart nobody runs them.
    async fn orphaned_executions(&self, instance_id: &str) -> Result<Vec<Execution>, StoreError>;
}

#[async_trait]
pub trait FileStore: Send + Sync {
    async fn files(&self, session: &SessionId) -> Result<Vec<FileInfo>, StoreError>;
}

/// The audit outbox: the chain's events as committed, for sinks catching up and for readers.
#[async_trait]
pub trait AuditOutbox: Send + Sync {
    async fn audit_head(&self, chain_id: &str) -> Result<Option<ChainHead>, StoreError>;
    /// Outbox events of a chain after `seq`, in order (for sinks catching up).
    async fn audit_events_after(
        &self,
        chain_id: &str,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Events matching `query` in event-id order (UUIDv7: time order), after `query.after`.
    async fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The relay from the outbox to an external log (Kafka): its progress and leases.
#[async_trait]
pub trait RelayLeases: Send + Sync {
    /// Registers a chain for relaying (idempotent).
    async fn audit_relay_register(&self, chain_id: &str) -> Result<(), StoreError>;
    /// Chains known to the relay table with their published sequence number.
    async fn audit_relay_chains(&self) -> Result<Vec<RelayChain>, StoreError>;
    /// Takes or renews the relay lease of `chain_id` for `holder` until `until_ms`; returns the
    /// published sequence number when the lease is held, None when another holder has it.
    async fn audit_relay_claim(
        &self,
        chain_id: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<u64>, StoreError>;
    /// Marks the events of `chain_id` up to `seq` as acknowledged by the external log. The
    /// published sequence number never goes backwards.
    async fn audit_mark_published(
        &self,
        chain_id: &str,
        seq: u64,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

/// Leases of issued database credentials, kept until they are revoked.
#[async_trait]
pub trait CredentialLeases: Send + Sync {
    /// Records a lease before its credential is used.
    async fn lease_opened(&self, lease: &LeaseRecord) -> Result<(), StoreError>;
    /// Marks a lease revoked.
    async fn lease_closed(&self, lease_hash: &str, at_ms: i64) -> Result<(), StoreError>;
    /// Leases not yet revoked (every instance's).
    async fn leases_open(&self) -> Result<Vec<LeaseRecord>, StoreError>;
}

pub use crate::review::ReviewStore;
pub use crate::webhooks::WebhookOutbox;

/// The gateway's state: every entity's port, implemented together by one database adapter.
/// Usage figures (added by [`Change::AddUsage`]).
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Each principal's usage over the query's days, by tenant then principal.
    async fn usage(
        &self,
        q: &crate::usage::UsageQuery,
    ) -> Result<Vec<crate::usage::UsageTotal>, StoreError>;
}

/// Personal access keys (written by [`Change::PutAccessKey`]).
#[async_trait]
pub trait AccessKeyStore: Send + Sync {
    /// The key whose secret has this hex SHA-256, revoked or not.
    async fn access_key_by_digest(
        &self,
        secret_sha256: &str,
    ) -> Result<Option<crate::access_keys::AccessKey>, StoreError>;
    /// An owner's keys, newest first.
    async fn access_keys_of_owner(
        &self,
        owner_key: &str,
    ) -> Result<Vec<crate::access_keys::AccessKey>, StoreError>;
}

pub use crate::stats::StatsStore;

pub trait Store:
    StateCommit
    + StatsStore
    + AccessKeyStore
    + UsageStore
    + ReviewStore
    + WebhookOutbox
    + SessionStore
    + ExecutionStore
    + FileStore
    + AuditOutbox
    + RelayLeases
    + CredentialLeases
{
}

impl<T> Store for T where
    T: StateCommit
        + StatsStore
        + AccessKeyStore
        + UsageStore
        + ReviewStore
        + WebhookOutbox
        + SessionStore
        + ExecutionStore
        + FileStore
        + AuditOutbox
        + RelayLeases
        + CredentialLeases
{
}

/// An issued credential's lease, kept until it is revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    pub lease_hash: String,
    pub lease_id: String,
    pub instance_id: String,
    pub connector: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
}

/// A chain as the relay sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayChain {
    pub chain_id: String,
    pub published_seq: u64,
    pub holder: Option<String>,
    pub lease_until_ms: i64,
}

/// A filter over the audit trail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The principal's subject (`sub` claim).
    pub actor: Option<String>,
    pub session_id: Option<String>,
    pub event_type: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    /// Event id to continue after (the cursor of the previous page).
    pub after: Option<String>,
    pub limit: u32,
    /// Only events of this tenant's principals (a tenant-scoped auditor's reads).
    pub tenant: Option<String>,
}
