//! Caps on live sessions and running executions, per principal, per tenant and from a
//! policy profile, on fakes. The rig: sessions 5 per principal, 6 per tenant, 10 in all;
//! running executions 8 per principal, 3 per tenant.

mod fakes;

use airlock_gateway_core::Submitted;
use airlock_gateway_domain::{ErrorCode, ExecutionStatus, Principal, SessionId};
use fakes::{alice, python, rig, until_status, Rig, Step};
use std::{collections::BTreeMap, time::Duration};

fn of(subject: &str, tenant: &str) -> Principal {
    Principal {
        subject: subject.into(),
        tenant: Some(tenant.into()),
        ..alice()
    }
}

async fn session(r: &Rig, p: &Principal) -> SessionId {
    r.session_of(p).await
}

type Running = (Principal, Submitted);

/// Submits the blocking script in each session at once; what was admitted (with whose it
/// is), and the codes of what was refused.
async fn submit_all(r: &Rig, work: Vec<(Principal, SessionId)>) -> (Vec<Running>, Vec<String>) {
    let mut tasks = vec![];
    for (p, s) in work {
        let gw = r.gateway.clone();
        tasks.push(tokio::spawn(async move {
            let res = gw.submit(&p, &s, python("wait")).await;
            (p, res)
        }));
    }
    let (mut ran, mut refused) = (vec![], vec![]);
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("{e}")) {
            (p, Ok(s)) => ran.push((p, s)),
            (_, Err(e)) => refused.push(e.code.as_str().to_owned()),
        }
    }
    (ran, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_across_two_tenants_never_pass_a_tenant_cap() {
    let r = rig().await;
    *r.backend
        .start_delay
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Duration::from_millis(20);
    let mut tasks = vec![];
    for i in 0..30 {
        let gw = r.gateway.clone();
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        let who = of(&format!("p{}", i % 6), tenant);
        tasks.push(tokio::spawn(async move {
            (tenant, gw.create_session(&who).await)
        }));
    }
    let mut made: BTreeMap<&str, u32> = BTreeMap::new();
    for t in tasks {
        let (tenant, res) = t.await.unwrap_or_else(|e| panic!("{e}"));
        match res {
            Ok(_) => *made.entry(tenant).or_default() += 1,
            Err(e) => {
                assert_eq!(e.code, ErrorCode::TooManySessions, "{e:?}");
                assert!(
                    ["tenant", "gateway", "principal"]
                        .contains(&e.details["scope"].as_str().unwrap_or("")),
                    "{}",
                    e.details
                );
            }
        }
    }
    // 6 per tenant, 10 in all: whichever tenant came first, neither passes 6.
    assert!(made.values().all(|n| *n <= 6), "{made:?}");
    assert_eq!(made.values().sum::<u32>(), 10, "{made:?}");
    assert_eq!(r.gateway.live_count().await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_never_run_more_than_the_tenants_cap() {
    let r = rig().await;
    r.backend.script("wait", vec![Step::Block]);
    let mut work = vec![];
    for name in ["a", "b", "c"] {
        let p = of(name, "acme");
        for _ in 0..2 {
            work.push((p.clone(), session(&r, &p).await));
        }
    }
    let (ran, refused) = submit_all(&r, work).await;
    assert_eq!(ran.len(), 3, "refused: {refused:?}");
    assert_eq!(refused, vec!["too_many_executions"; 3]);

    // Another tenant is not held back by acme's cap.
    let g = of("g", "globex");
    let gs = session(&r, &g).await;
    let other = r
        .gateway
        .submit(&g, &gs, python("wait"))
        .await
        .unwrap_or_else(|e| panic!("another tenant: {e:?}"));

    // An ended execution gives its place back (a cancel ends it).
    let (owner, first) = &ran[0];
    let job = first.job.clone().unwrap_or_else(|| panic!("no job"));
    until_status(&job, ExecutionStatus::Running).await;
    let ended = cancel_and_wait(&r, owner, first).await;
    assert_eq!(ended, ExecutionStatus::Cancelled);
    let again = r
        .gateway
        .submit(owner, &first.execution.session_id, python("wait"))
        .await
        .unwrap_or_else(|e| panic!("the freed place: {e:?}"));
    cancel_and_wait(&r, owner, &again).await;
    cancel_and_wait(&r, &g, &other).await;
    for (p, s) in ran.iter().skip(1) {
        cancel_and_wait(&r, p, s).await;
    }
}

async fn cancel_and_wait(r: &Rig, p: &Principal, s: &Submitted) -> ExecutionStatus {
    r.gateway
        .cancel_execution(p, &s.execution.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = s.job.clone().unwrap_or_else(|| panic!("no job"));
    let mut changed = job.log.subscribe();
    while job.log.finished_at().is_none() {
        if changed.changed().await.is_err() {
            break;
        }
    }
    job.log.status()
}

#[tokio::test]
async fn a_refused_execution_says_which_cap_and_when_to_retry_and_records_nothing() {
    let r = rig().await;
    r.backend.script("wait", vec![Step::Block]);
    let mut held = vec![];
    for name in ["a", "b", "c"] {
        let p = of(name, "acme");
        let s = session(&r, &p).await;
        let sub = r
            .gateway
            .submit(&p, &s, python("wait"))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        held.push((p, sub));
    }
    let d = of("d", "acme");
    let ds = session(&r, &d).await;
    let before = r.store.events().len();
    let e = r
        .gateway
        .submit(&d, &ds, python("1+1"))
        .await
        .err()
        .unwrap_or_else(|| panic!("the fourth ran"));
    assert_eq!(e.code, ErrorCode::TooManyExecutions);
    assert_eq!(e.code.http_status(), 429);
    assert_eq!(e.details["scope"], "tenant");
    assert_eq!(e.details["limit"], 3);
    assert_eq!(e.details["retry_after_seconds"], 1);
    assert_eq!(r.store.events().len(), before, "a refusal records nothing");
    for (p, s) in &held {
        cancel_and_wait(&r, p, s).await;
    }
}

#[tokio::test]
async fn a_policy_profile_lowers_the_caps_of_its_principals() {
    let r = rig().await;
    r.backend.script("wait", vec![Step::Block]);
    *r.policy.caps.lock().unwrap_or_else(|e| e.into_inner()) = (Some(2), Some(1));
    let p = alice();
    let s1 = session(&r, &p).await;
    let s2 = session(&r, &p).await;
    let third = r.gateway.create_session(&p).await.err();
    let third = third.unwrap_or_else(|| panic!("a third session under max_sessions 2"));
    assert_eq!(third.code, ErrorCode::TooManySessions);
    assert_eq!(third.details["limit"], 2);

    let running = r
        .gateway
        .submit(&p, &s1, python("wait"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let second = r.gateway.submit(&p, &s2, python("1+1")).await.err();
    let second = second.unwrap_or_else(|| panic!("a second run under max_running 1"));
    assert_eq!(second.code, ErrorCode::TooManyExecutions);
    assert_eq!(second.details["scope"], "principal");
    assert_eq!(second.details["limit"], 1);

    // Without the profile's caps the gateway's apply again.
    *r.policy.caps.lock().unwrap_or_else(|e| e.into_inner()) = (None, None);
    r.backend.script("quick", vec![Step::Print("2\n")]);
    let quick = r
        .gateway
        .execute(&p, &s2, python("quick"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(quick.execution.status, ExecutionStatus::Succeeded);
    cancel_and_wait(&r, &p, &running).await;
}

#[tokio::test]
async fn a_tenants_limits_from_policy_hold_across_its_principals() {
    let r = rig().await;
    r.backend.script("wait", vec![Step::Block]);
    r.policy
        .tenant_caps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert("acme".into(), (Some(2), Some(1)));
    let (a, b) = (of("a", "acme"), of("b", "acme"));
    let sa = session(&r, &a).await;
    let sb = session(&r, &b).await;
    let third = r.gateway.create_session(&a).await.err();
    let third = third.unwrap_or_else(|| panic!("a third acme session under tenant_max_sessions 2"));
    assert_eq!(third.code, ErrorCode::TooManySessions);
    assert_eq!(third.details["scope"], "tenant");
    // Another tenant's principals are not held to acme's limits.
    let g = of("g", "globex");
    session(&r, &g).await;
    session(&r, &g).await;
    session(&r, &g).await;

    let running = r
        .gateway
        .submit(&a, &sa, python("wait"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let second = r.gateway.submit(&b, &sb, python("1+1")).await.err();
    let second = second.unwrap_or_else(|| panic!("a second acme run under its limit of 1"));
    assert_eq!(second.code, ErrorCode::TooManyExecutions);
    assert_eq!(second.details["scope"], "tenant");
    assert_eq!(second.details["limit"], 1);
    cancel_and_wait(&r, &a, &running).await;
    r.gateway
        .execute(&b, &sb, python("1+1"))
        .await
        .unwrap_or_else(|e| panic!("acme's place is free again: {e:?}"));
}
