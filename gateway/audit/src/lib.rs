//! Everything about the audit trail, in one crate: the payload of every event type
//! ([`payload`]; the type names are [`airlock_gateway_domain::audit::types`]), secret redaction
//! ([`redact`]), the recorder that seals events into the chain and writes them durably
//! ([`AuditRecorder`]), the relay that publishes the outbox to a broker ([`AuditRelay`]), the
//! auditors' reads ([`AuditReader`]), checkpoint signing and the verifier behind
//! `airlock audit verify`. The JSON-lines file is one adapter of the [`AuditSink`] port
//! ([`JsonlFileSink`]); Kafka is another, in `airlock-gateway-audit-kafka`.
//!
//! [`AuditSink`]: airlock_gateway_domain::ports::AuditSink

mod jsonl_file;
pub mod payload;
mod query;
mod range;
mod recorder;
pub mod redact;
mod relay;
mod signing;
mod verify;

pub use jsonl_file::{FileSync, JsonlFileSink};
pub use query::{decisions_in, AuditPage, AuditReader, AuditScope, Auditors, MAX_PAGE};
pub use range::{RangeCheck, MAX_RANGE_EVENTS};
pub use recorder::{AuditOptions, AuditRecorder};
pub use redact::Redactor;
pub use relay::{AuditRelay, RelaySettings};
pub use signing::{AuditSigningKey, KeyError, TrustedKeys};
pub use verify::{verify_file, verify_reader, verify_reader_with, VerifyOptions};

/// Metric names of the audit trail.
pub mod metric {
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
