//! Compliance review: work policy held becomes a case that reviewers other than the requester
//! decide. A case pins exactly what runs if it is approved. No I/O here.

use crate::{
    decision::Decision,
    execution::{ExecutionError, ExecutionStatus, Output},
    outputs::FindingFacts,
    policy_input::CodeFacts,
    ExecutionId, ExecutionRequest, Principal, SessionId,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

crate::ids::id_type!(CaseId, "rev");

/// Where a case is. Only `pending` changes; every other state is final.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Pending,
    /// Approved by enough reviewers and decided again: the execution was started.
    Approved,
    Rejected,
    /// Withdrawn by the requester.
    Withdrawn,
    /// Nobody decided before `expires_at`.
    Expired,
    /// Approved, but what was approved could no longer run as approved: policy in force now
    /// denies it, the session ended, or the code changed.
    Superseded,
}

impl CaseStatus {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Withdrawn,
        Self::Expired,
        Self::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Who may decide a case and how, from policy (`obligations.review` of the held decision).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRules {
    /// A reviewer must be in one of these groups.
    pub approver_groups: Vec<String>,
    /// Approvals by distinct reviewers before the work runs (at least 1, whatever policy says).
    pub approvals_required: u32,
    /// How long the case stays open.
    pub expires_in_seconds: u64,
    /// Whether reviewers must share the requester's tenant.
    pub same_tenant: bool,
}

impl Default for ReviewRules {
    fn default() -> Self {
        Self {
            approver_groups: vec!["reviewers".into()],
            approvals_required: 1,
            expires_in_seconds: 86_400,
            same_tenant: true,
        }
    }
}

/// What a case holds back.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// The execution waits to run (policy held the request).
    #[default]
    Execution,
    /// The execution ran; its output waits (output policy held what it returned).
    Output,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Execution => "execution",
            Self::Output => "output",
        }
    }
}

/// The output of a run that output policy held: what the caller gets if a reviewer releases
/// it (secrets already redacted, values policy masks already masked). Reviewers see it; the
/// requester does not, until it is released.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeldOutput {
    /// How the run ended.
    pub status: ExecutionStatus,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub error: Option<ExecutionError>,
    /// What the detectors found (detector, place, count), as policy was asked.
    #[serde(default)]
    pub findings: Vec<FindingFacts>,
}

/// What a case pins: the request exactly as it will run, and what policy saw when it held it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PinnedWork {
    pub request: ExecutionRequest,
    pub code_sha256: String,
    pub facts: CodeFacts,
    /// The session's data labels when the work was held.
    pub labels: Vec<String>,
    /// The decision that held it (its reasons are its violations).
    pub decision: Decision,
    pub timeout_seconds: u32,
}

/// A case as stored: `version` grows with every change, so that two reviewers deciding at the
/// same moment cannot both move it (the store refuses a stale version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewCase {
    pub id: CaseId,
    pub execution_id: ExecutionId,
    pub session_id: SessionId,
    pub status: CaseStatus,
    #[serde(default)]
    pub kind: CaseKind,
    pub requester: Principal,
    pub work: PinnedWork,
    /// The held output of a case of kind `output` while it waits (gone once decided: released
    /// into the execution, or dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_output: Option<HeldOutput>,
    pub rules: ReviewRules,
    #[serde(default)]
    pub approvals: Vec<StoredNote>,
    #[serde(default)]
    pub comments: Vec<StoredNote>,
    /// Who rejected or withdrew it, and why; or why it was superseded.
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

/// One reviewer's approval, or a comment, with the owner key (issuer and subject) by which
/// four eyes tells people apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNote {
    pub subject: String,
    #[serde(default)]
    pub email: Option<String>,
    pub owner_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub text: String,
}

impl StoredNote {
    pub fn by(p: &Principal, at: OffsetDateTime, text: impl Into<String>) -> Self {
        Self {
            subject: p.subject.clone(),
            email: p.email.clone(),
            owner_key: p.owner_key(),
            at,
            text: text.into(),
        }
    }
}

/// Why a person may not act on a case; the gateway enforces these whatever policy says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Outside the case's tenant (when the rules bind reviewers to it): the case does not
    /// exist for them.
    Invisible,
    /// Not in an approver group.
    NotAReviewer,
    /// The requester approving their own work.
    OwnCase,
    /// The case is no longer pending.
    Closed,
}

impl ReviewCase {
    pub fn tenant(&self) -> Option<&str> {
        self.requester.tenant.as_deref()
    }

    /// Which reviewers may see the case: `*`, or `t:` and the requester's tenant.
    pub fn reviewer_scope(&self) -> String {
        if self.rules.same_tenant {
            scope_of(self.tenant())
        } else {
            "*".into()
        }
    }

    pub fn is_requester(&self, p: &Principal) -> bool {
        self.requester.owner_key() == p.owner_key()
    }

    /// Whether `p` may see the case as a reviewer would (a requester always sees their own).
    pub fn visible_to_reviewer(&self, p: &Principal) -> bool {
        let in_group = p
            .groups
            .iter()
            .any(|g| self.rules.approver_groups.contains(g));
        in_group && (!self.rules.same_tenant || p.tenant.as_deref() == self.tenant())
    }

    /// Whether `p` may approve or reject: four eyes first, then the approver groups.
    pub fn may_decide(&self, p: &Principal) -> Result<(), Refusal> {
        if self.is_requester(p) {
            return Err(Refusal::OwnCase);
        }
        if !self.visible_to_reviewer(p) {
            let in_group = p
                .groups
                .iter()
                .any(|g| self.rules.approver_groups.contains(g));
            return Err(if in_group {
                Refusal::Invisible
            } else {
                Refusal::NotAReviewer
            });
        }
        if self.status != CaseStatus::Pending {
            return Err(Refusal::Closed);
        }
        Ok(())
    }

    /// Whether `p` already approved (one person never counts twice).
    pub fn approved_by(&self, p: &Principal) -> bool {
        let key = p.owner_key();
        self.approvals.iter().any(|a| a.owner_key == key)
    }

    /// Approvals still needed (the gateway requires at least one, whatever policy says).
    pub fn approvals_missing(&self) -> u32 {
        let required = self.rules.approvals_required.max(1);
        required.saturating_sub(self.approvals.len() as u32)
    }

    /// The case as `p` may read it: a requester who could not review it does not see the
    /// output held from them.
    pub fn as_seen_by(mut self, p: &Principal) -> Self {
        if !self.visible_to_reviewer(p) || self.is_requester(p) {
            self.held_output = None;
        }
        self
    }

    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.status == CaseStatus::Pending && now >= self.expires_at
    }
}

/// The reviewer scope of cases bound to `tenant`.
pub fn scope_of(tenant: Option<&str>) -> String {
    format!("t:{}", tenant.unwrap_or_default())
}

/// A page of cases: the filter a list asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseQuery {
    pub status: Option<CaseStatus>,
    /// Only cases of this tenant (`Some(None)`: cases of requesters without a tenant).
    pub tenant: Option<Option<String>>,
    /// Only cases of this requester (owner key).
    pub requester: Option<String>,
    /// Only cases a reviewer of this tenant may see (scope `*` or theirs).
    pub reviewer_tenant: Option<Option<String>>,
    /// Created at or after / before these times (Unix ms).
    pub created_since_ms: Option<i64>,
    pub created_until_ms: Option<i64>,
    /// Cases created before this one (newest first).
    pub before: Option<CaseId>,
    pub limit: u32,
}

/// Review cases.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    async fn case(&self, id: &CaseId) -> Result<Option<ReviewCase>, crate::ports::StoreError>;
    /// Cases matching `query`, newest first.
    async fn cases(&self, query: &CaseQuery) -> Result<Vec<ReviewCase>, crate::ports::StoreError>;
    /// How many cases are in `status`.
    async fn count_cases(&self, status: CaseStatus) -> Result<u64, crate::ports::StoreError>;
    /// Pending cases whose expiry is at or before `now_ms`, oldest first, at most `limit`.
    async fn cases_expiring(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ReviewCase>, crate::ports::StoreError>;
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;
