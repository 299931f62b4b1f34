use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    Message, Offset, TopicPartitionList,
};
use std::{collections::BTreeMap, time::Duration};

/// Reads every message of `topic` from the beginning to the end each partition had when
/// reading began, one partition after another (a chain lives in one partition, so each chain is
/// read in order). `f` gets each payload and returns false to stop. Returns messages read.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    properties: &BTreeMap<String, String>,
    timeout: Duration,
    mut f: impl FnMut(&[u8]) -> bool,
) -> Result<u64, String> {
    let mut cfg = ClientConfig::new();
    for (k, v) in properties {
        cfg.set(k, v);
    }
    let consumer: BaseConsumer = cfg
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("airlock-verify-{}", throwaway_group()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Small fetches: a broker answers each sooner, and the reader holds less at a time.
        .set("fetch.max.bytes", "4194304")
        .set("max.partition.fetch.bytes", "1048576")
        .create()
        .map_err(|e| format!("creating the Kafka consumer: {e}"))?;
    let meta = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("reading metadata of {topic}: {e}"))?;
    let t = meta
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("topic {topic} not found"))?;
    if let Some(e) = t.error() {
        return Err(format!("topic {topic}: {e:?}"));
    }
    let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    let mut read = 0u64;
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
        if high <= low {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(low))
            .map_err(|e| e.to_string())?;
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        let mut next = low;
        while next < high {
            let msg = match consumer.poll(timeout) {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(format!("reading {topic}/{p}: {e}")),
                None => {
                    return Err(format!(
                        "reading {topic}/{p}: no message at offset {next} within {timeout:?}"
                    ))
                }
            };
            if msg.partition() != p {
                continue;
            }
            next = msg.offset() + 1;
            read += 1;
            if !f(msg.payload().unwrap_or_default()) {
                return Ok(read);
            }
        }
    }
    Ok(read)
}

/// A consumer group of one read, never recorded.
#[allow(clippy::disallowed_methods)]
fn throwaway_group() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}
