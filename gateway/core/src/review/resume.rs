//! The last approval: the gateway decides again with the policy in force, checks that the
//! session is still active and the code unchanged, then starts exactly the held execution as a
//! job, once (the case's versioned write is what makes it once).

use super::act::{next, Step};
use super::open::case_event;
use crate::{execution::Resumed, service::Gateway};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    decision::DecisionResult,
    ports::Change,
    review::{CaseStatus, ReviewCase},
    ExecutionErrorCode, ExecutionStatus, GatewayError, Principal, SessionStatus,
};
use serde_json::json;
use std::sync::Arc;

impl Gateway {
    pub(super) async fn resume_approved(
        self: &Arc<Self>,
        reviewer: &Principal,
        mut case: ReviewCase,
    ) -> Result<Step, GatewayError> {
        let requester = case.requester.clone();
        let approved = json!({"reviewer": payload::principal(reviewer), "final": true});
        // Still the session the work was held in, still active, still served here.
        let session = self.get_session(&requester, &case.session_id).await?;
        if session.status != SessionStatus::Active {
            return self
                .supersede(case, "the session is no longer active", vec![])
                .await;
        }
        let live = self.live_session(&requester, &case.session_id).await?;
        let Some(mut exec) = self
            .deps
            .store
            .execution(&case.execution_id)
            .await
            .map_err(crate::service::store_err)?
        else {
            return self
                .supersede(case, "the held execution is gone", vec![])
                .await;
        };
        let req = case.work.request.clone();
        if payload::sha256_hex(req.code.as_bytes()) != case.work.code_sha256
            || exec.code_sha256 != case.work.code_sha256
        {
            return self
                .supersede(case, "the code is not the code that was held", vec![])
                .await;
        }
        // Decided again, on the session as it is now.
        let session_now = live.session.lock().await.clone();
        let executions = live.executions.load(std::sync::atomic::Ordering::Relaxed);
        let facts = self.analyse(req.language, &req.code, req.connector.as_deref())?;
        let (input, decision) =
            self.decide_execution(&requester, &session_now, executions, &req, vec![], &facts)?;
        let decided = self.decided_event(
            &requester,
            &input,
            &decision,
            &case.session_id,
            Some(exec.id.as_str()),
        );
        if decision.result == DecisionResult::Deny {
            return self
                .supersede(
                    case,
                    "the policy in force now denies the request",
                    vec![decided],
                )
                .await;
        }
        case.status = CaseStatus::Approved;
        let approved = case_event(
            types::REVIEW_APPROVED,
            next(&mut case, self.now()),
            approved,
        );
        exec.status = ExecutionStatus::Queued;
        exec.finished_at = None;
        exec.decision = decision;
        exec.audit_id.clear();
        let step = self
            .commit_approved(case.clone(), exec.clone(), vec![decided, approved])
            .await?;
        if let Step::Done(_) = step {
            let resumed = Resumed {
                exec,
                live,
                req,
                input,
                facts,
                timeout_seconds: case.work.timeout_seconds,
                // Approved work was accepted before: counted, never refused by a cap now.
                place: self
                    .running
                    .force(&requester.owner_key(), requester.tenant.as_deref()),
            };
            self.start_resumed(requester, resumed);
        }
        Ok(step)
    }

    async fn commit_approved(
        &self,
        case: ReviewCase,
        exec: airlock_gateway_domain::Execution,
        events: Vec<NewEvent>,
    ) -> Result<Step, GatewayError> {
        let mut changes = vec![
            Change::PutCase(Box::new(case.clone())),
            Change::PutExecution(Box::new(exec)),
        ];
        changes.extend(self.webhook_changes(&case, &events));
        self.record_case(case, changes, events).await
    }

    /// Approved, but it cannot run as approved: the case is superseded, the execution ends.
    pub(super) async fn supersede(
        &self,
        mut case: ReviewCase,
        why: &str,
        mut events: Vec<NewEvent>,
    ) -> Result<Step, GatewayError> {
        case.status = CaseStatus::Superseded;
        case.reason = Some(why.to_owned());
        events.push(case_event(
            types::REVIEW_SUPERSEDED,
            next(&mut case, self.now()),
            json!({"reason": why}),
        ));
        let closed = self
            .close_held(
                &case,
                ExecutionStatus::Denied,
                ExecutionErrorCode::ReviewSuperseded,
            )
            .await?;
        self.commit_case(case, closed, events).await
    }
}
