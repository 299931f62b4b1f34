//! The audit recorder's append (outbox and JSON-lines file) in process, and the options
//! `airlock serve` gives it.

use crate::{stats, Stats};
use std::time::Instant;

/// One audit event through the recorder: sealed, committed to the SQLite outbox (WAL,
/// synchronous=FULL) and appended with fsync to the JSON-lines file; beside the same commit
/// to the outbox alone (no file sink) as the baseline.
pub(crate) async fn audit_bench() -> (Stats, Stats) {
    use airlock_gateway_domain::audit::NewEvent;
    use std::sync::Arc;
    let mut out = vec![];
    for with_file in [true, false] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("state.db").display()
        );
        let store = Arc::new(
            airlock_gateway_store::SqlStore::connect(&url, true)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let sinks: Vec<Arc<dyn airlock_gateway_domain::ports::AuditSink>> = if with_file {
            vec![Arc::new(
                airlock_gateway_audit::JsonlFileSink::open(&dir.path().join("audit.jsonl"))
                    .unwrap_or_else(|e| panic!("{e}")),
            )]
        } else {
            vec![]
        };
        let rec = airlock_gateway_audit::AuditRecorder::open(
            bench_audit_options("bench", None),
            store,
            sinks,
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
        let data = serde_json::json!({"principal": {"issuer": "https://idp", "subject": "alice", "groups": ["analysts"]}, "session_id": "ses_x", "code": "print(1)", "code_sha256": "ab".repeat(32)});
        let mut v = vec![];
        for i in 0..1100 {
            let t = Instant::now();
            rec.record(
                vec![],
                vec![NewEvent::new(
                    "execution.requested",
                    Some("ses_x".into()),
                    data.clone(),
                )],
            )
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
            if i >= 100 {
                v.push(t.elapsed());
            }
        }
        out.push(stats(v));
    }
    let baseline = out.pop().unwrap_or(Stats {
        p50: 0.0,
        p99: 0.0,
        n: 0,
    });
    let full = out.pop().unwrap_or(Stats {
        p50: 0.0,
        p99: 0.0,
        n: 0,
    });
    (full, baseline)
}

/// Recorder options as `airlock serve` sets them (built-in redaction on, no signer).
pub(crate) fn bench_audit_options(
    chain: &str,
    max_backlog: Option<u64>,
) -> airlock_gateway_audit::AuditOptions {
    airlock_gateway_audit::AuditOptions {
        chain_id: chain.into(),
        source: "airlock://bench".into(),
        store_code: true,
        redactor: std::sync::Arc::new(
            airlock_gateway_audit::Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}")),
        ),
        signer: None,
        max_backlog,
        clock: std::sync::Arc::new(airlock_gateway_domain::SystemClock),
        ids: std::sync::Arc::new(airlock_gateway_domain::SystemIds),
    }
}
