//! Ports: what the pipeline needs from the outside world. Adapters implement them. Sandboxes
//! are in `sandbox.rs`, the state store in `state.rs`.

mod sandbox;
mod state;

pub use sandbox::*;
pub use state::*;

use crate::{
    audit::{AuditEvent, ChainHead},
    decision::Decision,
    execution::{Execution, Language},
    policy_input::{CodeFacts, PolicyInput},
    Cause,
};
use async_trait::async_trait;

// ---------------------------------------------------------------------------------------------
// Policy

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("no valid policy bundle is loaded")]
    NoBundle,
    #[error("policy evaluation failed: {0}")]
    Evaluation(#[source] Cause),
    #[error("policy returned a malformed decision: {0}")]
    MalformedDecision(String),
    #[error("the bundle does not load: {0}")]
    Load(String),
}

/// Turns a candidate bundle (a `.tar.gz` archive) into an engine that is never activated: for
/// replaying recorded decisions against it.
pub trait BundleCompiler: Send + Sync {
    fn compile(&self, archive: &[u8]) -> Result<Box<dyn PolicyEngine>, PolicyError>;
}

pub trait PolicyEngine: Send + Sync {
    /// The revision of the active bundle.
    fn revision(&self) -> String;
    /// Decides one request. Must fail closed: any error is a denial upstream.
    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError>;
    /// Masks a `policy.decided` event (OPA's `system.log.mask`) before it is recorded.
    fn mask_decision_log(&self, _event: &mut serde_json::Value) {}
    /// Whether a policy is loaded (for readiness).
    fn ready(&self) -> bool {
        true
    }
    /// Where the policy came from and how loading went (for readiness and operators).
    fn status(&self) -> serde_json::Value {
        serde_json::json!({ "revision": self.revision() })
    }
}

// ---------------------------------------------------------------------------------------------
// Code analysis

/// Code the analyser refuses to look into.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Nesting beyond what the analyser (and the interpreter) supports.
    #[error("{0}")]
    TooComplex(String),
}

pub trait CodeAnalyzer: Send + Sync {
    fn analyze(&self, language: Language, code: &str) -> Result<CodeFacts, AnalysisError>;
    /// SQL for a connector, in the connector's dialect.
    fn analyze_sql(
        &self,
        dialect: crate::connectors::SqlDialect,
        default_schema: &str,
        sql: &str,
    ) -> crate::connectors::SqlFacts;
    /// What a connector runs for `canonical` (a statement [`Self::analyze_sql`] accepted),
    /// under the column masks and row filters of the tables policy governs: a refusal when the
    /// statement writes a governed table or cannot be rewritten safely.
    fn plan_sql(
        &self,
        dialect: crate::connectors::SqlDialect,
        default_schema: &str,
        canonical: &str,
        governed: &std::collections::BTreeMap<String, crate::connectors::TableRules>,
    ) -> Result<Box<dyn crate::connectors::StatementPlan>, crate::connectors::SqlRefusal>;
}

// ---------------------------------------------------------------------------------------------
// Audit sinks

#[derive(Debug, thiserror::Error)]
#[error("audit sink failed: {0}")]
pub struct SinkError(#[source] pub Cause);

/// A durable destination for sealed events (beyond the outbox), fed in chain order.
#[async_trait]
pub trait AuditSink: Send + Sync {
    fn name(&self) -> &'static str;
    /// Highest seq of `chain_id` the sink already holds (to catch up after a crash).
    async fn head(&self, chain_id: &str) -> Result<Option<ChainHead>, SinkError>;
    async fn append(&self, events: &[AuditEvent]) -> Result<(), SinkError>;
}

// ---------------------------------------------------------------------------------------------
// Publishing the trail to an external log

#[derive(Debug, thiserror::Error)]
#[error("publishing audit events failed: {0}")]
pub struct PublishError(#[source] pub Cause);

/// An external, append-only log (Kafka) the outbox is relayed to.
#[async_trait]
pub trait AuditPublisher: Send + Sync {
    fn name(&self) -> &'static str;
    /// Publishes `events` (one chain, ascending `seq`) and returns once the log acknowledged
    /// every one of them, in order. On error, any prefix may have been written: the relay
    /// sends again from the first unacknowledged event, and readers drop duplicates by id.
    async fn publish(&self, events: &[AuditEvent]) -> Result<(), PublishError>;
}

/// Signs chain heads for `audit.checkpoint` events (the gateway's audit key).
pub trait CheckpointSigner: Send + Sync {
    /// Key id recorded in each checkpoint.
    fn kid(&self) -> &str;
    /// Base64url (no padding) Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> String;
}

// ---------------------------------------------------------------------------------------------
// SQL from code running in a sandbox

/// Runs governed SQL for code inside a session's sandbox (`airlock.sql(...)` in Python): the
/// same analysis, policy, credential and audit path as a connector execution, for the
/// session's principal, while one of its executions runs.
#[async_trait]
pub trait SandboxSql: Send + Sync {
    async fn query(&self, session_id: &str, connector: &str, sql: &str) -> SandboxSqlAnswer;
}

/// What became of SQL sent from inside a sandbox.
#[derive(Debug)]
pub enum SandboxSqlAnswer {
    /// It became an execution: ran, failed or was denied (see its status).
    Ran(Box<Execution>),
    /// Refused before it became one (no such session, not inside a running execution, ...).
    Refused(crate::GatewayError),
}
