//! Reading the audit trail, for compliance reviewers: only principals in an auditor group, and
//! every read is itself recorded (`audit.queried`).

use crate::{payload, AuditRecorder};
use airlock_gateway_domain::{
    audit::{types, AuditEvent, Checkpoint, NewEvent},
    ports::{AuditOutbox, AuditQuery, Store, StoreError},
    ErrorCode, GatewayError, Principal,
};
use std::sync::Arc;

/// One page of events; `next` is the cursor of the following page.
#[derive(Debug)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<String>,
}

/// Largest page a caller may ask for.
pub const MAX_PAGE: u32 = 10_000;

/// Who reads the trail: every event, or only their own tenant's.
#[derive(Clone, Debug, Default)]
pub struct Auditors {
    pub all: Vec<String>,
    pub tenant: Vec<String>,
}

/// What one auditor may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditScope {
    All,
    /// Only events of this tenant's principals.
    Tenant(String),
}

/// The auditors' view of the trail.
pub struct AuditReader {
    pub(crate) store: Arc<dyn Store>,
    recorder: Arc<AuditRecorder>,
    auditors: Auditors,
}

impl AuditReader {
    pub fn new(store: Arc<dyn Store>, recorder: Arc<AuditRecorder>, auditors: Auditors) -> Self {
        Self {
            store,
            recorder,
            auditors,
        }
    }

    /// What `p` may read of the trail; a tenant auditor without a tenant reads nothing.
    pub fn scope(&self, p: &Principal) -> Result<AuditScope, GatewayError> {
        let in_any = |groups: &[String]| p.groups.iter().any(|g| groups.contains(g));
        if in_any(&self.auditors.all) {
            return Ok(AuditScope::All);
        }
        if let (true, Some(t)) = (in_any(&self.auditors.tenant), &p.tenant) {
            return Ok(AuditScope::Tenant(t.clone()));
        }
        Err(GatewayError::new(
            ErrorCode::NotAnAuditor,
            format!(
                "reading the audit trail needs membership in one of: {} (or, with a tenant, {})",
                self.auditors.all.join(", "),
                self.auditors.tenant.join(", ")
            ),
        ))
    }

    /// Every event, or refused: what the tenant-wide reads (replay) need.
    pub fn require_auditor(&self, p: &Principal) -> Result<(), GatewayError> {
        match self.scope(p)? {
            AuditScope::All => Ok(()),
            AuditScope::Tenant(_) => Err(GatewayError::new(
                ErrorCode::NotAnAuditor,
                "this read covers every tenant; a tenant auditor may not make it",
            )),
        }
    }

    /// Events matching `q` (all chains), in time order. The read is recorded before the events
    /// are returned: a reader cannot see the trail without leaving a trace in it.
    pub async fn events(
        &self,
        p: &Principal,
        mut q: AuditQuery,
    ) -> Result<AuditPage, GatewayError> {
        if let AuditScope::Tenant(t) = self.scope(p)? {
            q.tenant = Some(t);
        }
        q.limit = q.limit.clamp(1, MAX_PAGE);
        let events = self.store.audit_query(&q).await.map_err(|e| {
            tracing::error!(error = %e, "state store error");
            GatewayError::new(ErrorCode::Internal, "the state store failed")
        })?;
        let next = (events.len() == q.limit as usize)
            .then(|| events.last().map(|e| e.id.clone()))
            .flatten();
        let filter = serde_json::json!({
            "subject": q.actor, "session_id": q.session_id, "type": q.event_type,
            "since_ms": q.since_ms, "until_ms": q.until_ms, "after": q.after, "limit": q.limit,
            "tenant": q.tenant,
        });
        self.recorder
            .record(vec![], vec![queried(p, "events", filter, events.len())])
            .await?;
        Ok(AuditPage { events, next })
    }

    /// The recorded decisions of `[since_ms, until_ms)` decided again by `candidate`
    /// (at most `MAX_REPLAYED` of them, the oldest first), and every one that would change.
    pub async fn replay(
        &self,
        p: &Principal,
        candidate: Box<dyn airlock_gateway_domain::ports::PolicyEngine>,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<airlock_gateway_domain::replay::Report, GatewayError> {
        self.require_auditor(p)?;
        let events = decisions_in(self.store.as_ref(), since_ms, until_ms, MAX_REPLAYED)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "state store error");
                GatewayError::new(ErrorCode::Internal, "the state store failed")
            })?;
        // Thousands of decisions are CPU work: off the request's async worker.
        let report = tokio::task::spawn_blocking(move || {
            airlock_gateway_domain::replay::replay(candidate.as_ref(), &events)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the replay task failed");
            GatewayError::new(ErrorCode::Internal, "the replay failed")
        })?;
        let filter = serde_json::json!({
            "since_ms": since_ms, "until_ms": until_ms,
            "candidate_revision": report.candidate_revision, "changed": report.changed.len(),
        });
        self.recorder
            .record(vec![], vec![queried(p, "replay", filter, report.decisions)])
            .await?;
        Ok(report)
    }

    /// A signed statement of this gateway's chain head, for an auditor to keep outside the
    /// log (`airlock audit verify --checkpoint FILE` later proves the log was not truncated).
    pub async fn checkpoint(&self, p: &Principal) -> Result<Checkpoint, GatewayError> {
        // The chain head holds no tenant's data: tenant auditors may keep one too.
        self.scope(p)?;
        // Seal first, so the statement covers everything recorded up to now.
        self.recorder.checkpoint().await?;
        let cp = self.recorder.signed_head().await.ok_or_else(|| {
            GatewayError::new(
                ErrorCode::AuditUnavailable,
                "no checkpoint signing key is configured",
            )
        })?;
        let filter = serde_json::json!({"seq": cp.seq});
        self.recorder
            .record(vec![], vec![queried(p, "checkpoint", filter, 1)])
            .await?;
        Ok(cp)
    }
}

/// The recorded decisions (`policy.decided`) of `[since_ms, until_ms)`, oldest first, at most
/// `max`: what a policy replay decides again (the CLI's and the API's).
pub async fn decisions_in<S: AuditOutbox + ?Sized>(
    store: &S,
    since_ms: i64,
    until_ms: i64,
    max: usize,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut events = vec![];
    let mut after = None;
    while events.len() < max {
        let page = store
            .audit_query(&AuditQuery {
                event_type: Some(types::POLICY_DECIDED.into()),
                since_ms: Some(since_ms),
                until_ms: Some(until_ms),
                after: after.clone(),
                limit: MAX_PAGE,
                ..Default::default()
            })
            .await?;
        after = page.last().map(|e| e.id.clone());
        let more = page.len() == MAX_PAGE as usize;
        events.extend(page);
        if !more {
            break;
        }
    }
    events.truncate(max);
    Ok(events)
}

/// Recorded decisions one replay reads at most (a range with more is replayed in parts).
const MAX_REPLAYED: usize = 200_000;

fn queried(p: &Principal, what: &str, filter: serde_json::Value, returned: usize) -> NewEvent {
    NewEvent::new(
        types::AUDIT_QUERIED,
        None,
        serde_json::json!({
            "principal": payload::principal(p),
            "what": what,
            "filter": filter,
            "returned": returned,
        }),
    )
}
