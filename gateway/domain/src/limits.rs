use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Resource limits of a session's sandbox and of each execution in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Default wall time of one execution.
    pub timeout_seconds: u32,
    /// Largest wall time a caller may ask for.
    pub max_timeout_seconds: u32,
    /// Memory of the whole sandbox (cgroup), MiB.
    pub memory_mib: u32,
    /// Processes and threads of the whole sandbox (cgroup pids).
    pub max_processes: u32,
    /// CPU share in thousandths of a core (1000 = one core).
    pub cpu_millis: u32,
    /// Workspace quota, MiB.
    pub workspace_mib: u32,
    /// Largest single file, MiB.
    pub max_file_mib: u32,
    /// stdout/stderr kept per execution; more is truncated with a marker.
    pub output_bytes: u32,
    /// Largest upload, bytes.
    pub upload_bytes: u64,
    /// Largest code submission, bytes.
    pub code_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_seconds: 60,
            max_timeout_seconds: 600,
            memory_mib: 1024,
            max_processes: 128,
            cpu_millis: 1000,
            workspace_mib: 512,
            max_file_mib: 256,
            output_bytes: 1 << 20,
            upload_bytes: 50 << 20,
            code_bytes: 256 << 10,
        }
    }
}

/// The largest code the analysers are built for (their stacks are sized for trees as deep as
/// this much text can build); `limits.code_bytes` may not exceed it.
pub const MAX_CODE_BYTES: u32 = 1 << 20;
