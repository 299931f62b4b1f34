//! The state store in memory, with a switch that makes commits fail from some point on.

use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead},
    files::FileInfo,
    ids::{ExecutionId, SessionId},
    ports::{
        AuditOutbox, AuditQuery, Change, CredentialLeases, ExecutionStore, FileStore, LeaseRecord,
        RelayChain, RelayLeases, SessionStore, StateCommit, StoreError,
    },
    session::SessionStatus,
    Execution, Session,
};
use async_trait::async_trait;
use std::{collections::BTreeMap, sync::Mutex};

#[derive(Default)]
pub struct MemStore {
    pub sessions: Mutex<BTreeMap<String, Session>>,
    pub executions: Mutex<BTreeMap<String, Execution>>,
    pub outbox: Mutex<Vec<AuditEvent>>,
    /// Commits left before every commit fails (None: never).
    pub commits_left: Mutex<Option<usize>>,
    /// Credential leases by hash, with whether they are closed.
    pub leases: Mutex<BTreeMap<String, (LeaseRecord, bool)>>,
    /// Review cases by id (`reviews.rs`).
    pub cases: Mutex<BTreeMap<String, airlock_gateway_domain::review::ReviewCase>>,
    /// Personal access keys by id (`access_keys.rs`).
    pub access_keys: Mutex<BTreeMap<String, airlock_gateway_domain::access_keys::AccessKey>>,
    /// Usage by (day, tenant, principal) (`usage.rs`).
    pub usage: Mutex<BTreeMap<(String, String, String), airlock_gateway_domain::usage::Usage>>,
    /// The webhook outbox by id, with the time each was delivered (`reviews.rs`).
    pub webhooks: Mutex<
        BTreeMap<
            String,
            (
                airlock_gateway_domain::webhooks::WebhookDelivery,
                Option<i64>,
            ),
        >,
    >,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemStore {
    pub fn events(&self) -> Vec<AuditEvent> {
        lock(&self.outbox).clone()
    }

    pub fn events_of(&self, ty: &str) -> Vec<AuditEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.event_type == ty)
            .collect()
    }

    pub fn execution(&self, id: &ExecutionId) -> Option<Execution> {
        lock(&self.executions).get(id.as_str()).cloned()
    }

    /// A case as stored (held output included).
    pub fn case_of(
        &self,
        id: &airlock_gateway_domain::review::CaseId,
    ) -> airlock_gateway_domain::review::ReviewCase {
        lock(&self.cases)
            .get(id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no case {id}"))
    }
}

#[async_trait]
impl StateCommit for MemStore {
    async fn commit(&self, changes: Vec<Change>, events: &[AuditEvent]) -> Result<(), StoreError> {
        {
            let mut left = lock(&self.commits_left);
            if let Some(n) = left.as_mut() {
                if *n == 0 {
                    return Err(StoreError::Database(Cause::msg("the fake store is down")));
                }
                *n -= 1;
            }
        }
        // A stale case version refuses the whole commit, as the database's transaction does.
        super::reviews::check_versions(&lock(&self.cases), &changes)?;
        for c in changes {
            match c {
                Change::PutSession(s) => {
                    lock(&self.sessions).insert(s.id.to_string(), *s);
                }
                Change::PutExecution(e) => {
                    lock(&self.executions).insert(e.id.to_string(), *e);
                }
                Change::PutFile { .. } => {}
                Change::PutCase(c) => {
                    lock(&self.cases).insert(c.id.to_string(), *c);
                }
                Change::PutWebhook(d) => {
                    lock(&self.webhooks).insert(d.id.clone(), (d, None));
                }
                Change::AddUsage(u) => {
                    let key = (u.day, u.tenant.unwrap_or_default(), u.principal);
                    lock(&self.usage).entry(key).or_default().add(&u.usage);
                }
                Change::PutAccessKey(k) => {
                    lock(&self.access_keys).insert(k.id.clone(), *k);
                }
            }
        }
        lock(&self.outbox).extend(events.iter().cloned());
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemStore {
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.sessions).get(id.as_str()).cloned())
    }

    async fn sessions_by_status(&self, status: SessionStatus) -> Result<Vec<Session>, StoreError> {
        Ok(lock(&self.sessions)
            .values()
            .filter(|s| s.status == status)
            .cloned()
            .collect())
    }

    async fn sessions_of_owner(
        &self,
        owner_key: &str,
        status: Option<SessionStatus>,
        before: Option<&SessionId>,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(lock(&self.sessions)
            .values()
            .rev()
            .filter(|s| s.owner.owner_key() == owner_key)
            .filter(|s| status.is_none_or(|st| s.status == st))
            .filter(|s| before.is_none_or(|b| s.id.as_str() < b.as_str()))
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ExecutionStore for MemStore {
    async fn execution(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        Ok(MemStore::execution(self, id))
    }

    async fn executions_of_session(
        &self,
        session: &SessionId,
        before: Option<&ExecutionId>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        Ok(lock(&self.executions)
            .values()
            .rev()
            .filter(|e| &e.session_id == session)
            .filter(|e| before.is_none_or(|b| e.id.as_str() < b.as_str()))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn orphaned_executions(&self, instance_id: &str) -> Result<Vec<Execution>, StoreError> {
        let sessions = lock(&self.sessions).clone();
        Ok(lock(&self.executions)
            .values()
            .filter(|e| !e.status.is_finished() && e.status.as_str() != "pending_review")
            .filter(|e| {
                sessions.get(e.session_id.as_str()).is_some_and(|s| {
                    s.instance_id == instance_id || s.status != SessionStatus::Active
                })
            })
            .cloned()
            .collect())
    }
}

#[async_trait]
impl FileStore for MemStore {
    async fn files(&self, _session: &SessionId) -> Result<Vec<FileInfo>, StoreError> {
        Ok(vec![])
    }
}

#[async_trait]
impl AuditOutbox for MemStore {
    async fn audit_head(&self, chain_id: &str) -> Result<Option<ChainHead>, StoreError> {
        Ok(lock(&self.outbox)
            .iter()
            .rev()
            .find(|e| e.chainid == chain_id)
            .map(|e| ChainHead {
                seq: e.seq,
                hash: e.hash.clone(),
            }))
    }

    async fn audit_events_after(
        &self,
        chain_id: &str,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(lock(&self.outbox)
            .iter()
            .filter(|e| e.chainid == chain_id && e.seq > seq)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    /// By type only (what the console's fast tests ask), oldest first.
    async fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(lock(&self.outbox)
            .iter()
            .filter(|e| query.event_type.as_ref().is_none_or(|t| &e.event_type == t))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl RelayLeases for MemStore {
    async fn audit_relay_register(&self, _chain_id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn audit_relay_chains(&self) -> Result<Vec<RelayChain>, StoreError> {
        Ok(vec![])
    }

    async fn audit_relay_claim(
        &self,
        _chain_id: &str,
        _holder: &str,
        _now_ms: i64,
        _until_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    async fn audit_mark_published(
        &self,
        _chain_id: &str,
        _seq: u64,
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl CredentialLeases for MemStore {
    async fn lease_opened(&self, lease: &LeaseRecord) -> Result<(), StoreError> {
        lock(&self.leases).insert(lease.lease_hash.clone(), (lease.clone(), false));
        Ok(())
    }

    async fn lease_closed(&self, lease_hash: &str, _at_ms: i64) -> Result<(), StoreError> {
        if let Some(l) = lock(&self.leases).get_mut(lease_hash) {
            l.1 = true;
        }
        Ok(())
    }

    async fn leases_open(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        Ok(lock(&self.leases)
            .values()
            .filter(|(_, closed)| !closed)
            .map(|(l, _)| l.clone())
            .collect())
    }
}
