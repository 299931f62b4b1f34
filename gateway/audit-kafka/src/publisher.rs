use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    audit::AuditEvent,
    ports::{AuditPublisher, PublishError},
};
use async_trait::async_trait;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    config::ClientConfig,
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use std::{collections::BTreeMap, sync::Mutex, time::Duration};

#[derive(Clone, Debug)]
pub struct KafkaSettings {
    pub brokers: String,
    pub topic: String,
    pub create_topic: bool,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Extra librdkafka properties (security, SASL, TLS); never the delivery guarantees.
    pub properties: BTreeMap<String, String>,
}

pub struct KafkaPublisher {
    settings: KafkaSettings,
    /// Replaced after a failed delivery: with the gapless guarantee a failure is fatal to the
    /// producer instance, and a fresh one starts again from the first unacknowledged event.
    producer: Mutex<FutureProducer>,
}

fn client_config(s: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &s.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", &s.brokers)
        .set("client.id", "airlock-audit-relay");
    c
}

fn producer(s: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    client_config(s)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("enable.gapless.guarantee", "true")
        // 0: retry for ever. A message never fails because the broker was away too long, so
        // nothing after it can overtake it; the outbox backlog bounds how long that may last.
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .create()
}

impl KafkaPublisher {
    pub fn new(settings: KafkaSettings) -> Result<Self, String> {
        let p = producer(&settings).map_err(|e| format!("creating the Kafka producer: {e}"))?;
        Ok(Self {
            settings,
            producer: Mutex::new(p),
        })
    }

    /// Creates the topic when it does not exist (an existing topic is left as it is).
    pub async fn ensure_topic(&self, timeout: Duration) -> Result<(), String> {
        if !self.settings.create_topic {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = client_config(&self.settings)
            .create()
            .map_err(|e| format!("creating the Kafka admin client: {e}"))?;
        let topic = NewTopic::new(
            &self.settings.topic,
            self.settings.partitions,
            TopicReplication::Fixed(self.settings.replication_factor),
        );
        let opts = AdminOptions::new().operation_timeout(Some(timeout));
        let results = admin
            .create_topics([&topic], &opts)
            .await
            .map_err(|e| format!("creating topic {}: {e}", self.settings.topic))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => return Err(format!("creating topic {t}: {code}")),
            }
        }
        Ok(())
    }

    fn current(&self) -> Result<FutureProducer, PublishError> {
        self.producer
            .lock()
            .map(|p| p.clone())
            .map_err(|_| PublishError(Cause::msg("producer lock poisoned")))
    }

    fn replace_producer(&self) {
        match producer(&self.settings) {
            Ok(p) => {
                if let Ok(mut g) = self.producer.lock() {
                    *g = p;
                }
            }
            Err(e) => tracing::error!(error = %e, "recreating the Kafka producer failed"),
        }
    }
}

#[async_trait]
impl AuditPublisher for KafkaPublisher {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn publish(&self, events: &[AuditEvent]) -> Result<(), PublishError> {
        let producer = self.current()?;
        let mut pending = Vec::with_capacity(events.len());
        for e in events {
            let payload = serde_json::to_vec(e).map_err(|e| PublishError(Cause::new(e)))?;
            loop {
                let record = FutureRecord::to(&self.settings.topic)
                    .key(e.chainid.as_bytes())
                    .payload(&payload)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: "content-type",
                        value: Some(crate::CONTENT_TYPE),
                    }));
                match producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push((e.seq, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((err, _)) => {
                        self.replace_producer();
                        return Err(PublishError(Cause::context(format!("seq {}", e.seq), err)));
                    }
                }
            }
        }
        for (seq, delivery) in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => {
                    self.replace_producer();
                    return Err(PublishError(Cause::context(format!("seq {seq}"), err)));
                }
                Err(_) => {
                    self.replace_producer();
                    return Err(PublishError(Cause::msg(format!(
                        "seq {seq}: the producer dropped the delivery report"
                    ))));
                }
            }
        }
        Ok(())
    }
}
