//! Wires the audit trail from config: the recorder (redaction, code retention, checkpoint
//! key, backpressure), its checkpoint timer, and the relay to Kafka when one is configured.

use airlock_gateway_audit::{
    AuditOptions, AuditRecorder, AuditRelay, AuditSigningKey, Redactor, RelaySettings,
};
use airlock_gateway_audit_kafka::{KafkaPublisher, KafkaSettings};
use airlock_gateway_config::{CodeRetention, Config};
use airlock_gateway_domain::{
    ports::{AuditSink, Store},
    SystemClock, SystemIds,
};
use anyhow::Context;
use std::{sync::Arc, time::Duration};

pub struct RunningRelay {
    pub relay: Arc<AuditRelay>,
    recorder: Arc<AuditRecorder>,
    task: tokio::task::JoinHandle<()>,
    checkpoints: Option<tokio::task::JoinHandle<()>>,
}

impl RunningRelay {
    /// At shutdown: lets the relay publish what is left, for at most `grace`.
    pub async fn drain(self, grace: Duration) {
        if let Some(c) = &self.checkpoints {
            c.abort();
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.recorder.backlog() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.recorder.backlog();
        if left > 0 {
            tracing::warn!(
                events = left,
                "stopping with audit events not yet on Kafka; the next start relays them"
            );
        }
        self.task.abort();
    }
}

pub async fn open(
    cfg: &Config,
    store: Arc<dyn Store>,
    sinks: Vec<Arc<dyn AuditSink>>,
) -> anyhow::Result<(Arc<AuditRecorder>, Option<RunningRelay>)> {
    let redactor = Arc::new(Redactor::new(&cfg.audit.redact_patterns)?);
    let key = AuditSigningKey::load_or_create(&cfg.audit_signing_key())
        .context("opening the audit signing key")?;
    let recorder = Arc::new(
        AuditRecorder::open(
            AuditOptions {
                chain_id: cfg.server.instance_id.clone(),
                source: cfg.audit.source.clone(),
                store_code: cfg.audit.code == CodeRetention::Full,
                redactor,
                signer: Some(Arc::new(key)),
                max_backlog: cfg.audit.kafka.as_ref().map(|k| k.max_backlog),
                clock: Arc::new(SystemClock),
                ids: Arc::new(SystemIds),
            },
            store.clone(),
            sinks,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?,
    );
    let checkpoints = (cfg.audit.checkpoint_interval_seconds > 0).then(|| {
        recorder.spawn_checkpoints(Duration::from_secs(cfg.audit.checkpoint_interval_seconds))
    });
    let Some(k) = &cfg.audit.kafka else {
        return Ok((recorder, None));
    };
    let publisher = KafkaPublisher::new(KafkaSettings {
        brokers: k.brokers.clone(),
        topic: k.topic.clone(),
        create_topic: k.create_topic,
        partitions: k.partitions,
        replication_factor: k.replication_factor,
        properties: k.properties.clone(),
    })
    .map_err(anyhow::Error::msg)?;
    // A broker that is down at start is not fatal: events wait in the outbox (up to the
    // backlog limit) and the relay creates nothing it does not need.
    if let Err(e) = publisher.ensure_topic(Duration::from_secs(10)).await {
        tracing::warn!(error = %e, "could not make sure the audit topic exists; relaying anyway");
    }
    let relay = AuditRelay::new(
        store,
        Arc::new(publisher),
        recorder.clone(),
        RelaySettings {
            holder: cfg.server.instance_id.clone(),
            batch_size: k.batch_size,
            lease: Duration::from_secs(k.lease_seconds),
            poll: Duration::from_secs(1),
        },
    );
    let task = relay.spawn();
    Ok((
        recorder.clone(),
        Some(RunningRelay {
            relay,
            recorder,
            task,
            checkpoints,
        }),
    ))
}
