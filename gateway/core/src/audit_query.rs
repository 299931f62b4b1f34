//! Reading the audit trail, for compliance reviewers: only principals in an auditor group, and
//! every read is itself recorded (`audit.queried`).

use crate::service::Gateway;
use airlock_gateway_domain::{
    audit::{types, AuditEvent, Checkpoint, NewEvent},
    ports::AuditQuery,
    ErrorCode, GatewayError, Principal,
};

/// One page of events; `next` is the cursor of the following page.
#[derive(Debug)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<String>,
}

/// Largest page a caller may ask for.
pub const MAX_PAGE: u32 = 10_000;

impl Gateway {
    pub(crate) fn require_auditor(&self, p: &Principal) -> Result<(), GatewayError> {
        if p.groups
            .iter()
            .any(|g| self.settings.auditor_groups.contains(g))
        {
            return Ok(());
        }
        Err(GatewayError::new(
            ErrorCode::NotAnAuditor,
            format!(
                "reading the audit trail needs membership in one of: {}",
                self.settings.auditor_groups.join(", ")
            ),
        ))
    }

    fn queried(p: &Principal, what: &str, filter: serde_json::Value, returned: usize) -> NewEvent {
        NewEvent::new(
            types::AUDIT_QUERIED,
            None,
            serde_json::json!({
                "principal": crate::events::principal(p),
                "what": what,
                "filter": filter,
                "returned": returned,
            }),
        )
    }

    /// Events matching `q` (all chains), in time order. The read is recorded before the events
    /// are returned: a reader cannot see the trail without leaving a trace in it.
    pub async fn audit_events(
        &self,
        p: &Principal,
        mut q: AuditQuery,
    ) -> Result<AuditPage, GatewayError> {
        self.require_auditor(p)?;
        q.limit = q.limit.clamp(1, MAX_PAGE);
        let events = self
            .deps
            .store
            .audit_query(&q)
            .await
            .map_err(crate::service::store_err)?;
        let next = (events.len() == q.limit as usize)
            .then(|| events.last().map(|e| e.id.clone()))
            .flatten();
        let filter = serde_json::json!({
            "subject": q.actor, "session_id": q.session_id, "type": q.event_type,
            "since_ms": q.since_ms, "until_ms": q.until_ms, "after": q.after, "limit": q.limit,
        });
        self.deps
            .audit
            .record(
                vec![],
                vec![Self::queried(p, "events", filter, events.len())],
            )
            .await?;
        Ok(AuditPage { events, next })
    }

    /// A signed statement of this gateway's chain head, for an auditor to keep outside the
    /// log (`airlock audit verify --checkpoint FILE` later proves the log was not truncated).
    pub async fn audit_checkpoint(&self, p: &Principal) -> Result<Checkpoint, GatewayError> {
        self.require_auditor(p)?;
        // Seal first, so the statement covers everything recorded up to now.
        self.deps.audit.checkpoint().await?;
        let cp = self.deps.audit.signed_head().await.ok_or_else(|| {
            GatewayError::new(
                ErrorCode::AuditUnavailable,
                "no checkpoint signing key is configured",
            )
        })?;
        self.deps
            .audit
            .record(
                vec![],
                vec![Self::queried(
                    p,
                    "checkpoint",
                    serde_json::json!({"seq": cp.seq}),
                    1,
                )],
            )
            .await?;
        Ok(cp)
    }
}
