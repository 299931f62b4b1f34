//! Review cases on both backends: a stale version is a conflict that applies nothing of its
//! commit (so two reviewers cannot both decide), and the listings reviewers and the sweeper use.

// Test data: ids straight from the system's generator.
#![allow(clippy::disallowed_methods)]

mod common;

use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead, NewEvent},
    decision::{Decision, DecisionResult},
    policy_input::CodeFacts,
    ports::{AuditOutbox, Change, ReviewStore, StateCommit, StoreError, WebhookOutbox},
    review::{CaseId, CaseQuery, CaseStatus, PinnedWork, ReviewCase, ReviewRules},
    unix_ms,
    webhooks::WebhookDelivery,
    ExecutionRequest, IdGenerator, Language, Principal, SystemIds,
};
use airlock_gateway_store::SqlStore;
use time::OffsetDateTime;

fn case(tenant: Option<&str>, subject: &str, created: OffsetDateTime) -> ReviewCase {
    ReviewCase {
        id: CaseId::from_uuid(SystemIds.uuid()),
        execution_id: SystemIds.execution_id(),
        session_id: SystemIds.session_id(),
        status: CaseStatus::Pending,
        kind: Default::default(),
        held_output: None,
        requester: Principal {
            issuer: "https://idp".into(),
            subject: subject.into(),
            email: None,
            groups: vec!["analysts".into()],
            tenant: tenant.map(str::to_owned),
            via: None,
        },
        work: PinnedWork {
            request: ExecutionRequest {
                language: Language::Python,
                code: "print(1)".into(),
                timeout_seconds: None,
                packages: vec![],
                egress: vec![],
                connector: None,
            },
            code_sha256: "ab".into(),
            facts: CodeFacts::default(),
            labels: vec![],
            decision: Decision {
                decision_id: "d".into(),
                result: DecisionResult::Review,
                violations: vec![],
                policy_revision: "r".into(),
                obligations: Default::default(),
                eval_micros: 0,
            },
            timeout_seconds: 30,
        },
        rules: ReviewRules::default(),
        approvals: vec![],
        comments: vec![],
        decided_by: None,
        reason: None,
        created_at: created,
        expires_at: created + time::Duration::hours(1),
        updated_at: created,
        version: 1,
    }
}

fn event(seq: u64, prev: &ChainHead) -> AuditEvent {
    AuditEvent::seal(
        NewEvent::new("review.approved", None, serde_json::json!({"seq": seq})),
        prev,
        "gw-test",
        "airlock://test",
        SystemIds.event_id(),
        "2026-01-01T00:00:00Z".into(),
    )
}

async fn put(store: &SqlStore, c: &ReviewCase, events: &[AuditEvent]) -> Result<(), StoreError> {
    store
        .commit(vec![Change::PutCase(Box::new(c.clone()))], events)
        .await
}

async fn exercise(store: &SqlStore) {
    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or_else(|e| panic!("{e}"));
    let acme = case(Some("acme"), "alice", t0);
    put(store, &acme, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Two writers read version 1; the first moves it to 2, the second is refused whole.
    let mut first = acme.clone();
    first.version = 2;
    first.status = CaseStatus::Approved;
    let mut second = acme.clone();
    second.version = 2;
    second.status = CaseStatus::Rejected;
    let e1 = event(1, &ChainHead::genesis());
    put(store, &first, std::slice::from_ref(&e1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let e2 = event(2, &e1.head());
    let lost = put(store, &second, &[e2]).await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    let stored = store.case(&acme.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.map(|c| c.status), Some(CaseStatus::Approved));
    let events = store
        .audit_events_after("gw-test", 0, 10)
        .await
        .unwrap_or_default();
    assert_eq!(events.len(), 1, "the losing commit's event was kept");
    // Inserting an id twice is refused too.
    assert!(put(store, &acme, &[]).await.is_err());

    let globex = case(Some("globex"), "carol", t0 + time::Duration::seconds(1));
    let none = case(None, "dave", t0 + time::Duration::seconds(2));
    for c in [&globex, &none] {
        put(store, c, &[]).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let ids = |v: Vec<ReviewCase>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let q = |f: fn(&mut CaseQuery)| {
        let mut q = CaseQuery {
            limit: 10,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let all = ids(store.cases(&q(|_| {})).await.unwrap_or_default());
    assert_eq!(
        all,
        [none.id.clone(), globex.id.clone(), acme.id.clone()],
        "newest first"
    );
    let pending = ids(store
        .cases(&q(|q| q.status = Some(CaseStatus::Pending)))
        .await
        .unwrap_or_default());
    assert_eq!(pending, [none.id.clone(), globex.id.clone()]);
    let of_globex = ids(store
        .cases(&q(|q| q.tenant = Some(Some("globex".into()))))
        .await
        .unwrap_or_default());
    assert_eq!(of_globex, vec![globex.id.clone()]);
    let untenanted = ids(store
        .cases(&q(|q| q.tenant = Some(None)))
        .await
        .unwrap_or_default());
    assert_eq!(untenanted, vec![none.id.clone()]);
    let mut page = q(|q| q.limit = 1);
    page.before = Some(none.id.clone());
    assert_eq!(
        ids(store.cases(&page).await.unwrap_or_default()),
        vec![globex.id.clone()]
    );
    let by_carol = CaseQuery {
        requester: Some(globex.requester.owner_key()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(store.cases(&by_carol).await.unwrap_or_default()),
        vec![globex.id.clone()]
    );

    // Created in a time range: [t0 + 1 s, t0 + 2 s) holds globex's case only.
    let mut range = q(|_| {});
    range.created_since_ms = Some(unix_ms(t0) + 1_000);
    range.created_until_ms = Some(unix_ms(t0) + 2_000);
    range.status = Some(CaseStatus::Pending);
    assert_eq!(
        ids(store.cases(&range).await.unwrap_or_default()),
        vec![globex.id.clone()]
    );

    // A reviewer of acme sees acme's cases and those open to any tenant.
    let mut open = case(Some("initech"), "erin", t0 + time::Duration::seconds(3));
    open.rules.same_tenant = false;
    put(store, &open, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut for_acme = q(|_| {});
    for_acme.reviewer_tenant = Some(Some("acme".into()));
    let seen = ids(store.cases(&for_acme).await.unwrap_or_default());
    assert_eq!(seen, vec![open.id.clone(), acme.id.clone()]);
    for_acme.reviewer_tenant = Some(None);
    let seen = ids(store.cases(&for_acme).await.unwrap_or_default());
    assert_eq!(seen, vec![open.id.clone(), none.id.clone()]);

    // Expiring: pending cases at or past their time, oldest first; decided ones never.
    let at = unix_ms(globex.expires_at);
    let due = ids(store.cases_expiring(at, 10).await.unwrap_or_default());
    assert_eq!(due, vec![globex.id.clone()]);
    let later = ids(store
        .cases_expiring(at + 5_000, 10)
        .await
        .unwrap_or_default());
    assert_eq!(later, [globex.id.clone(), none.id.clone(), open.id.clone()]);
}

/// The webhook outbox: in order per endpoint, attempts counted, delivered ones gone.
async fn exercise_webhooks(store: &SqlStore) {
    let delivery = |endpoint: &str| WebhookDelivery {
        id: SystemIds.event_id(),
        endpoint: endpoint.into(),
        body: "{}".into(),
        attempts: 0,
        next_attempt_ms: 1,
    };
    let (a1, a2, b1) = (delivery("a"), delivery("a"), delivery("b"));
    let changes = [&a1, &b1, &a2]
        .into_iter()
        .map(|d| Change::PutWebhook(d.clone()))
        .collect();
    store
        .commit(changes, &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = |v: Vec<WebhookDelivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let pending = store.webhooks_pending("a", 10).await.unwrap_or_default();
    assert_eq!(ids(pending), vec![a1.id.clone(), a2.id.clone()]);
    store
        .webhook_failed(&a1.id, 5_000, "503")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = store.webhooks_pending("a", 1).await.unwrap_or_default();
    assert_eq!((first[0].attempts, first[0].next_attempt_ms), (1, 5_000));
    store
        .webhook_delivered(&a1.id, 6_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = store.webhooks_pending("a", 10).await.unwrap_or_default();
    assert_eq!(ids(pending), vec![a2.id.clone()]);
    assert_eq!(
        ids(store.webhooks_pending("b", 10).await.unwrap_or_default()),
        vec![b1.id]
    );
}

#[tokio::test]
async fn sqlite_cases_are_versioned_and_listed() {
    let db = common::sqlite().await;
    exercise(&db.store).await;
    exercise_webhooks(&db.store).await;
}

#[tokio::test]
async fn postgres_cases_are_versioned_and_listed() {
    let (store, name) = common::postgres().await;
    exercise(&store).await;
    exercise_webhooks(&store).await;
    common::drop_postgres(store, &name).await;
}
