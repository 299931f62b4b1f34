//! The outbox relay and backpressure against a real SQLite store and a scripted publisher that
//! stands in for Kafka (the real broker is in the end-to-end tests).

use airlock_gateway_audit::{AuditOptions, AuditRecorder, AuditRelay, Redactor, RelaySettings};
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    audit::{types, AuditEvent, ChainVerifier, NewEvent},
    ports::{AuditPublisher, CheckpointSigner, PublishError, Store},
    ErrorCode, SystemClock, SystemIds,
};
use async_trait::async_trait;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Appends to an in-memory log; can be told to write only a prefix of the next batch and fail.
#[derive(Default)]
struct ScriptedLog {
    log: Mutex<Vec<AuditEvent>>,
    fail_after: Mutex<Option<usize>>,
}

#[async_trait]
impl AuditPublisher for ScriptedLog {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn publish(&self, events: &[AuditEvent]) -> Result<(), PublishError> {
        let fail = self.fail_after.lock().map(|mut f| f.take()).unwrap_or(None);
        let mut log = self
            .log
            .lock()
            .map_err(|_| PublishError(Cause::msg("poisoned")))?;
        match fail {
            Some(n) => {
                log.extend(events.iter().take(n).cloned());
                Err(PublishError(Cause::msg(format!(
                    "broker went away after {n}"
                ))))
            }
            None => {
                log.extend(events.iter().cloned());
                Ok(())
            }
        }
    }
}

struct TestSigner;

impl CheckpointSigner for TestSigner {
    fn kid(&self) -> &str {
        "test"
    }
    fn sign(&self, message: &[u8]) -> String {
        format!("len{}", message.len())
    }
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    Arc::new(
        airlock_gateway_store::SqlStore::connect(&url, true)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

async fn recorder(store: &Arc<dyn Store>, chain: &str, max_backlog: u64) -> Arc<AuditRecorder> {
    Arc::new(
        AuditRecorder::open(
            AuditOptions {
                chain_id: chain.into(),
                source: "airlock://test".into(),
                store_code: true,
                redactor: Arc::new(Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}"))),
                signer: Some(Arc::new(TestSigner)),
                max_backlog: Some(max_backlog),
                clock: Arc::new(SystemClock),
                ids: Arc::new(SystemIds),
            },
            store.clone(),
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message)),
    )
}

async fn record(rec: &AuditRecorder, n: usize) {
    for i in 0..n {
        rec.record(
            vec![],
            vec![NewEvent::new(
                types::EXECUTION_REQUESTED,
                None,
                serde_json::json!({"i": i}),
            )],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    }
}

fn relay(
    store: &Arc<dyn Store>,
    log: &Arc<ScriptedLog>,
    rec: &Arc<AuditRecorder>,
    holder: &str,
    lease: Duration,
) -> Arc<AuditRelay> {
    AuditRelay::new(
        store.clone(),
        log.clone(),
        rec.clone(),
        RelaySettings {
            holder: holder.into(),
            batch_size: 10,
            lease,
            poll: Duration::from_millis(10),
        },
    )
}

fn verify(log: &[AuditEvent]) -> airlock_gateway_domain::audit::VerifyReport {
    let mut v = ChainVerifier::new(false);
    for e in log {
        v.push_line(&serde_json::to_string(e).unwrap_or_default());
    }
    v.finish()
}

#[tokio::test]
async fn relays_in_order_and_resends_from_the_first_unacknowledged_event() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let rec = recorder(&store, "gw-a", 1000).await;
    let log = Arc::new(ScriptedLog::default());
    let relay = relay(&store, &log, &rec, "gw-a", Duration::from_secs(30));
    record(&rec, 25).await;
    assert_eq!(rec.backlog(), 25);

    assert_eq!(relay.run_once().await, Ok(25));
    assert_eq!(rec.backlog(), 0);
    // The broker takes 3 events of the next batch, then fails: none of it counts.
    record(&rec, 12).await;
    *log.fail_after.lock().unwrap_or_else(|e| e.into_inner()) = Some(3);
    assert!(relay.run_once().await.is_err());
    assert_eq!(rec.backlog(), 12, "a failed batch is not marked published");
    assert_eq!(relay.run_once().await, Ok(12));
    assert_eq!(rec.backlog(), 0);

    let log = log.log.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(log.len(), 25 + 3 + 12, "the 3 are sent again");
    let r = verify(&log);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.duplicates_dropped, r.chains.get("gw-a")), (3, Some(&37)));

    // A new recorder (a restart) resumes from the relay table: nothing pending.
    let again = recorder(&store, "gw-a", 1000).await;
    assert_eq!(again.backlog(), 0);
}

#[tokio::test]
async fn new_work_is_refused_past_the_backlog_and_admitted_once_it_drains() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let rec = recorder(&store, "gw-b", 5).await;
    let log = Arc::new(ScriptedLog::default());
    record(&rec, 4).await;
    assert!(rec.admit().is_ok());
    record(&rec, 1).await;
    let err = rec
        .admit()
        .err()
        .unwrap_or_else(|| panic!("admitted past the limit"));
    assert_eq!(err.code, ErrorCode::AuditUnavailable);
    // Recording what already runs still works (it is never dropped).
    record(&rec, 2).await;
    let relay = relay(&store, &log, &rec, "gw-b", Duration::from_secs(30));
    assert_eq!(relay.run_once().await, Ok(7));
    assert!(rec.admit().is_ok());
    let status = relay.status().await;
    assert_eq!(status["backlog"], 0);
    assert_eq!(status["published_total"], 7);
}

#[tokio::test]
async fn one_relay_per_chain_and_a_silent_holder_loses_it_after_the_lease() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let rec_a = recorder(&store, "gw-a", 1000).await;
    let rec_b = recorder(&store, "gw-b", 1000).await;
    let log = Arc::new(ScriptedLog::default());
    let lease = Duration::from_millis(300);
    let relay_a = relay(&store, &log, &rec_a, "gw-a", lease);
    let relay_b = relay(&store, &log, &rec_b, "gw-b", lease);
    record(&rec_a, 3).await;
    record(&rec_b, 2).await;
    // Each takes its own chain first; neither takes the other's while the lease runs.
    assert_eq!(relay_a.run_once().await, Ok(3 + 2));
    assert_eq!(relay_b.run_once().await, Ok(0));
    record(&rec_a, 4).await;
    assert_eq!(relay_b.run_once().await, Ok(0), "gw-a's lease still runs");
    // gw-a stops relaying; after its lease, gw-b relays gw-a's chain.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert_eq!(relay_b.run_once().await, Ok(4));
    let log = log.log.lock().map(|l| l.clone()).unwrap_or_default();
    let r = verify(&log);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.chains.get("gw-a"), Some(&7));
    assert_eq!(r.chains.get("gw-b"), Some(&2));
}

#[tokio::test]
async fn checkpoints_seal_new_events_only() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let rec = recorder(&store, "gw-c", 1000).await;
    assert!(
        rec.checkpoint().await.ok().flatten().is_none(),
        "nothing to seal"
    );
    record(&rec, 2).await;
    let cp = rec
        .checkpoint()
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no checkpoint"));
    assert_eq!(cp.event_type, types::AUDIT_CHECKPOINT);
    assert_eq!((cp.data["seq"].as_u64(), cp.seq), (Some(2), 3));
    assert_eq!(cp.data["hash"], cp.prevhash.as_str());
    assert!(
        rec.checkpoint().await.ok().flatten().is_none(),
        "already sealed"
    );
    // A restart knows the chain ends sealed.
    let again = recorder(&store, "gw-c", 1000).await;
    assert!(again.checkpoint().await.ok().flatten().is_none());
}

#[tokio::test]
async fn secrets_are_scrubbed_before_sealing_and_code_can_be_kept_as_a_hash_only() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let redactor =
        Arc::new(Redactor::new(&["ACME-[0-9]{6}".into()]).unwrap_or_else(|e| panic!("{e}")));
    redactor.add_secret("issued-db-password-123");
    let rec = AuditRecorder::open(
        AuditOptions {
            chain_id: "gw-r".into(),
            source: "airlock://test".into(),
            store_code: false,
            redactor,
            signer: None,
            max_backlog: None,
            clock: Arc::new(SystemClock),
            ids: Arc::new(SystemIds),
        },
        store.clone(),
        vec![],
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message));
    let sealed = rec
        .record(
            vec![],
            vec![NewEvent::new(
                types::EXECUTION_REQUESTED,
                None,
                serde_json::json!({"code": "x = 1", "code_sha256": "ab", "note": "ticket ACME-123456 with issued-db-password-123", "headers": {"api_key": "k-123456"}}),
            )],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let stored = store
        .audit_events_after("gw-r", 0, 10)
        .await
        .unwrap_or_default();
    assert_eq!(stored, sealed, "what is hashed is what is stored");
    let text = serde_json::to_string(&stored).unwrap_or_default();
    for gone in [
        "x = 1",
        "ACME-123456",
        "issued-db-password-123",
        "k-123456",
        "\"code\"",
    ] {
        assert!(!text.contains(gone), "{gone} in {text}");
    }
    assert_eq!(stored[0].data["code_sha256"], "ab");
    assert_eq!(stored[0].compute_hash(), stored[0].hash);
}
