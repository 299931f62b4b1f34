//! Usage metering on fakes: an execution's CPU, memory, egress and a review case add to its
//! principal's figures of the day in the execution's own commit; auditors read every tenant's,
//! a tenant auditor only their tenant's, anyone else only their own.

mod fakes;

use airlock_gateway_core::{parse_day, UsageFilter, UsageReport};
use airlock_gateway_domain::{decision::DecisionResult, ErrorCode, ExecutionStatus, Principal};
use fakes::{alice, python, rig, Rig, Step};
use std::time::Duration;

fn of(subject: &str, tenant: &str, groups: &[&str]) -> Principal {
    Principal {
        subject: subject.into(),
        tenant: Some(tenant.into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..alice()
    }
}

async fn run(r: &Rig, p: &Principal, code: &str) -> ExecutionStatus {
    let s = r
        .gateway
        .create_session(p)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .id;
    let e = r
        .gateway
        .execute(p, &s, python(code))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    r.gateway
        .delete_session(p, &s)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    e.status
}

async fn report(r: &Rig, p: &Principal, tenant: Option<&str>) -> Result<UsageReport, ErrorCode> {
    r.gateway
        .usage(
            p,
            UsageFilter {
                tenant: tenant.map(str::to_owned),
                ..UsageFilter::default()
            },
        )
        .await
        .map_err(|e| e.code)
}

fn subjects(rep: &UsageReport) -> Vec<String> {
    rep.rows
        .iter()
        .map(|r| {
            r.principal
                .rsplit('\u{1f}')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn each_run_and_case_adds_to_its_principals_figures_and_each_reader_sees_their_share() {
    let r = rig().await;
    r.backend.script(
        "work",
        vec![
            Step::Cpu(Duration::from_millis(1500)),
            Step::Egress("pypi.org", 1000, 2000),
            Step::Print("done\n"),
        ],
    );
    let ann = of("ann", "acme", &[]);
    let bob = of("bob", "acme", &[]);
    let cat = of("cat", "globex", &[]);
    assert_eq!(run(&r, &ann, "work").await, ExecutionStatus::Succeeded);
    assert_eq!(run(&r, &ann, "work").await, ExecutionStatus::Succeeded);
    assert_eq!(run(&r, &cat, "work").await, ExecutionStatus::Succeeded);
    *r.policy.execution.lock().unwrap_or_else(|e| e.into_inner()) = DecisionResult::Review;
    assert_eq!(run(&r, &bob, "work").await, ExecutionStatus::PendingReview);
    // A denied execution ran nothing: it is not metered.
    *r.policy.execution.lock().unwrap_or_else(|e| e.into_inner()) = DecisionResult::Deny;
    assert_eq!(run(&r, &cat, "work").await, ExecutionStatus::Denied);

    let auditor = of("aud", "acme", &["auditors"]);
    let all = report(&r, &auditor, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(all.scope, "all");
    assert_eq!(subjects(&all), ["ann", "bob", "cat"]);
    let ann_row = &all.rows[0].usage;
    assert_eq!(ann_row.executions, 2);
    assert_eq!(ann_row.cpu_ms, 3000);
    assert_eq!(ann_row.egress_bytes, 6000);
    assert_eq!(ann_row.review_cases, 0);
    let bob_row = &all.rows[1].usage;
    assert_eq!((bob_row.executions, bob_row.review_cases), (0, 1));
    assert_eq!(
        all.rows[2].usage.executions, 1,
        "the denied one is not counted"
    );
    assert_eq!(all.total.executions, 3);
    assert_eq!(all.total.review_cases, 1);
    // An auditor may narrow to a tenant.
    let globex = report(&r, &auditor, Some("globex"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(subjects(&globex), ["cat"]);

    let acme_auditor = of("ta", "acme", &["tenant-auditors"]);
    let acme = report(&r, &acme_auditor, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(acme.scope, "tenant");
    assert_eq!(subjects(&acme), ["ann", "bob"]);
    assert_eq!(
        report(&r, &acme_auditor, Some("globex")).await.err(),
        Some(ErrorCode::NotAnAuditor)
    );

    let own = report(&r, &ann, Some("globex"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(own.scope, "self");
    assert_eq!(subjects(&own), ["ann"]);
}

#[tokio::test]
async fn figures_are_per_day_and_a_range_reads_only_its_days() {
    let r = rig().await;
    let ann = of("ann", "acme", &[]);
    run(&r, &ann, "x").await;
    let first = report(&r, &ann, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    r.clock.advance(Duration::from_secs(2 * 86_400));
    run(&r, &ann, "x").await;
    run(&r, &ann, "x").await;
    let today = UsageFilter {
        from: Some(first.to + time::Duration::days(2)),
        ..UsageFilter::default()
    };
    let two = r
        .gateway
        .usage(&ann, today)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(two.total.executions, 2);
    let both = report(&r, &ann, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(both.total.executions, 3);
    let backwards = UsageFilter {
        from: parse_day("2026-02-02").ok(),
        to: parse_day("2026-02-01").ok(),
        ..UsageFilter::default()
    };
    let refused = r.gateway.usage(&ann, backwards).await.err().map(|e| e.code);
    assert_eq!(refused, Some(ErrorCode::InvalidRequest));
}

#[tokio::test]
async fn a_run_the_sandbox_failed_under_is_metered_too() {
    let r = rig().await;
    let ann = of("ann", "acme", &[]);
    let s = r
        .gateway
        .create_session(&ann)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .id;
    r.backend
        .die_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = r.gateway.execute(&ann, &s, python("x")).await;
    assert!(failed.is_err(), "the sandbox died under it");
    let own = report(&r, &ann, None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(own.total.executions, 1);
}
