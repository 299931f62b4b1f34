use crate::{decision::Decision, files::FileInfo, ids::ExecutionId, ids::SessionId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Python,
    Sql,
    Bash,
    Javascript,
}

impl Language {
    pub const ALL: [Language; 4] = [Self::Python, Self::Sql, Self::Bash, Self::Javascript];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Sql => "sql",
            Self::Bash => "bash",
            Self::Javascript => "javascript",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// What a caller asks to run (after HTTP-level validation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionRequest {
    pub language: Language,
    pub code: String,
    pub timeout_seconds: Option<u32>,
    pub packages: Vec<String>,
    pub egress: Vec<String>,
    pub connector: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Decided and recorded; waiting for its sandbox.
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// Stopped by `POST /v1/executions/{id}/cancel`.
    Cancelled,
    Denied,
    PendingReview,
}

impl ExecutionStatus {
    /// Whether the execution has ended (nothing about it changes any more). A held execution
    /// is not running and has not ended: review decides what becomes of it.
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Queued | Self::Running | Self::PendingReview)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Cancelled => "cancelled",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Denied => "denied",
            Self::PendingReview => "pending_review",
        }
    }
}

/// An error raised by the executed code or by its sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionError {
    /// Exception class name (`ZeroDivisionError`) or a sandbox condition (`MemoryError`).
    pub name: String,
    pub value: String,
    /// Traceback lines, ANSI colour codes stripped.
    pub traceback: Vec<String>,
    /// A stable code when the sandbox or the gateway, not the code, ended the execution
    /// (docs/api.md, "Execution error codes").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub code: Option<crate::ExecutionErrorCode>,
}

/// A rich output of the kernel: `execute_result` or `display_data`, keyed by media type.
/// Binary media types (`image/png`) are base64 strings, `application/json` is JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Output {
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: BTreeMap<String, serde_json::Value>,
}

/// A file an execution created or changed.
pub type Artifact = FileInfo;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub session_id: SessionId,
    pub owner_key: String,
    pub language: Language,
    pub code_sha256: String,
    pub status: ExecutionStatus,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<ExecutionError>,
    pub outputs: Vec<Output>,
    pub artifacts: Vec<Artifact>,
    pub decision: Decision,
    pub duration_ms: u64,
    pub audit_id: String,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// The review case of held work (`pending_review`, and after its decision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<crate::review::CaseId>,
    /// The requester's tenant (for the console's per-tenant overview).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Execution {
    /// Why it ended other than by success, as one code: the first violation of a denial, the
    /// error code of a failure (for counting denials and failures by code).
    pub fn end_code(&self) -> Option<String> {
        match self.status {
            ExecutionStatus::Denied => self
                .decision
                .violations
                .first()
                .map(|v| v.code.clone())
                .or_else(|| {
                    self.error
                        .as_ref()
                        .and_then(|e| e.code.as_ref().map(|c| c.as_str().to_owned()))
                }),
            _ => self
                .error
                .as_ref()
                .and_then(|e| e.code.as_ref().map(|c| c.as_str().to_owned())),
        }
    }
}
