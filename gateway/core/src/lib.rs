//! Sessions, files, connectors and the execution pipeline, written only against the domain
//! ports (the audit trail is `airlock-gateway-audit`).

mod access_keys;
mod connectors;
mod dry_run;
mod execution;
mod files;
mod imports;
pub mod jobs;
mod outputs;
mod overview;
mod quota;
mod rate;
mod readiness;
mod review;
mod service;
mod sessions;
mod usage;

pub use access_keys::{AccessKeySettings, MintedKey};
pub use connectors::{ConnectorEntry, Connectors};
pub use dry_run::DryRun;
pub use execution::{ExecutionReply, Follow, Page, Submitted};
pub use outputs::{NamedDetector, OutputInspection};
pub use overview::MAX_OVERVIEW_DAYS;
pub use quota::Caps;
pub use rate::RateLimit;
pub use readiness::Readiness;
pub use review::{CaseAction, CaseFilter, Webhooks};
pub use service::{Gateway, GatewayDeps, GatewaySettings};
pub use usage::{parse_day, UsageFilter, UsageReport};

/// Metric names, in one place (the audit trail's are `airlock_gateway_audit::metric`).
pub mod metric {
    /// Usage per tenant (`tenant` label; empty for principals without one).
    pub mod usage {
        pub const EXECUTIONS: &str = "airlock_usage_executions_total";
        pub const CPU_MS: &str = "airlock_usage_cpu_milliseconds_total";
        pub const MEMORY_MIB_MS: &str = "airlock_usage_memory_mib_milliseconds_total";
        pub const EGRESS_BYTES: &str = "airlock_usage_egress_bytes_total";
        pub const WAREHOUSE_ROWS: &str = "airlock_usage_warehouse_rows_total";
        pub const REVIEW_CASES: &str = "airlock_usage_review_cases_total";
    }
    pub const EXECUTIONS: &str = "airlock_executions_total";
    /// Requests refused by the rate limits.
    pub const RATE_LIMITED: &str = "airlock_rate_limited_total";
    /// Requests refused by a cap on sessions or running executions (`what`, `scope` labels).
    pub const CAPPED: &str = "airlock_capped_total";
    pub const DECISIONS: &str = "airlock_policy_decisions_total";
    pub const DECISION_SECONDS: &str = "airlock_policy_decision_seconds";
    pub const EXECUTION_SECONDS: &str = "airlock_execution_seconds";
    pub const SANDBOXES_LIVE: &str = "airlock_sandboxes_live";
    pub const SANDBOX_START_SECONDS: &str = "airlock_sandbox_start_seconds";
    pub const KERNEL_RESTARTS: &str = "airlock_kernel_restarts_total";
    /// Review cases by the state they ended in (`status` label).
    pub const REVIEW_CASES_DECIDED: &str = "airlock_review_cases_decided_total";
    /// Time from a case's creation to its decision (approved, rejected, withdrawn, expired).
    pub const REVIEW_DECISION_SECONDS: &str = "airlock_review_decision_seconds";
    /// Cases pending, as the sweeper last counted them.
    pub const REVIEW_CASES_PENDING: &str = "airlock_review_cases_pending";
    pub const WEBHOOKS_DELIVERED: &str = "airlock_webhooks_delivered_total";
}
