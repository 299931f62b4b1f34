//! Held work becomes a case in the same commit as the execution and its events: a held
//! execution pinned to exactly what would run, or a held output kept for its reviewers.

use crate::service::Gateway;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    decision::Decision,
    policy_input::CodeFacts,
    review::{CaseId, CaseKind, CaseStatus, HeldOutput, PinnedWork, ReviewCase, ReviewRules},
    Execution, ExecutionRequest, Principal, Session,
};
use serde_json::json;

/// What the held execution pins.
pub(crate) struct Held<'a> {
    pub requester: &'a Principal,
    pub session: &'a Session,
    pub exec: &'a Execution,
    pub req: &'a ExecutionRequest,
    pub facts: &'a CodeFacts,
    pub decision: &'a Decision,
    pub timeout_seconds: u32,
    /// The output policy held (a case of kind `output`); None: the execution itself is held.
    pub output: Option<HeldOutput>,
}

impl Gateway {
    /// The case of held work and its `review.requested` event.
    pub(crate) fn open_case(&self, held: Held<'_>) -> (ReviewCase, NewEvent) {
        let now = self.now();
        let rules = held.decision.obligations.review.clone().unwrap_or_default();
        let expires_in = rules.expires_in_seconds.clamp(1, 90 * 86_400);
        let case = ReviewCase {
            id: CaseId::from_uuid(self.deps.ids.uuid()),
            execution_id: held.exec.id.clone(),
            session_id: held.session.id.clone(),
            status: CaseStatus::Pending,
            kind: if held.output.is_some() {
                CaseKind::Output
            } else {
                CaseKind::Execution
            },
            requester: held.requester.clone(),
            work: PinnedWork {
                request: held.req.clone(),
                code_sha256: held.exec.code_sha256.clone(),
                facts: held.facts.clone(),
                labels: held.session.labels.clone(),
                decision: held.decision.clone(),
                timeout_seconds: held.timeout_seconds,
            },
            rules: ReviewRules {
                expires_in_seconds: expires_in,
                ..rules
            },
            held_output: held.output,
            approvals: vec![],
            comments: vec![],
            decided_by: None,
            reason: None,
            created_at: now,
            expires_at: now + time::Duration::seconds(i64::try_from(expires_in).unwrap_or(1)),
            updated_at: now,
            version: 1,
        };
        let findings = case.held_output.as_ref().map(|o| &o.findings);
        let event = case_event(
            types::REVIEW_REQUESTED,
            &case,
            json!({
                "reasons": held.decision.violations,
                "policy_revision": held.decision.policy_revision,
                "labels": case.work.labels,
                "findings": findings,
            }),
        );
        (case, event)
    }
}

/// An event about a case: its id, execution, status, requester and rules, plus `extra`.
pub(crate) fn case_event(
    kind: &'static str,
    case: &ReviewCase,
    extra: serde_json::Value,
) -> NewEvent {
    let mut data = json!({
        "case_id": case.id,
        "execution_id": case.execution_id,
        "session_id": case.session_id,
        "status": case.status.as_str(),
        "kind": case.kind.as_str(),
        "requester": airlock_gateway_audit::payload::principal(&case.requester),
        "code_sha256": case.work.code_sha256,
        "approvals": case.approvals.iter().map(|a| &a.subject).collect::<Vec<_>>(),
        "approvals_required": case.rules.approvals_required.max(1),
        "expires_at": case.expires_at.unix_timestamp(),
    });
    if let (Some(d), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    NewEvent::new(kind, Some(case.session_id.to_string()), data)
}
