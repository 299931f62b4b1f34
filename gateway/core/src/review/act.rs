//! What people do to a case. Every change is a versioned write: of two reviewers deciding at
//! the same moment one wins, the other reads the case again and sees it decided.

use super::open::case_event;
use crate::{
    metric,
    service::{err, store_err, Gateway},
};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::Change,
    review::{CaseId, CaseKind, CaseStatus, Refusal, ReviewCase, StoredNote},
    ErrorCode, Execution, ExecutionError, ExecutionErrorCode, ExecutionStatus, GatewayError,
    Principal,
};
use serde_json::json;
use std::sync::Arc;

/// Longest comment or reason kept.
const MAX_TEXT: usize = 4_000;
/// Reads and writes of one action before it gives up on a case others keep changing.
const ATTEMPTS: usize = 8;

#[derive(Clone, Debug)]
pub enum CaseAction {
    Approve { comment: String },
    Reject { reason: String },
    Comment { text: String },
    Withdraw { reason: String },
}

/// What one attempt did.
pub(super) enum Step {
    Done(Box<ReviewCase>),
    /// Someone changed the case first: read it again.
    Stale,
}

impl Gateway {
    /// Approves, rejects, comments on or withdraws a case, as `p`.
    pub async fn act_on_case(
        self: &Arc<Self>,
        p: &Principal,
        id: &CaseId,
        action: CaseAction,
    ) -> Result<ReviewCase, GatewayError> {
        check_text(&action)?;
        for _ in 0..ATTEMPTS {
            let case = self.case_to_act_on(p, id).await?;
            let step = match &action {
                CaseAction::Approve { comment } => self.approve(p, case, comment).await?,
                CaseAction::Reject { reason } => self.reject(p, case, reason).await?,
                CaseAction::Comment { text } => self.comment(p, case, text).await?,
                CaseAction::Withdraw { reason } => self.withdraw(p, case, reason).await?,
            };
            if let Step::Done(c) = step {
                return Ok(c.as_seen_by(p));
            }
        }
        Err(err(
            ErrorCode::CaseClosed,
            "the case kept changing while this request was applied; read it again",
        ))
    }

    async fn approve(
        self: &Arc<Self>,
        p: &Principal,
        mut case: ReviewCase,
        comment: &str,
    ) -> Result<Step, GatewayError> {
        if case.approved_by(p) {
            return Ok(Step::Done(Box::new(case))); // approving twice changes nothing
        }
        refuse(case.may_decide(p))?;
        case.approvals
            .push(StoredNote::by(p, self.now(), comment.to_owned()));
        if case.approvals_missing() == 0 {
            return match case.kind {
                CaseKind::Execution => self.resume_approved(p, case).await,
                CaseKind::Output => self.release_output(p, case).await,
            };
        }
        let event = case_event(
            types::REVIEW_APPROVED,
            next(&mut case, self.now()),
            json!({
                "reviewer": payload::principal(p), "comment": comment, "final": false,
            }),
        );
        self.commit_case(case, None, vec![event]).await
    }

    async fn reject(
        &self,
        p: &Principal,
        mut case: ReviewCase,
        reason: &str,
    ) -> Result<Step, GatewayError> {
        refuse(case.may_decide(p))?;
        if reason.trim().is_empty() {
            return Err(err(ErrorCode::InvalidRequest, "a rejection needs a reason"));
        }
        case.status = CaseStatus::Rejected;
        case.decided_by = Some(p.subject.clone());
        case.reason = Some(reason.to_owned());
        let event = case_event(
            types::REVIEW_REJECTED,
            next(&mut case, self.now()),
            json!({
                "reviewer": payload::principal(p), "reason": reason,
            }),
        );
        let code = match case.kind {
            CaseKind::Execution => ExecutionErrorCode::ReviewRejected,
            CaseKind::Output => ExecutionErrorCode::Gateway(ErrorCode::OutputBlocked),
        };
        let closed = self
            .close_held(&case, ExecutionStatus::Denied, code)
            .await?;
        self.commit_case(case, closed, vec![event]).await
    }

    async fn comment(
        &self,
        p: &Principal,
        mut case: ReviewCase,
        text: &str,
    ) -> Result<Step, GatewayError> {
        if text.trim().is_empty() {
            return Err(err(ErrorCode::InvalidRequest, "a comment needs text"));
        }
        case.comments
            .push(StoredNote::by(p, self.now(), text.to_owned()));
        let event = case_event(
            types::REVIEW_COMMENTED,
            next(&mut case, self.now()),
            json!({
                "author": payload::principal(p), "text": text,
            }),
        );
        self.commit_case(case, None, vec![event]).await
    }

    async fn withdraw(
        &self,
        p: &Principal,
        mut case: ReviewCase,
        reason: &str,
    ) -> Result<Step, GatewayError> {
        if !case.is_requester(p) {
            return Err(err(
                ErrorCode::NotTheRequester,
                "only the requester withdraws a case",
            ));
        }
        match case.status {
            CaseStatus::Withdrawn => return Ok(Step::Done(Box::new(case))),
            CaseStatus::Pending => {}
            _ => return Err(err(ErrorCode::CaseClosed, "the case is no longer pending")),
        }
        case.status = CaseStatus::Withdrawn;
        case.decided_by = Some(p.subject.clone());
        case.reason = (!reason.is_empty()).then(|| reason.to_owned());
        let event = case_event(
            types::REVIEW_WITHDRAWN,
            next(&mut case, self.now()),
            json!({
                "reason": reason,
            }),
        );
        let closed = self
            .close_held(
                &case,
                ExecutionStatus::Cancelled,
                ExecutionErrorCode::ReviewWithdrawn,
            )
            .await?;
        self.commit_case(case, closed, vec![event]).await
    }

    /// Commits the case at its next version with the held execution's change and the events.
    pub(super) async fn commit_case(
        &self,
        case: ReviewCase,
        execution: Option<Execution>,
        mut events: Vec<NewEvent>,
    ) -> Result<Step, GatewayError> {
        let mut changes = vec![Change::PutCase(Box::new(case.clone()))];
        changes.extend(self.webhook_changes(&case, &events));
        if let Some(e) = execution {
            events.push(NewEvent::new(
                types::EXECUTION_COMPLETED,
                Some(e.session_id.to_string()),
                payload::completed(&case.requester, &e, false, false),
            ));
            changes.push(Change::PutExecution(Box::new(e)));
        }
        self.record_case(case, changes, events).await
    }

    /// Records a case's change; a stale version is `Step::Stale` (nothing applied).
    pub(super) async fn record_case(
        &self,
        case: ReviewCase,
        changes: Vec<Change>,
        events: Vec<NewEvent>,
    ) -> Result<Step, GatewayError> {
        // A decision (not a comment on a case decided before) is counted once.
        let decided = case.status != CaseStatus::Pending
            && events.iter().any(|e| {
                e.event_type.starts_with("review.") && e.event_type != types::REVIEW_COMMENTED
            });
        match self.deps.audit.record(changes, events).await {
            Ok(_) => {
                self.webhook_wake.notify_one();
                if decided {
                    let waited = (case.updated_at - case.created_at)
                        .as_seconds_f64()
                        .max(0.0);
                    metrics::histogram!(metric::REVIEW_DECISION_SECONDS).record(waited);
                    metrics::counter!(metric::REVIEW_CASES_DECIDED, "status" => case.status.as_str()).increment(1);
                }
                Ok(Step::Done(Box::new(case)))
            }
            Err(e) if e.code == ErrorCode::Conflict => Ok(Step::Stale),
            Err(e) => Err(e),
        }
    }

    /// The held execution as it ends without running (or, for a held output, without its
    /// output): `status` (`failed` for a denied output: the code ran), with `code` and the
    /// case's reason. None when it is no longer held (nothing to close).
    pub(super) async fn close_held(
        &self,
        case: &ReviewCase,
        status: ExecutionStatus,
        code: ExecutionErrorCode,
    ) -> Result<Option<Execution>, GatewayError> {
        let Some(mut exec) = self.held_execution(case).await? else {
            return Ok(None);
        };
        let (status, outcome) = match (case.kind, status) {
            (CaseKind::Output, ExecutionStatus::Denied) => {
                (ExecutionStatus::Failed, "the held output is not released")
            }
            (CaseKind::Output, s) => (s, "the held output is not released"),
            (CaseKind::Execution, s) => (s, "nothing ran"),
        };
        exec.status = status;
        exec.error = Some(ExecutionError {
            name: "ReviewClosed".into(),
            value: format!(
                "review case {} is {}{}; {outcome}",
                case.id,
                case.status.as_str(),
                case.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            traceback: vec![],
            code: Some(code),
        });
        exec.finished_at = Some(self.now());
        exec.audit_id.clear();
        Ok(Some(exec))
    }
}

impl Gateway {
    /// The case's execution while it is still held (`pending_review`).
    pub(super) async fn held_execution(
        &self,
        case: &ReviewCase,
    ) -> Result<Option<Execution>, GatewayError> {
        Ok(self
            .deps
            .store
            .execution(&case.execution_id)
            .await
            .map_err(store_err)?
            .filter(|e| e.status == ExecutionStatus::PendingReview))
    }
}

/// The case at its next version (what the store applies over the one read). A decided case
/// keeps no held output: released into its execution, or dropped.
pub(super) fn next(case: &mut ReviewCase, now: time::OffsetDateTime) -> &ReviewCase {
    if case.status != CaseStatus::Pending {
        case.held_output = None;
    }
    case.version += 1;
    case.updated_at = now;
    case
}

fn refuse(r: Result<(), Refusal>) -> Result<(), GatewayError> {
    r.map_err(|r| match r {
        Refusal::OwnCase => err(
            ErrorCode::SelfApproval,
            "you requested this work: someone else must decide it (four eyes)",
        ),
        Refusal::Invisible => err(ErrorCode::CaseNotFound, "no such review case"),
        Refusal::NotAReviewer => err(
            ErrorCode::NotAReviewer,
            "you are not in an approver group of this case",
        ),
        Refusal::Closed => err(ErrorCode::CaseClosed, "the case is no longer pending"),
    })
}

fn check_text(a: &CaseAction) -> Result<(), GatewayError> {
    let text = match a {
        CaseAction::Approve { comment } => comment,
        CaseAction::Reject { reason } | CaseAction::Withdraw { reason } => reason,
        CaseAction::Comment { text } => text,
    };
    if text.len() > MAX_TEXT {
        return Err(err(
            ErrorCode::InvalidRequest,
            format!("text longer than {MAX_TEXT} bytes"),
        ));
    }
    Ok(())
}
