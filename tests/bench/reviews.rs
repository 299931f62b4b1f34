//! The review queue over 100,000 cases on PostgreSQL, through HTTP (`GET /v1/reviews`, a
//! reviewer of one of four tenants), beside the caller's session list through the same HTTP
//! path as the baseline (`AIRLOCK_BENCH_ONLY=reviews`; AIRLOCK_TEST_POSTGRES_URL names the
//! server, as for the tests).

use crate::{row, serve::Served, stats};
use airlock_gateway_domain::{
    decision::{Decision, DecisionResult},
    policy_input::CodeFacts,
    ports::{Change, StateCommit},
    review::{CaseId, CaseStatus, PinnedWork, ReviewCase, ReviewRules},
    Clock, ExecutionRequest, IdGenerator, Language, Principal, SystemClock, SystemIds,
};
use std::time::{Duration, Instant};

const CASES: usize = 100_000;
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const SAMPLES: usize = 300;

pub(crate) fn case(i: usize) -> ReviewCase {
    let now = SystemClock.now();
    let status = [
        CaseStatus::Pending,
        CaseStatus::Approved,
        CaseStatus::Rejected,
        CaseStatus::Expired,
        CaseStatus::Approved,
    ][i % 5];
    ReviewCase {
        id: CaseId::from_uuid(SystemIds.uuid()),
        execution_id: SystemIds.execution_id(),
        session_id: SystemIds.session_id(),
        status,
        kind: Default::default(),
        held_output: None,
        requester: Principal {
            issuer: "https://bench".into(),
            subject: format!("analyst-{}", i % 500),
            email: None,
            groups: vec!["analysts".into()],
            tenant: Some(TENANTS[i % 4].into()),
            via: None,
        },
        work: PinnedWork {
            request: ExecutionRequest {
                language: Language::Python,
                code: format!("import numpy\nprint({i})"),
                timeout_seconds: None,
                packages: vec![],
                egress: vec![],
                connector: None,
            },
            code_sha256: format!("{i:064x}"),
            facts: CodeFacts::default(),
            labels: vec![],
            decision: Decision {
                decision_id: SystemIds.event_id(),
                result: DecisionResult::Review,
                violations: vec![],
                policy_revision: "bench".into(),
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
        created_at: now,
        expires_at: now + time::Duration::days(1),
        updated_at: now,
        version: 1,
    }
}

pub(crate) fn psql(url: &str, sql: &str) {
    let ok = std::process::Command::new("psql")
        .args([url, "-qtAc", sql])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "psql: {sql}");
}

async fn timed(g: &Served, path: &str) -> Vec<Duration> {
    let mut v = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let r = g
            .http
            .get(format!("{}{path}", g.base))
            .header("authorization", &g.auth)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let _ = r.bytes().await;
        v.push(t.elapsed());
    }
    v
}

pub async fn review_rows() {
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("airlock_bench_{}", SystemIds.uuid().simple());
    psql(&admin, &format!("CREATE DATABASE {name}"));
    let url = format!(
        "{}/{name}",
        admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
    );
    let token = ["--sub", "rita", "--groups", "reviewers", "--tenant", "acme"];
    let g = Served::start_with(
        "bench-reviews",
        &[("AIRLOCK_STATE__DATABASE_URL", &url)],
        &token,
    )
    .await;
    let store = airlock_gateway_store::SqlStore::connect(&url, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    for chunk in (0..CASES).collect::<Vec<_>>().chunks(1000) {
        let changes = chunk
            .iter()
            .map(|i| Change::PutCase(Box::new(case(*i))))
            .collect();
        store
            .commit(changes, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    println!(
        "{CASES} cases inserted in {:.1} s\n",
        t.elapsed().as_secs_f64()
    );
    psql(&url, "ANALYZE");
    println!("| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    let base = stats(timed(&g, "/v1/sessions?limit=20").await);
    let queue = stats(timed(&g, "/v1/reviews?status=pending&limit=20").await);
    let any = stats(timed(&g, "/v1/reviews?limit=100").await);
    let deep = {
        // A page deep in the queue: the cursor of the 50th page.
        let mut cursor = String::new();
        for _ in 0..50 {
            let r: serde_json::Value = g
                .http
                .get(format!(
                    "{}/v1/reviews?status=pending&limit=20{cursor}",
                    g.base
                ))
                .header("authorization", &g.auth)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .json()
                .await
                .unwrap_or_default();
            cursor = format!("&cursor={}", r["next_cursor"].as_str().unwrap_or_default());
        }
        stats(timed(&g, &format!("/v1/reviews?status=pending&limit=20{cursor}")).await)
    };
    row(
        "`GET /v1/sessions?limit=20` (baseline: an indexed list, same HTTP path)",
        &base,
        false,
    );
    row(
        "review queue, first page of 20 pending (100,000 cases, 4 tenants)",
        &queue,
        false,
    );
    row("review queue, page 51 by cursor", &deep, false);
    row("reviewer's cases, any status, 100 a page", &any, false);
    println!("\nqueue p99 / baseline p99: {:.2}", queue.p99 / base.p99);
    store.close().await;
    drop(g);
    psql(&admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
}
