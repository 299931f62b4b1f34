//! Sessions, files and the execution pipeline, written only against the domain ports.

mod audit_recorder;
mod events;
mod files;
mod pipeline;
mod service;
mod sweeper;

pub use audit_recorder::AuditRecorder;
pub use pipeline::ExecutionReply;
pub use service::{Gateway, GatewayDeps, GatewaySettings, Readiness};

/// Metric names, in one place.
pub mod metric {
    pub const EXECUTIONS: &str = "airlock_executions_total";
    pub const DECISIONS: &str = "airlock_policy_decisions_total";
    pub const DECISION_SECONDS: &str = "airlock_policy_decision_seconds";
    pub const EXECUTION_SECONDS: &str = "airlock_execution_seconds";
    pub const SANDBOXES_LIVE: &str = "airlock_sandboxes_live";
    pub const SANDBOX_START_SECONDS: &str = "airlock_sandbox_start_seconds";
    pub const KERNEL_RESTARTS: &str = "airlock_kernel_restarts_total";
    pub const AUDIT_EVENTS: &str = "airlock_audit_events_total";
    pub const AUDIT_SINK_FAILURES: &str = "airlock_audit_sink_failures_total";
}
