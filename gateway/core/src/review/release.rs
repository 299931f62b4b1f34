//! The last approval of a held output: the gateway asks output policy again with the policy
//! in force (a rule that now blocks what was found supersedes the case), then releases the held
//! output into its execution, once (the case's versioned write is what makes it once).

use super::act::{next, Step};
use super::open::case_event;
use crate::{
    outputs::{blocks, inspect_input},
    service::Gateway,
};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    policy_input::SessionFacts,
    ports::Change,
    review::{CaseStatus, HeldOutput, ReviewCase},
    Execution, GatewayError, Principal,
};
use serde_json::json;
use std::sync::Arc;

impl Gateway {
    pub(super) async fn release_output(
        self: &Arc<Self>,
        reviewer: &Principal,
        mut case: ReviewCase,
    ) -> Result<Step, GatewayError> {
        let held_exec = self.held_execution(&case).await?;
        let (Some(mut exec), Some(held)) = (held_exec, case.held_output.take()) else {
            return self
                .supersede(case, "the held output is no longer held", vec![])
                .await;
        };
        // Asked again, on the session's labels as they are now (the session may have ended:
        // the output belongs to the execution, which outlives it).
        let requester = case.requester.clone();
        let session = self.get_session(&requester, &case.session_id).await?;
        let input = inspect_input(
            &requester,
            SessionFacts {
                id: session.id.to_string(),
                labels: session.labels.clone(),
                executions: 0,
            },
            held.findings.clone(),
        );
        let decision = self.decide(&input)?;
        let decided = self.decided_event(
            &requester,
            &input,
            &decision,
            &case.session_id,
            Some(exec.id.as_str()),
        );
        if blocks(&decision, &held.findings) {
            let why = "the policy in force now blocks what the output holds";
            return self.supersede(case, why, vec![decided]).await;
        }
        case.status = CaseStatus::Approved;
        let approved = case_event(
            types::REVIEW_APPROVED,
            next(&mut case, self.now()),
            json!({"reviewer": payload::principal(reviewer), "final": true}),
        );
        let released = released_event(&case, reviewer, &held);
        release_into(&mut exec, held);
        let mut changes = vec![
            Change::PutCase(Box::new(case.clone())),
            Change::PutExecution(Box::new(exec)),
        ];
        let events = vec![decided, approved, released];
        changes.extend(self.webhook_changes(&case, &events));
        self.record_case(case, changes, events).await
    }
}

/// The execution as its caller reads it once the output is released.
fn release_into(exec: &mut Execution, held: HeldOutput) {
    exec.status = held.status;
    exec.stdout = held.stdout;
    exec.stderr = held.stderr;
    exec.outputs = held.outputs;
    exec.error = held.error;
    exec.audit_id.clear();
}

/// `output.released`: which execution's output left, by whose decision (counts, never values).
fn released_event(case: &ReviewCase, reviewer: &Principal, held: &HeldOutput) -> NewEvent {
    NewEvent::new(
        types::OUTPUT_RELEASED,
        Some(case.session_id.to_string()),
        json!({
            "principal": payload::principal(&case.requester),
            "session_id": case.session_id,
            "execution_id": case.execution_id,
            "case_id": case.id,
            "reviewer": payload::principal(reviewer),
            "approvals": case.approvals.iter().map(|a| &a.subject).collect::<Vec<_>>(),
            "status": held.status.as_str(),
            "findings": held.findings,
        }),
    )
}
