//! Request and response bodies of the API.

use airlock_gateway_domain::{
    decision::Decision, Execution, ExecutionError, FileInfo, Language, Limits, Output, Session,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    /// `active`, `deleted`, `expired` or `lost`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub last_active_at: String,
    pub limits: Limits,
    pub labels: Vec<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            id: s.id.to_string(),
            status: s.status.as_str().into(),
            status_reason: s.status_reason,
            created_at: rfc3339(s.created_at),
            expires_at: rfc3339(s.expires_at),
            last_active_at: rfc3339(s.last_active_at),
            limits: s.limits,
            labels: s.labels,
        }
    }
}

/// `POST /v1/sessions/{id}/executions`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionCreate {
    /// `python`, `sql`, `bash` or `javascript`.
    pub language: String,
    pub code: String,
    /// Connector for warehouse SQL (none are configured yet).
    #[serde(default)]
    pub connector: Option<String>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    /// Packages to install (`name==version`); policy decides.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Hosts the code wants to reach; policy decides.
    #[serde(default)]
    pub egress: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    pub id: String,
    pub session_id: String,
    pub language: Language,
    /// `queued`, `running`, `succeeded`, `failed`, `timed_out`, `cancelled`, `denied` or
    /// `pending_review`.
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ExecutionError>,
    pub outputs: Vec<Output>,
    pub artifacts: Vec<FileInfo>,
    pub decision: Decision,
    pub duration_ms: u64,
    pub audit_id: String,
    pub code_sha256: String,
    pub created_at: String,
    /// The review case of held work: follow it at `/v1/reviews/{case_id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
}

impl From<Execution> for ExecutionView {
    fn from(e: Execution) -> Self {
        Self {
            id: e.id.to_string(),
            session_id: e.session_id.to_string(),
            language: e.language,
            status: e.status.as_str().into(),
            stdout: e.stdout,
            stderr: e.stderr,
            error: e.error,
            outputs: e.outputs,
            artifacts: e.artifacts,
            decision: e.decision,
            duration_ms: e.duration_ms,
            audit_id: e.audit_id,
            code_sha256: e.code_sha256,
            created_at: rfc3339(e.created_at),
            case_id: e.case_id.map(|c| c.to_string()),
        }
    }
}

/// A page of a listing: `cursor` is the `next_cursor` of the page before.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// Items per page: 1-100, default 20.
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, crate::error::ApiError> {
        match self.limit {
            None => Ok(20),
            Some(n @ 1..=100) => Ok(n),
            Some(_) => Err(crate::error::code(
                airlock_gateway_domain::ErrorCode::InvalidRequest,
                "limit must be between 1 and 100",
            )),
        }
    }
}

/// `GET /v1/sessions`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// Only sessions in this status (`active`, `deleted`, `expired`, `lost`).
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// Items per page: 1-100, default 20.
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
    /// The cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionView>,
    /// The cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    pub files: Vec<FileInfo>,
}

/// `POST /v1/policy/evaluate`: what would policy decide for this caller?
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// `session.create`, `file.upload`, `file.download` or `execution.run`.
    pub action: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub egress: Vec<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub classification: Option<String>,
    /// For SQL through a warehouse connector: its name (the SQL is analysed in its dialect).
    #[serde(default)]
    pub connector: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EvaluateResponse {
    pub decision: Decision,
}

/// The error body of every non-2xx response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code (see docs/api.md for the table).
    pub code: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}
