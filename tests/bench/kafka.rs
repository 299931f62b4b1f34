//! Audit events into Kafka: sustained relay throughput from the SQLite outbox to a real broker
//! (tansu on 127.0.0.1), beside a baseline that produces the same events straight to the broker
//! with the same publisher (no outbox reads, no marking); the outbox append latency while the
//! relay runs; and a read-back of the whole topic to show nothing was lost.

use airlock_gateway_audit::{AuditRecorder, AuditRelay, RelaySettings};
use airlock_gateway_audit_kafka::{KafkaPublisher, KafkaSettings};
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainVerifier, NewEvent},
    ports::{AuditPublisher, Store},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

pub struct KafkaReport {
    pub events: u64,
    pub relay_per_s: f64,
    pub baseline_per_s: f64,
    pub append: crate::Stats,
    pub read_back: u64,
    pub duplicates: u64,
    pub chain_ok: bool,
}

fn settings(brokers: &str, topic: &str) -> KafkaSettings {
    KafkaSettings {
        brokers: brokers.into(),
        topic: topic.into(),
        create_topic: true,
        partitions: 1,
        replication_factor: 1,
        properties: Default::default(),
    }
}

fn event_data(i: u64) -> serde_json::Value {
    // About 500 bytes sealed, like an execution.requested event of a short cell.
    serde_json::json!({
        "principal": {"issuer": "https://idp.example.com", "subject": "alice", "groups": ["analysts"], "tenant": "acme"},
        "session_id": "ses_0123456789abcdef", "execution_id": format!("exe_{i:016}"),
        "language": "python", "code": "df = pd.read_csv('sales.csv')\ndf.groupby('region').sum()",
        "code_sha256": "ab".repeat(32),
    })
}

/// A fresh broker with its own log, killed when dropped.
async fn broker() -> airlock_tests::tansu::Broker {
    tokio::task::spawn_blocking(airlock_tests::tansu::Broker::start)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn kafka_bench() -> Option<KafkaReport> {
    if airlock_tests::tansu::installed().is_none() {
        println!("(kafka: no tansu broker installed; run deploy/install-kafka-broker.sh)");
        return None;
    }
    let n: u64 = std::env::var("AIRLOCK_BENCH_KAFKA_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = Arc::new(
        airlock_gateway_store::SqlStore::connect(
            &format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("state.db").display()
            ),
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let rec = Arc::new(
        AuditRecorder::open(
            crate::bench_audit_options("bench-kafka", Some(u64::MAX)),
            store.clone(),
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message)),
    );
    // Fill the outbox (as a broker outage would), 100 events per commit.
    let mut i = 0;
    while i < n {
        let batch: Vec<NewEvent> = (i..(i + 100).min(n))
            .map(|k| NewEvent::new("execution.requested", None, event_data(k)))
            .collect();
        i += batch.len() as u64;
        rec.record(vec![], batch)
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
    }

    // Baseline: the same events, produced straight from memory by the same publisher.
    let events: Vec<AuditEvent> = store
        .audit_events_after("bench-kafka", 0, u32::try_from(n).unwrap_or(u32::MAX))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Each phase gets a fresh, empty broker.
    let raw_broker = broker().await;
    let brokers = raw_broker.brokers();
    let raw =
        KafkaPublisher::new(settings(&brokers, "bench-raw")).unwrap_or_else(|e| panic!("{e}"));
    raw.ensure_topic(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    for chunk in events.chunks(1000) {
        raw.publish(chunk).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let baseline_per_s = n as f64 / t.elapsed().as_secs_f64();
    drop(raw);
    drop(tokio::task::spawn_blocking(move || drop(raw_broker)).await);
    let broker = broker().await;
    let brokers = broker.brokers();

    let publisher =
        KafkaPublisher::new(settings(&brokers, "bench-audit")).unwrap_or_else(|e| panic!("{e}"));
    publisher
        .ensure_topic(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let relay = AuditRelay::new(
        store.clone(),
        Arc::new(publisher),
        rec.clone(),
        RelaySettings {
            holder: "bench".into(),
            batch_size: 1000,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(100),
        },
    );
    // Sustained throughput: the relay drains the backlog of n events.
    let t = Instant::now();
    let task = relay.spawn();
    while rec.backlog() > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let relay_per_s = n as f64 / t.elapsed().as_secs_f64();
    // Then appends one commit at a time while the relay publishes each as it comes.
    let mut append = vec![];
    for k in 0..1000 {
        let s = Instant::now();
        rec.record(
            vec![],
            vec![NewEvent::new(
                "execution.requested",
                None,
                event_data(n + k),
            )],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
        append.push(s.elapsed());
    }
    while rec.backlog() > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let total = n + 1000;
    task.abort();

    eprintln!(
        "relay {relay_per_s:.0} events/s, baseline {baseline_per_s:.0} events/s; reading the topic back"
    );
    let t = Instant::now();
    // Read the whole topic back with the gateway's own reader and verify the chain.
    let mut v = ChainVerifier::new(false);
    let read_back = airlock_gateway_audit_kafka::read_topic(
        &brokers,
        "bench-audit",
        &Default::default(),
        // tansu (a test broker) is slow to answer the first fetch of a large topic.
        Duration::from_secs(300),
        |p| v.push_line(&String::from_utf8_lossy(p)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let report = v.finish();
    eprintln!("read back in {:.1} s", t.elapsed().as_secs_f64());
    let chain_ok = report.ok() && report.chains.get("bench-kafka") == Some(&total);
    Some(KafkaReport {
        events: total,
        relay_per_s,
        baseline_per_s,
        append: crate::stats(append),
        read_back,
        duplicates: report.duplicates_dropped,
        chain_ok,
    })
}
