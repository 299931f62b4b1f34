//! Warehouse SQL on fakes of the broker and the warehouse: the login is revoked on every path
//! out of a run (also when the run is dropped half-way), and never leaves in a result or a record.

mod fakes;

use airlock_gateway_core::{ConnectorEntry, Connectors};
use airlock_gateway_domain::{
    audit::types,
    connectors::{ColumnMask, ConnectorGrant, TableRules},
    ErrorCode, Execution, ExecutionErrorCode, ExecutionRequest, ExecutionStatus, Language,
    SessionId,
};
use fakes::{alice, rig_with, Answer, FakeBroker, FakeWarehouse, MemStore, Rig, Step};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

struct Warehouse {
    rig: Rig,
    broker: Arc<FakeBroker>,
    session: SessionId,
}

async fn warehouse(answer: Answer, role: &str) -> Warehouse {
    governed_warehouse(answer, role, BTreeMap::new()).await
}

async fn governed_warehouse(
    answer: Answer,
    role: &str,
    governed: BTreeMap<String, TableRules>,
) -> Warehouse {
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
        governed,
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
    let e = alice_runs(&w, sql("SELECT secret FROM t")).await;
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
    let e = alice_runs(&w, sql("DELETE FROM t")).await;
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

async fn alice_runs(w: &Warehouse, req: ExecutionRequest) -> Execution {
    w.rig
        .gateway
        .execute(&alice(), &w.session, req)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution
}

fn contacts_governed() -> BTreeMap<String, TableRules> {
    let rules = TableRules {
        masks: BTreeMap::from([("email".to_owned(), ColumnMask::Redact {})]),
        row_filter: vec![],
    };
    BTreeMap::from([("sales.contacts".to_owned(), rules)])
}

#[tokio::test]
async fn a_governed_table_is_read_through_the_plan_and_the_caller_is_told_what_was_masked() {
    let w = governed_warehouse(Answer::LeakThePassword, "reader", contacts_governed()).await;
    let e = alice_runs(&w, sql("SELECT email FROM sales.contacts")).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let result = &e.outputs[0].data["application/json"];
    assert_eq!(
        result["governed"]["sales.contacts"]["masked_columns"],
        serde_json::json!(["email"]),
        "{result}"
    );
    // What ran is the plan's statement, completed with the columns the connector read.
    let statement = &w.rig.store.events_of(types::SQL_STATEMENT)[0].data;
    let ran = statement["rewritten"].as_str().unwrap_or_default();
    assert!(ran.contains(r#"[["id", "email"]]"#), "{statement}");
    assert_eq!(
        statement["governed"]["sales.contacts"]["masked_columns"][0],
        "email"
    );
}

#[tokio::test]
async fn a_statement_the_plan_refuses_gets_no_login_and_fails_with_the_refusals_code() {
    let w = governed_warehouse(Answer::LeakThePassword, "reader", contacts_governed()).await;
    let e = alice_runs(&w, sql("UPDATE sales.contacts SET email = 'x'")).await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    let code = e.error.as_ref().and_then(|x| x.code.clone());
    assert_eq!(
        code.map(|c| c.as_str().to_owned()).as_deref(),
        Some("sql_write_governed")
    );
    assert_eq!(w.broker.issued(), 0, "a refused statement got a login");
    let statement = &w.rig.store.events_of(types::SQL_STATEMENT)[0].data;
    assert_eq!(statement["refused"], "sql_write_governed", "{statement}");
}

#[tokio::test]
async fn a_governed_table_the_database_does_not_show_refuses_and_the_login_is_revoked() {
    let w = governed_warehouse(Answer::NoTables, "reader", contacts_governed()).await;
    let e = alice_runs(&w, sql("SELECT * FROM sales.contacts")).await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    let err = e.error.clone().unwrap_or_else(|| panic!("no error"));
    assert_eq!(
        err.code.map(|c| c.as_str().to_owned()).as_deref(),
        Some("sql_table_not_found")
    );
    assert!(e.outputs.is_empty(), "{:?}", e.outputs);
    assert_eq!(w.broker.revoked().len(), 1);
    assert!(leases_all_closed(&w));
}
