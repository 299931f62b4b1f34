//! The tools: their inputs and structured outputs as Rust types, their JSON Schemas generated
//! from those types (schemars, as rmcp re-exports it).

use rmcp::{model::Tool, schemars, schemars::JsonSchema};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCode {
    /// The code to run in the session's sandbox (a Jupyter kernel: variables persist between calls).
    pub code: String,
    /// `python` (default), `bash` or `javascript`; warehouse SQL goes through `query_warehouse`.
    #[serde(default)]
    pub language: Option<String>,
    /// Seconds before the code is interrupted (policy caps it).
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    /// Packages to install first (`pandas==2.2.3`); policy decides.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Hosts the code may reach (`api.example.com:443`); policy decides.
    #[serde(default)]
    pub egress: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryWarehouse {
    /// A connector the gateway is configured with (`warehouse`).
    pub connector: String,
    /// One SQL statement; policy governs which tables and columns it may read.
    pub sql: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadFile {
    /// Path in the session's workspace (`data/input.csv`).
    pub path: String,
    /// The file as text (UTF-8).
    #[serde(default)]
    pub content: Option<String>,
    /// The file as base64, for binary files.
    #[serde(default)]
    pub content_base64: Option<String>,
    /// The data's classification (`internal`, `confidential`, `restricted`): a label the
    /// session takes on.
    #[serde(default)]
    pub classification: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFile {
    /// Path in the session's workspace.
    pub path: String,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReviewStatus {
    /// A case id (`rev_...`); without it, the caller's own cases, newest first.
    #[serde(default)]
    pub case_id: Option<String>,
}

/// What `execute_code` and `query_warehouse` return as structured content.
#[derive(Serialize, JsonSchema, Default)]
pub struct ExecutionSummary {
    pub execution_id: String,
    pub session_id: String,
    /// `succeeded`, `failed`, `timed_out`, `cancelled`, `denied` or `pending_review`.
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSummary>,
    /// Why policy refused (or held) it, with hints for a rewrite.
    pub violations: Vec<ViolationSummary>,
    /// Files the run created or changed in the workspace.
    pub artifacts: Vec<String>,
    /// The review case of held work: follow it with `review_status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// The rows of a warehouse query (`query_warehouse` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Vec<serde_json::Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
}

#[derive(Serialize, JsonSchema)]
pub struct ErrorSummary {
    pub code: Option<String>,
    pub name: String,
    pub value: String,
    pub traceback: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ViolationSummary {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct FileList {
    pub session_id: String,
    pub files: Vec<FileEntry>,
}

#[derive(Serialize, JsonSchema)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct SessionInfo {
    /// The Airlock session this MCP session uses (none after `end_session`).
    pub session_id: Option<String>,
    pub status: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Cases {
    pub cases: Vec<CaseSummary>,
}

#[derive(Serialize, JsonSchema)]
pub struct CaseSummary {
    pub case_id: String,
    /// `pending`, `approved`, `rejected`, `withdrawn`, `expired` or `superseded`.
    pub status: String,
    /// `execution` (held before it ran) or `output` (its output is held).
    pub kind: String,
    pub execution_id: String,
    pub approvals: Vec<String>,
    pub approvals_required: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn schema<T: JsonSchema>() -> Arc<rmcp::model::JsonObject> {
    let v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    match v {
        serde_json::Value::Object(o) => Arc::new(o),
        _ => Arc::new(serde_json::Map::new()),
    }
}

fn tool<I: JsonSchema, O: JsonSchema>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, schema::<I>()).with_raw_output_schema(schema::<O>())
}

/// Every tool, as `tools/list` gives them.
pub fn all() -> Vec<Tool> {
    vec![
        tool::<ExecuteCode, ExecutionSummary>(
            "execute_code",
            "Run code in your governed sandbox session. Policy decides packages, egress and data \
             access; a denial comes back as an error result with violations and hints to rewrite \
             the code. Output streams as progress; figures come back as images, files as links.",
        ),
        tool::<QueryWarehouse, ExecutionSummary>(
            "query_warehouse",
            "Run one SQL statement on a warehouse connector with short-lived least-privilege \
             credentials; rows come back as structured content and a CSV resource.",
        ),
        tool::<UploadFile, FileEntry>(
            "upload_file",
            "Put a file into the session's workspace (policy-checked and audited).",
        ),
        tool::<NoArguments, FileList>("list_files", "List the files in the session's workspace."),
        tool::<ReadFile, FileEntry>(
            "read_file",
            "Read a workspace file (inspected on its way out like every download).",
        ),
        tool::<ReviewStatus, Cases>(
            "review_status",
            "The status of held work: one review case, or your own cases.",
        ),
        tool::<NoArguments, SessionInfo>(
            "new_session",
            "Start over: end the current sandbox session (variables and files are gone) and \
             open a fresh one.",
        ),
        tool::<NoArguments, SessionInfo>(
            "end_session",
            "End the sandbox session now (it also ends with the MCP session).",
        ),
    ]
}
