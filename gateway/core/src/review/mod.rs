//! Compliance review: held work is a case that reviewers other than the requester decide; on
//! the last approval the gateway decides again and runs exactly the held execution, once.
//!
//! ```text
//! prepare (held) ─ open.rs    the case, pinned, in the execution's own commit
//! reviewers ────── act.rs     approve | reject | comment | withdraw (versioned: one winner)
//! last approval ── resume.rs  decided again, session and code checked, the job started
//!                  release.rs a held output: asked again, released into its execution
//! sweeper ──────── expire.rs  pending cases past their expiry
//! every change ─── notify.rs  signed webhooks, from an outbox written in the same commit
//! ```
//!
//! Four eyes is the gateway's, whatever policy says: a requester never decides their own
//! case, one person never counts twice, and reviewers outside the case's tenant do not see it.

mod act;
mod expire;
mod notify;
mod open;
mod release;
mod resume;

pub use act::CaseAction;
pub(crate) use open::Held;

use crate::service::{err, store_err, Gateway};
use airlock_gateway_domain::{
    review::{CaseId, CaseQuery, CaseStatus, ReviewCase},
    ErrorCode, GatewayError, Principal,
};

/// Where case events are delivered as signed webhooks.
#[derive(Clone, Default)]
pub struct Webhooks {
    pub sender: Option<std::sync::Arc<dyn airlock_gateway_domain::webhooks::WebhookSender>>,
    pub routes: Vec<airlock_gateway_domain::webhooks::WebhookRoute>,
}

/// Which cases a list asks for.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    /// Only the caller's own cases (as requester); otherwise the caller's queue as a reviewer.
    pub mine: bool,
    /// Only cases of requesters of this tenant.
    pub tenant: Option<String>,
    /// Only cases of this requester (subject).
    pub requester: Option<String>,
    /// Created in `[since, until)` (Unix ms).
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub before: Option<CaseId>,
    pub limit: u32,
}

/// Rounds of the store a reviewer's page may take to fill up with cases they may see.
const QUEUE_ROUNDS: usize = 8;

impl Gateway {
    /// A case the caller may see: their own, or one they could review. Others are 404. A
    /// held output is only in what reviewers read.
    pub async fn review_case(
        &self,
        p: &Principal,
        id: &CaseId,
    ) -> Result<ReviewCase, GatewayError> {
        Ok(self.case_to_act_on(p, id).await?.as_seen_by(p))
    }

    /// The case as stored (held output included), if `p` may see it: what an action changes.
    async fn case_to_act_on(&self, p: &Principal, id: &CaseId) -> Result<ReviewCase, GatewayError> {
        let case = self
            .deps
            .store
            .case(id)
            .await
            .map_err(store_err)?
            .filter(|c| c.is_requester(p) || c.visible_to_reviewer(p))
            .ok_or_else(|| err(ErrorCode::CaseNotFound, "no such review case"))?;
        self.expire_if_due(case).await
    }

    /// The caller's own cases, or their queue as a reviewer: cases of their tenant (when the
    /// rules bind reviewers to it) in one of their approver groups, never their own.
    pub async fn review_cases(
        &self,
        p: &Principal,
        filter: &CaseFilter,
    ) -> Result<Vec<ReviewCase>, GatewayError> {
        let limit = filter.limit.clamp(1, 200);
        let mut query = CaseQuery {
            status: filter.status,
            tenant: filter.tenant.clone().map(Some),
            requester: filter.mine.then(|| p.owner_key()),
            reviewer_tenant: (!filter.mine).then(|| p.tenant.clone()),
            created_since_ms: filter.since_ms,
            created_until_ms: filter.until_ms,
            before: filter.before.clone(),
            limit: if filter.mine { limit } else { limit * 2 },
        };
        let wanted = |c: &ReviewCase| {
            filter
                .requester
                .as_ref()
                .is_none_or(|s| *s == c.requester.subject)
        };
        if filter.mine {
            let mut own = self.deps.store.cases(&query).await.map_err(store_err)?;
            own.retain(wanted);
            return Ok(own.into_iter().map(|c| c.as_seen_by(p)).collect());
        }
        // The store narrows to cases a reviewer of the caller's tenant may see; the approver
        // groups of each case (policy's) decide the rest.
        let mut page = vec![];
        for _ in 0..QUEUE_ROUNDS {
            let rows = self.deps.store.cases(&query).await.map_err(store_err)?;
            let exhausted = (rows.len() as u32) < query.limit;
            query.before = rows.last().map(|c| c.id.clone());
            page.extend(
                rows.into_iter()
                    .filter(|c| c.visible_to_reviewer(p) && !c.is_requester(p) && wanted(c)),
            );
            if exhausted || page.len() as u32 >= limit {
                break;
            }
        }
        page.truncate(limit as usize);
        Ok(page)
    }
}
