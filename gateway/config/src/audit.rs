//! The `[audit]` section: the file sink, the Kafka relay, checkpoints, redaction and who may
//! read the trail.

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// The append-only JSON-lines file (default `state.dir/audit.jsonl`).
    pub file: Option<PathBuf>,
    /// When the file's lines reach the disk: `background` (written before the request
    /// answers, fsynced by a thread of its own moments later; the outbox, fsynced on the
    /// request path, is the durable record the file is caught up from after a crash) or
    /// `always` (each append fsynced before the request goes on).
    pub file_sync: FileSyncMode,
    /// CloudEvents `source` of this gateway's events.
    pub source: String,
    /// `full` keeps the code of every execution in its `execution.requested` event (it is the
    /// evidence); `hash` keeps only `code_sha256`.
    pub code: CodeRetention,
    /// Extra regular expressions whose matches are replaced by `[REDACTED]` in every event
    /// before it is hashed (tokens, passwords and keys of common forms are always redacted).
    pub redact_patterns: Vec<String>,
    /// Principals in one of these groups may read the trail (`GET /v1/audit/...`).
    pub auditor_groups: Vec<String>,
    /// Principals in one of these groups read only the events of their own tenant (their
    /// token's tenant claim); without a tenant they read nothing.
    pub tenant_auditor_groups: Vec<String>,
    /// Seconds between signed `audit.checkpoint` events (0: only at shutdown).
    pub checkpoint_interval_seconds: u64,
    /// The Ed25519 key (PKCS#8 DER) that signs checkpoints; created on first start when
    /// missing. Default `state.dir/audit-signing.key`.
    pub signing_key: Option<PathBuf>,
    pub kafka: Option<Kafka>,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            file: None,
            file_sync: FileSyncMode::Background,
            source: "airlock://gateway".into(),
            code: CodeRetention::Full,
            redact_patterns: Vec::new(),
            auditor_groups: vec!["airlock-auditors".into()],
            tenant_auditor_groups: vec!["tenant-auditors".into()],
            checkpoint_interval_seconds: 300,
            signing_key: None,
            kafka: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileSyncMode {
    Background,
    Always,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeRetention {
    Full,
    Hash,
}

/// The relay from the state DB outbox to a Kafka topic.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kafka {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
    /// Create the topic at start when it does not exist.
    pub create_topic: bool,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Past this many unpublished events of this gateway's chain, new sessions and executions
    /// are refused with `audit_unavailable` (503) instead of running unaudited.
    pub max_backlog: u64,
    /// Events produced per batch; a batch is marked published when the broker acknowledged
    /// all of it.
    pub batch_size: u32,
    /// Seconds a relay holds a chain before another replica may take it over.
    pub lease_seconds: u64,
    /// Extra librdkafka properties (`security.protocol`, `sasl.mechanism`, `ssl.ca.location`,
    /// ...). The delivery guarantees (`enable.idempotence`, `acks`) cannot be overridden.
    pub properties: std::collections::BTreeMap<String, String>,
}

impl Default for Kafka {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: "airlock.audit".into(),
            create_topic: true,
            partitions: 6,
            replication_factor: 1,
            max_backlog: 100_000,
            batch_size: 1_000,
            lease_seconds: 30,
            properties: Default::default(),
        }
    }
}

/// librdkafka properties that carry the relay's delivery guarantees.
pub const KAFKA_FIXED_PROPERTIES: &[&str] = &[
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
    "enable.gapless.guarantee",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "bootstrap.servers",
];

impl Audit {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (i, p) in self.redact_patterns.iter().enumerate() {
            regex_syntax_ok(p).map_err(|e| invalid(&format!("audit.redact_patterns[{i}]"), e))?;
        }
        if let Some(k) = &self.kafka {
            if k.brokers.trim().is_empty() {
                return Err(invalid(
                    "audit.kafka.brokers",
                    "set host:port of at least one broker",
                ));
            }
            if k.topic.is_empty()
                || k.topic.len() > 249
                || !k
                    .topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(invalid(
                    "audit.kafka.topic",
                    "1-249 characters of letters, digits, '.', '_' and '-'",
                ));
            }
            if k.partitions < 1 || k.replication_factor < 1 {
                return Err(invalid(
                    "audit.kafka.partitions",
                    "partitions and replication_factor must be at least 1",
                ));
            }
            if k.max_backlog == 0 || k.batch_size == 0 || k.lease_seconds == 0 {
                return Err(invalid(
                    "audit.kafka.max_backlog",
                    "max_backlog, batch_size and lease_seconds must be at least 1",
                ));
            }
            if let Some(p) = k
                .properties
                .keys()
                .find(|p| KAFKA_FIXED_PROPERTIES.contains(&p.as_str()))
            {
                return Err(invalid(
                    &format!("audit.kafka.properties.{p}"),
                    "fixed by the relay's delivery guarantees (idempotent, acks=all, in order); set brokers with audit.kafka.brokers",
                ));
            }
        }
        Ok(())
    }
}

fn regex_syntax_ok(p: &str) -> Result<(), String> {
    regex::Regex::new(p).map(|_| ()).map_err(|e| e.to_string())
}
