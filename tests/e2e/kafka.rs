//! A real Kafka-protocol broker (tansu) on 127.0.0.1 for the audit tests, and the independent
//! Python client (confluent-kafka) that reads and writes topics.

use crate::harness;
use serde_json::Value;
use std::process::{Command, Stdio};

pub use airlock_tests::tansu::Broker;

/// Every message of `topic`, read by the independent client.
pub fn read_topic(brokers: &str, topic: &str) -> Vec<Value> {
    let out = Command::new(harness::python())
        .arg(harness::repo_root().join("tests/kafka/topic.py"))
        .args(["read", brokers, topic])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "reading {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Writes `values` (keyed by their chain id) to a new topic, in order.
pub fn produce_topic(brokers: &str, topic: &str, values: &[String]) {
    use std::io::Write;
    let mut child = Command::new(harness::python())
        .arg(harness::repo_root().join("tests/kafka/topic.py"))
        .args(["produce", brokers, topic])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        for v in values {
            let key = serde_json::from_str::<Value>(v)
                .ok()
                .and_then(|e| e["chainid"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let line = serde_json::json!({"key": key, "value": v});
            writeln!(stdin, "{line}").unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "producing {topic}");
}

/// `airlock audit verify --kafka BROKERS --topic T ARGS...`: (exit code, stdout).
pub fn verify_topic(brokers: &str, topic: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(harness::airlock_bin())
        .args(["audit", "verify", "--kafka", brokers, "--topic", topic])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The `[audit.kafka]` section for a gateway relaying to `topic`.
pub fn relay_config(brokers: &str, topic: &str, max_backlog: u64, batch_size: u32) -> String {
    format!(
        "\n[audit]\ncheckpoint_interval_seconds = 2\n\n[audit.kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\npartitions = 3\nmax_backlog = {max_backlog}\nbatch_size = {batch_size}\nlease_seconds = 5\n"
    )
}
