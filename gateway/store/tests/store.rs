//! The same behaviour on both backends: SQLite in a temp file and a fresh PostgreSQL database
//! on the machine's server (AIRLOCK_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).

use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead, NewEvent},
    files::FileInfo,
    ports::{Change, Store},
    session::SessionStatus,
    Limits, Principal, Session, SessionId,
};
use airlock_gateway_store::SqlStore;
use sqlx::{Connection, Executor};

fn principal() -> Principal {
    Principal {
        issuer: "https://idp".into(),
        subject: "alice".into(),
        email: None,
        groups: vec!["analysts".into()],
        tenant: Some("acme".into()),
    }
}

fn session() -> Session {
    let now = airlock_gateway_domain::now();
    Session {
        id: SessionId::generate(),
        owner: principal(),
        status: SessionStatus::Active,
        status_reason: None,
        created_at: now,
        expires_at: now + time::Duration::hours(1),
        last_active_at: now,
        limits: Limits::default(),
        labels: vec![],
        instance_id: "gw-test".into(),
    }
}

fn event(head: &ChainHead, i: u64) -> AuditEvent {
    AuditEvent::seal(
        NewEvent::new("session.created", None, serde_json::json!({"i": i})),
        head,
        "gw-test",
        "airlock://test",
        uuid::Uuid::now_v7().to_string(),
        "2026-01-01T00:00:00Z".into(),
    )
}

async fn exercise(store: SqlStore) {
    let s = session();
    let e1 = event(&ChainHead::genesis(), 1);
    store
        .commit(
            vec![Change::PutSession(s.clone())],
            std::slice::from_ref(&e1),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.session(&s.id).await.ok().flatten(), Some(s.clone()));

    let file = FileInfo {
        path: "sales.csv".into(),
        size: 12,
        sha256: "ab".into(),
        classification: Some("confidential".into()),
        media_type: "text/csv".into(),
    };
    let e2 = event(&e1.head(), 2);
    let mut s2 = s.clone();
    s2.status = SessionStatus::Deleted;
    s2.status_reason = Some("deleted by owner".into());
    store
        .commit(
            vec![
                Change::PutFile {
                    session_id: s.id.clone(),
                    file: file.clone(),
                },
                Change::PutSession(s2.clone()),
            ],
            std::slice::from_ref(&e2),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.files(&s.id).await.ok(), Some(vec![file]));
    assert_eq!(
        store.session(&s.id).await.ok().flatten().map(|x| x.status),
        Some(SessionStatus::Deleted)
    );
    assert_eq!(
        store
            .sessions_by_status(SessionStatus::Active)
            .await
            .ok()
            .map(|v| v.len()),
        Some(0)
    );
    assert_eq!(
        store.audit_head("gw-test").await.ok().flatten(),
        Some(e2.head())
    );
    let after = store
        .audit_events_after("gw-test", 1, 10)
        .await
        .unwrap_or_default();
    assert_eq!(after, vec![e2.clone()]);

    // A failing change rolls back the events with it: the chain never records what did not happen.
    let e3 = event(&e2.head(), 3);
    let dup = event(&e1.head(), 2); // seq 2 again: violates the primary key
    assert!(store
        .commit(vec![Change::PutSession(session())], &[e3, dup])
        .await
        .is_err());
    assert_eq!(
        store.audit_head("gw-test").await.ok().flatten(),
        Some(e2.head())
    );
    assert_eq!(
        store
            .sessions_by_status(SessionStatus::Active)
            .await
            .ok()
            .map(|v| v.len()),
        Some(0)
    );
}

#[tokio::test]
async fn sqlite_store_commits_atomically() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("state.db").display()
    );
    exercise(
        SqlStore::connect(&url, true)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
}

#[tokio::test]
async fn postgres_store_commits_atomically() {
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("airlock_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "{}/{name}",
        admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base)
    );
    let store = SqlStore::connect(&url, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    exercise(store).await;
    let _ = conn
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await;
}
