//! Usage figures on both backends: additions to one day's row sum, concurrent commits lose
//! nothing, and a read sums a range of days per principal, filtered by tenant or principal.

mod common;

use airlock_gateway_domain::{
    ports::{Change, StateCommit, UsageStore},
    usage::{Usage, UsageEntry, UsageQuery},
};
use airlock_gateway_store::SqlStore;
use std::sync::Arc;

fn entry(day: &str, tenant: Option<&str>, principal: &str, cpu_ms: u64) -> Change {
    Change::AddUsage(UsageEntry {
        day: day.into(),
        tenant: tenant.map(str::to_owned),
        principal: principal.into(),
        usage: Usage {
            executions: 1,
            cpu_ms,
            memory_mib_ms: 512 * 10,
            egress_bytes: 7,
            warehouse_rows: 3,
            review_cases: 0,
        },
    })
}

fn query(from: &str, to: &str) -> UsageQuery {
    UsageQuery {
        from: from.into(),
        to: to.into(),
        ..UsageQuery::default()
    }
}

async fn exercise(store: Arc<SqlStore>) {
    // Forty commits at once to one row: the upsert adds, never overwrites.
    let mut tasks = vec![];
    for _ in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.commit(
                vec![entry("2026-12-01", Some("acme"), "i\u{1f}ann", 5)],
                &[],
            )
            .await
        }));
    }
    for t in tasks {
        t.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for c in [
        entry("2026-12-02", Some("acme"), "i\u{1f}ann", 100),
        entry("2026-12-02", Some("acme"), "i\u{1f}bob", 1),
        entry("2026-12-02", None, "i\u{1f}nobody", 1),
        entry("2026-12-03", Some("globex"), "i\u{1f}cat", 1),
    ] {
        store
            .commit(vec![c], &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let all = store
        .usage(&query("2026-12-01", "2026-12-03"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<(Option<&str>, &str)> = all
        .iter()
        .map(|t| (t.tenant.as_deref(), t.principal.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (None, "i\u{1f}nobody"),
            (Some("acme"), "i\u{1f}ann"),
            (Some("acme"), "i\u{1f}bob"),
            (Some("globex"), "i\u{1f}cat")
        ]
    );
    let ann = &all[1].usage;
    assert_eq!(ann.executions, 41);
    assert_eq!(ann.cpu_ms, 40 * 5 + 100);
    assert_eq!(ann.memory_mib_ms, 41 * 5120);
    assert_eq!((ann.egress_bytes, ann.warehouse_rows), (41 * 7, 41 * 3));

    let one_day = store
        .usage(&UsageQuery {
            tenant: Some("acme".into()),
            ..query("2026-12-02", "2026-12-02")
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one_day.len(), 2);
    assert_eq!(one_day[0].usage.cpu_ms, 100);
    let bob = store
        .usage(&UsageQuery {
            principal: Some("i\u{1f}bob".into()),
            ..query("2026-01-01", "2026-12-31")
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].tenant.as_deref(), Some("acme"));
    let none = store
        .usage(&query("2027-01-01", "2027-01-31"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_usage_adds_up() {
    let db = common::sqlite().await;
    exercise(Arc::new(db.store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_usage_adds_up() {
    let (store, name) = common::postgres().await;
    let store = Arc::new(store);
    exercise(store.clone()).await;
    let store = Arc::into_inner(store).unwrap_or_else(|| panic!("the store is still shared"));
    common::drop_postgres(store, &name).await;
}
