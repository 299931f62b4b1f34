//! The same behaviour on both backends: SQLite in a temp file and a fresh PostgreSQL database
//! on the machine's server (AIRLOCK_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).

// Test data: unique event ids and database names straight from uuid.
#![allow(clippy::disallowed_methods)]

use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead, NewEvent},
    files::FileInfo,
    ports::{
        AuditOutbox, Change, CredentialLeases, FileStore, RelayLeases, SessionStore, StateCommit,
    },
    session::SessionStatus,
    Clock, IdGenerator, Limits, Principal, Session, SystemClock, SystemIds,
};
mod common;

use airlock_gateway_store::SqlStore;

fn principal() -> Principal {
    Principal {
        issuer: "https://idp".into(),
        subject: "alice".into(),
        email: None,
        groups: vec!["analysts".into()],
        tenant: Some("acme".into()),
        via: None,
    }
}

fn session() -> Session {
    let now = SystemClock.now();
    Session {
        id: SystemIds.session_id(),
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

async fn exercise(store: &SqlStore) {
    let s = session();
    let e1 = event(&ChainHead::genesis(), 1);
    store
        .commit(
            vec![Change::PutSession(Box::new(s.clone()))],
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
                Change::PutSession(Box::new(s2.clone())),
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
        .commit(vec![Change::PutSession(Box::new(session()))], &[e3, dup])
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

    // A commit whose caller goes away half-way is all or nothing, and leaves no connection in
    // a transaction: every commit after it (on each of the pool's connections) lands.
    let mut head = e2.head();
    for micros in [1, 30, 60, 100, 150, 200, 300, 500, 800] {
        let cut_short = event(&head, head.seq + 1);
        let abandoned = session();
        let _ = tokio::time::timeout(
            std::time::Duration::from_micros(micros),
            store.commit(
                vec![Change::PutSession(Box::new(abandoned.clone()))],
                std::slice::from_ref(&cut_short),
            ),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let landed = store.audit_head("gw-test").await.ok().flatten() == Some(cut_short.head());
        let session_landed = store.session(&abandoned.id).await.ok().flatten().is_some();
        assert_eq!(landed, session_landed, "half a commit landed");
        if landed {
            head = cut_short.head();
        }
    }
    for _ in 0..6 {
        let e = event(&head, head.seq + 1);
        let s = session();
        store
            .commit(
                vec![Change::PutSession(Box::new(s.clone()))],
                std::slice::from_ref(&e),
            )
            .await
            .unwrap_or_else(|e| panic!("a commit after a failed one: {e}"));
        assert_eq!(store.session(&s.id).await.ok().flatten(), Some(s));
        head = e.head();
    }

    // A commit with more events than one INSERT carries: every one lands, in order.
    let first = head.seq;
    let many: Vec<AuditEvent> = (first + 1..first + 251)
        .map(|i| {
            let e = event(&head, i);
            head = e.head();
            e
        })
        .collect();
    store
        .commit(vec![], &many)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.audit_head("gw-test").await.ok().flatten(), Some(head));
    let after = store
        .audit_events_after("gw-test", first, 1000)
        .await
        .unwrap_or_default();
    assert_eq!(after, many);
}

#[tokio::test]
async fn sqlite_store_commits_atomically() {
    let db = common::sqlite().await;
    exercise(&db.store).await;
    exercise_audit(&db.store).await;
}

#[tokio::test]
async fn postgres_store_commits_atomically() {
    let (store, name) = common::postgres().await;
    exercise(&store).await;
    exercise_audit(&store).await;
    common::drop_postgres(store, &name).await;
}

/// The relay table and the audit query, on both backends.
async fn exercise_audit(store: &SqlStore) {
    use airlock_gateway_domain::ports::AuditQuery;
    let mut head = ChainHead::genesis();
    let mut all = vec![];
    for (i, (who, ses, ty, time)) in [
        (
            "alice",
            "ses_a",
            "execution.requested",
            "2026-03-01T10:00:00Z",
        ),
        ("alice", "ses_a", "policy.decided", "2026-03-01T10:00:01Z"),
        (
            "bob",
            "ses_b",
            "execution.requested",
            "2026-03-02T10:00:00Z",
        ),
        (
            "alice",
            "ses_c",
            "execution.requested",
            "2026-03-03T10:00:00Z",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let e = AuditEvent::seal(
            NewEvent::new(
                if ty == "policy.decided" {
                    "policy.decided"
                } else {
                    "execution.requested"
                },
                Some(ses.into()),
                serde_json::json!({"principal": {"subject": who, "tenant": if who == "alice" { "acme" } else { "globex" }}, "session_id": ses, "i": i}),
            ),
            &head,
            "gw-q",
            "airlock://test",
            uuid::Uuid::now_v7().to_string(),
            time.into(),
        );
        head = e.head();
        store
            .commit(vec![], std::slice::from_ref(&e))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        all.push(e);
    }
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let ids = |v: Vec<AuditEvent>| {
        v.into_iter()
            .map(|e| e.data["i"].as_u64().unwrap_or(99))
            .collect::<Vec<_>>()
    };
    let run = |q: AuditQuery| async move {
        store
            .audit_query(&q)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(
        ids(run(q(|q| q.actor = Some("alice".into()))).await),
        [0, 1, 3]
    );
    assert_eq!(
        ids(run(q(|q| q.session_id = Some("ses_a".into()))).await),
        [0, 1]
    );
    assert_eq!(
        ids(run(q(|q| q.event_type = Some("policy.decided".into()))).await),
        [1]
    );
    // A tenant auditor's reads: only that tenant, with any other filter.
    assert_eq!(
        ids(run(q(|q| q.tenant = Some("acme".into()))).await),
        [0, 1, 3]
    );
    assert_eq!(
        ids(run(q(|q| {
            q.tenant = Some("globex".into());
            q.actor = Some("alice".into())
        }))
        .await),
        Vec::<u64>::new()
    );
    // 2026-03-02T00:00Z .. 2026-03-03T00:00Z
    assert_eq!(
        ids(run(q(|q| {
            q.since_ms = Some(1_772_409_600_000);
            q.until_ms = Some(1_772_496_000_000)
        }))
        .await),
        [2]
    );
    let first = run(q(|q| {
        q.actor = Some("alice".into());
        q.limit = 2
    }))
    .await;
    assert_eq!(ids(first.clone()), [0, 1]);
    let mut next = q(|q| q.actor = Some("alice".into()));
    next.after = first.last().map(|e| e.id.clone());
    assert_eq!(ids(run(next).await), [3]);

    // Relay: register, one holder at a time, published seq only goes forward.
    store
        .audit_relay_register("gw-q")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .audit_relay_register("gw-q")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store
            .audit_relay_claim("gw-q", "r1", 1_000, 2_000)
            .await
            .ok(),
        Some(Some(0))
    );
    assert_eq!(
        store
            .audit_relay_claim("gw-q", "r2", 1_500, 2_500)
            .await
            .ok(),
        Some(None)
    );
    store
        .audit_mark_published("gw-q", 3, 1_600)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .audit_mark_published("gw-q", 2, 1_700)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store
            .audit_relay_claim("gw-q", "r2", 2_001, 3_000)
            .await
            .ok(),
        Some(Some(3))
    );
    let chains = store.audit_relay_chains().await.unwrap_or_default();
    let c = chains
        .iter()
        .find(|c| c.chain_id == "gw-q")
        .unwrap_or_else(|| panic!("no chain"));
    assert_eq!(
        (c.published_seq, c.holder.as_deref(), c.lease_until_ms),
        (3, Some("r2"), 3_000)
    );
    assert!(store.audit_mark_published("gw-none", 1, 1).await.is_err());

    // Leases of issued credentials: open until closed.
    use airlock_gateway_domain::ports::LeaseRecord;
    let lease = |h: &str| LeaseRecord {
        lease_hash: h.into(),
        lease_id: format!("database/creds/r/{h}"),
        instance_id: "gw-q".into(),
        connector: "warehouse".into(),
        issued_at_ms: 10,
        expires_at_ms: 20,
    };
    store
        .lease_opened(&lease("a"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .lease_opened(&lease("b"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        store.lease_opened(&lease("a")).await.is_err(),
        "a lease is recorded once"
    );
    store
        .lease_closed("a", 15)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.leases_open().await.ok(), Some(vec![lease("b")]));
}
