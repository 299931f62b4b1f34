//! Sessions, files and the execution pipeline, written only against the domain ports.

mod analyse;
mod audit_query;
mod audit_recorder;
mod audit_relay;
mod connector_run;
mod events;
mod execution;
mod files;
mod imports;
pub mod jobs;
mod readiness;
pub mod redact;
mod service;
mod sweeper;

pub use audit_query::AuditPage;
pub use audit_recorder::{AuditOptions, AuditRecorder};
pub use audit_relay::{AuditRelay, RelaySettings};
pub use connector_run::{ConnectorEntry, Connectors};
pub use execution::{ExecutionReply, Follow, Page, Submitted};
pub use readiness::Readiness;
pub use service::{Gateway, GatewayDeps, GatewaySettings};

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
    pub const AUDIT_BACKLOG: &str = "airlock_audit_backlog_events";
    pub const AUDIT_RELAY_LAG: &str = "airlock_audit_relay_lag_seconds";
    pub const AUDIT_PUBLISHED: &str = "airlock_audit_published_total";
    pub const AUDIT_PUBLISH_FAILURES: &str = "airlock_audit_publish_failures_total";
    pub const AUDIT_BACKPRESSURE_REFUSALS: &str = "airlock_audit_backpressure_refusals_total";
    pub const AUDIT_REDACTIONS: &str = "airlock_audit_redactions_total";
    pub const AUDIT_CHECKPOINTS: &str = "airlock_audit_checkpoints_total";
}
