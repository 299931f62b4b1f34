//! The audit trail on Kafka, through rdkafka (bundled librdkafka). The only crate that links
//! it.
//!
//! - [`KafkaPublisher`]: the relay's [`AuditPublisher`]. An idempotent producer with
//!   `acks=all`, the gapless guarantee, and no message timeout: a broker that is down holds
//!   the relay (the backlog grows in the outbox and new work is refused past its limit)
//!   instead of failing messages out of order. Each event is one message in the CloudEvents
//!   Kafka binding's structured mode (`content-type: application/cloudevents+json`), keyed by
//!   its chain id so a chain (and so each session's events on it) stays in one partition, in
//!   order.
//! - [`read_topic`]: reads a whole topic, partition by partition, for `airlock audit verify
//!   --kafka`.

mod publisher;
mod reader;

pub use publisher::{KafkaPublisher, KafkaSettings};
pub use reader::read_topic;

pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
