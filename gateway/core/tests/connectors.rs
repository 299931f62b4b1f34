//! Warehouse SQL on fakes of the broker and the warehouse: the login is revoked on every path
//! out of a run (also when the run is dropped half-way), and never leaves in a result or a record.

mod fakes;

use airlock_gateway_core::{ConnectorEntry, Connectors};
use airlock_gateway_domain::{
    audit::types, connectors::ConnectorGrant, ErrorCode, ExecutionErrorCode, ExecutionRequest,
    ExecutionStatus, Language, SessionId,
};
use fakes::{alice, rig_with, Answer, FakeBroker, FakeWarehouse, MemStore, Rig, Step};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

struct Warehouse {
    rig: Rig,
    broker: Arc<FakeBroker>,
    session: SessionId,
}

async fn warehouse(answer: Answer, role: &str) -> Warehouse {
    let broker = Arc::new(FakeBroker::default());
    let mut by_name = HashMap::new();
    by_name.insert(
        "dw".to_owned(),
        ConnectorEntry {
            connector: Arc::new(FakeWarehouse(Mutex::new(answer))),
            vault_mount: "database".into(),
            labels: vec!["confidential".into()],
            max_rows: 100,
        },
    );
    let connectors = Connectors {
        broker: Some(broker.clone()),
        by_name,
        lease_grace: Duration::from_secs(5),
        lease_hash_key: b"test-key".to_vec(),
        in_use: Default::default(),
    };
    let rig = rig_with(Arc::new(MemStore::default()), "test-instance", connectors).await;
    *rig.policy
        .connector
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(ConnectorGrant {
        name: "dw".into(),
        role: role.into(),
        row_limit: 10,
        read_only: true,
    });
    let session = rig
        .gateway
        .create_session(&alice())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .id;
    Warehouse {
        rig,
        broker,
        session,
    }
}

fn sql(statement: &str) -> ExecutionRequest {
    ExecutionRequest {
        language: Language::Sql,
        code: statement.into(),
        timeout_seconds: None,
        packages: vec![],
        egress: vec![],
        connector: Some("dw".into()),
    }
}

/// Every audit event, as text.
fn trail(w: &Warehouse) -> String {
    serde_json::to_string(&w.rig.store.events()).unwrap_or_default()
}

fn leases_all_closed(w: &Warehouse) -> bool {
    let leases = w.rig.store.leases.lock().unwrap_or_else(|e| e.into_inner());
    !leases.is_empty() && leases.values().all(|(_, closed)| *closed)
}

#[tokio::test]
async fn a_statement_runs_on_a_login_revoked_at_once_that_never_leaves() {
    let w = warehouse(Answer::LeakThePassword, "reader").await;
    let e = w
        .rig
        .gateway
        .execute(&alice(), &w.session, sql("SELECT secret FROM t"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let reply = serde_json::to_string(&e).unwrap_or_default();
    assert!(reply.contains("v-user-1"), "{reply}");
    assert!(
        !reply.contains("pw-secret-1"),
        "the password left in the result: {reply}"
    );
    assert_eq!(w.broker.revoked(), vec!["database/creds/reader/lease-1"]);
    assert!(leases_all_closed(&w));
    let steps: Vec<String> = w
        .rig
        .store
        .events()
        .into_iter()
        .map(|ev| ev.event_type)
        .filter(|t| t.starts_with("credential.") || t == types::SQL_STATEMENT)
        .collect();
    assert_eq!(
        steps,
        [
            types::CREDENTIAL_ISSUED,
            types::SQL_STATEMENT,
            types::CREDENTIAL_REVOKED
        ]
    );
    let trail = trail(&w);
    assert!(
        !trail.contains("pw-secret-1") && !trail.contains("lease-1"),
        "{trail}"
    );
}

#[tokio::test]
async fn a_refused_statement_is_an_sql_error_and_its_login_is_revoked() {
    let w = warehouse(Answer::Refuse, "reader").await;
    let e = w
        .rig
        .gateway
        .execute(&alice(), &w.session, sql("DELETE FROM t"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    assert_eq!(e.status, ExecutionStatus::Failed);
    let code = e.error.as_ref().and_then(|x| x.code.clone());
    assert_eq!(code, Some(ExecutionErrorCode::SqlError));
    assert_eq!(w.broker.revoked().len(), 1);
    assert!(leases_all_closed(&w));
}

#[tokio::test]
async fn without_a_login_nothing_runs_and_the_attempt_is_recorded() {
    let w = warehouse(Answer::LeakThePassword, "unavailable").await;
    let r = w
        .rig
        .gateway
        .execute(&alice(), &w.session, sql("SELECT 1"))
        .await;
    let code = match r {
        Err(e) => e.code,
        Ok(reply) => panic!("ran without a login: {:?}", reply.execution),
    };
    assert_eq!(code, ErrorCode::SecretsUnavailable);
    assert_eq!(w.broker.issued(), 0);
    let issued = w.rig.store.events_of(types::CREDENTIAL_ISSUED);
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].data["ok"], false);
    assert!(w.rig.store.events_of(types::SQL_STATEMENT).is_empty());
}

#[tokio::test]
async fn a_run_dropped_half_way_still_revokes_its_login_and_says_so() {
    let w = warehouse(Answer::Hang, "reader").await;
    // sql.airlock answers code of a running execution: one holds the session's turn.
    w.rig.backend.script("hold", vec![Step::Block]);
    let held = w
        .rig
        .gateway
        .submit(&alice(), &w.session, fakes::python("hold"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = held.job.clone().unwrap_or_else(|| panic!("nothing runs"));
    fakes::until_status(&job, ExecutionStatus::Running).await;

    let port = w.rig.gateway.sandbox_sql();
    let sid = w.session.to_string();
    let query = tokio::spawn(async move { port.query(&sid, "dw", "SELECT 1").await });
    w.broker.until(|b| b.issued() == 1).await;
    // The code's connection is cut mid-query (its execution ended, the proxy dropped it).
    query.abort();
    w.broker.until(|b| b.revoked().len() == 1).await;
    assert!(leases_all_closed(&w));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let revoked = w.rig.store.events_of(types::CREDENTIAL_REVOKED);
        if let Some(ev) = revoked.first() {
            assert_eq!(ev.data["reason"], "the run was abandoned", "{}", ev.data);
            assert_eq!(ev.data["ok"], true);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no credential.revoked recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.request_cancel("test");
    let _ = held.finished().await;
}
