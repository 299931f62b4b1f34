//! Bodies of the review API: a case with everything a reviewer needs to decide.

use crate::dto::rfc3339;
use airlock_gateway_domain::{
    decision::Decision,
    review::{CaseKind, HeldOutput, ReviewCase, StoredNote},
    Language,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct PersonView {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NoteView {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
}

impl From<&StoredNote> for NoteView {
    fn from(n: &StoredNote) -> Self {
        Self {
            subject: n.subject.clone(),
            email: n.email.clone(),
            at: rfc3339(n.at),
            text: n.text.clone(),
        }
    }
}

/// A review case: the held work exactly as it would run, what policy saw, who decides.
#[derive(Serialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    /// `pending`, `approved`, `rejected`, `withdrawn`, `expired` or `superseded`.
    pub status: String,
    /// `execution`: the execution waits to run; `output`: it ran and its output waits.
    pub kind: CaseKind,
    pub execution_id: String,
    pub session_id: String,
    pub requester: PersonView,
    pub language: Language,
    pub code: String,
    pub code_sha256: String,
    pub packages: Vec<String>,
    pub egress: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    pub timeout_seconds: u32,
    /// The code's analysis (imports, shell commands, SQL facts...).
    #[schema(value_type = Object)]
    pub analysis: serde_json::Value,
    /// The session's data labels when the work was held.
    pub labels: Vec<String>,
    /// The decision that held it: its reasons are its violations.
    pub decision: Decision,
    pub policy_revision: String,
    pub approver_groups: Vec<String>,
    pub approvals_required: u32,
    pub same_tenant: bool,
    pub approvals: Vec<NoteView>,
    pub comments: Vec<NoteView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A case of kind `output` while pending, to its reviewers only: the output a release
    /// gives the requester (secrets redacted, values policy masks masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_output: Option<HeldOutput>,
    pub created_at: String,
    pub expires_at: String,
    pub updated_at: String,
}

impl From<ReviewCase> for CaseView {
    fn from(c: ReviewCase) -> Self {
        let w = c.work;
        Self {
            id: c.id.to_string(),
            status: c.status.as_str().into(),
            kind: c.kind,
            execution_id: c.execution_id.to_string(),
            session_id: c.session_id.to_string(),
            requester: PersonView {
                subject: c.requester.subject,
                email: c.requester.email,
                groups: c.requester.groups,
                tenant: c.requester.tenant,
            },
            language: w.request.language,
            code: w.request.code,
            code_sha256: w.code_sha256,
            packages: w.request.packages,
            egress: w.request.egress,
            connector: w.request.connector,
            timeout_seconds: w.timeout_seconds,
            analysis: serde_json::to_value(&w.facts).unwrap_or_default(),
            labels: w.labels,
            policy_revision: w.decision.policy_revision.clone(),
            decision: w.decision,
            approver_groups: c.rules.approver_groups,
            approvals_required: c.rules.approvals_required.max(1),
            same_tenant: c.rules.same_tenant,
            approvals: c.approvals.iter().map(NoteView::from).collect(),
            comments: c.comments.iter().map(NoteView::from).collect(),
            decided_by: c.decided_by,
            reason: c.reason,
            held_output: c.held_output,
            created_at: rfc3339(c.created_at),
            expires_at: rfc3339(c.expires_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<CaseView>,
    /// The cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CaseQuery {
    /// Only cases in this status.
    pub status: Option<String>,
    /// `true`: the caller's own cases (as requester); otherwise the caller's review queue.
    pub mine: Option<bool>,
    /// Only cases of requesters of this tenant.
    pub tenant: Option<String>,
    /// Only cases of this requester (their `sub`).
    pub requester: Option<String>,
    /// Created at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Created before this RFC 3339 time.
    pub until: Option<String>,
    pub cursor: Option<String>,
    /// Items per page: 1-100, default 20.
    pub limit: Option<u32>,
}

/// An approval's optional comment.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    #[serde(default)]
    pub comment: String,
}

/// A rejection's or withdrawal's reason (required to reject).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    pub text: String,
}
