//! The execution pipeline on in-memory fakes of every port: no service, milliseconds each.
//! The end-to-end tests run the same paths against the real services.

mod fakes;

use airlock_gateway_core::{jobs::JobEvent, Follow};
use airlock_gateway_domain::{
    audit::types, decision::DecisionResult, ports::JobEnd, ErrorCode, Execution,
    ExecutionErrorCode, ExecutionStatus, SessionId,
};
use fakes::{alice, bob, python, rig, rig_on, until_status, Rig, Step};
use std::time::Duration;

async fn session(r: &Rig) -> SessionId {
    r.session_of(&alice()).await
}

async fn run(r: &Rig, s: &SessionId, code: &str) -> Execution {
    r.gateway
        .execute(&alice(), s, python(code))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution
}

fn of_execution(r: &Rig, e: &Execution) -> Vec<String> {
    r.store
        .events()
        .into_iter()
        .filter(|ev| ev.data["execution_id"] == e.id.as_str())
        .map(|ev| ev.event_type)
        .collect()
}

#[tokio::test]
async fn allowed_code_runs_recorded_before_and_after() {
    let r = rig().await;
    let s = session(&r).await;
    let e = run(&r, &s, "print('ran')").await;
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    assert_eq!(e.stdout, "ran\n");
    assert_eq!(
        of_execution(&r, &e),
        [
            types::EXECUTION_REQUESTED,
            types::POLICY_DECIDED,
            types::EXECUTION_COMPLETED
        ]
    );
    let stored = r
        .store
        .execution(&e.id)
        .unwrap_or_else(|| panic!("not stored"));
    assert_eq!(stored.status, ExecutionStatus::Succeeded);
    assert_eq!(stored.audit_id, e.audit_id);
}

#[tokio::test]
async fn denied_code_is_recorded_and_never_runs() {
    let r = rig().await;
    let s = session(&r).await;
    *r.policy.execution.lock().unwrap_or_else(|e| e.into_inner()) = DecisionResult::Deny;
    let e = run(&r, &s, "anything").await;
    assert_eq!(e.status, ExecutionStatus::Denied);
    assert_eq!(e.decision.violations[0].code, "test_denied");
    assert_eq!(r.backend.runs.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        of_execution(&r, &e),
        [types::EXECUTION_REQUESTED, types::POLICY_DECIDED]
    );
}

#[tokio::test]
async fn held_code_waits_and_its_requester_can_cancel_it() {
    let r = rig().await;
    let s = session(&r).await;
    *r.policy.execution.lock().unwrap_or_else(|e| e.into_inner()) = DecisionResult::Review;
    let e = run(&r, &s, "risky").await;
    assert_eq!(e.status, ExecutionStatus::PendingReview);
    assert_eq!(r.backend.runs.load(std::sync::atomic::Ordering::SeqCst), 0);
    let err = r.gateway.cancel_execution(&bob(), &e.id).await;
    assert_eq!(
        err.err().map(|e| e.code),
        Some(ErrorCode::ExecutionNotFound)
    );
    let (c, ended) = r
        .gateway
        .cancel_execution(&alice(), &e.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(ended);
    assert_eq!(c.status, ExecutionStatus::Cancelled);
    assert_eq!(r.backend.runs.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn timeouts_and_out_of_memory_get_their_codes() {
    let r = rig().await;
    let s = session(&r).await;
    r.backend
        .script("loop", vec![Step::Print("x\n"), Step::Block]);
    r.backend
        .script("oom", vec![Step::End(JobEnd::OutOfMemory)]);
    let mut req = python("loop");
    req.timeout_seconds = Some(1);
    let e = r
        .gateway
        .execute(&alice(), &s, req)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    assert_eq!(e.status, ExecutionStatus::TimedOut);
    assert_eq!(
        e.error.and_then(|e| e.code),
        Some(ExecutionErrorCode::TimedOut)
    );
    assert_eq!(e.stdout, "x\n");
    let e = run(&r, &s, "oom").await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert_eq!(
        e.error.and_then(|e| e.code),
        Some(ExecutionErrorCode::OutOfMemory)
    );
}

#[tokio::test]
async fn cancel_stops_a_running_job_once_and_the_session_goes_on() {
    let r = rig().await;
    let s = session(&r).await;
    r.backend
        .script("wait", vec![Step::Print("started\n"), Step::Block]);
    let sub = r
        .gateway
        .submit(&alice(), &s, python("wait"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(sub.execution.status, ExecutionStatus::Queued);
    let job = sub.job.clone().unwrap_or_else(|| panic!("no job"));
    until_status(&job, ExecutionStatus::Running).await;
    // One execution per session while it runs.
    let busy = r.gateway.submit(&alice(), &s, python("x")).await;
    assert_eq!(busy.err().map(|e| e.code), Some(ErrorCode::SessionBusy));
    let id = sub.execution.id.clone();
    let (e, ended) = r
        .gateway
        .cancel_execution(&alice(), &id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(ended);
    assert_eq!(e.status, ExecutionStatus::Cancelled);
    assert_eq!(
        e.error.and_then(|e| e.code),
        Some(ExecutionErrorCode::Cancelled)
    );
    let again = r.gateway.cancel_execution(&alice(), &id).await;
    assert_eq!(
        again.map(|(e, _)| e.status).ok(),
        Some(ExecutionStatus::Cancelled)
    );
    assert_eq!(
        r.store.events_of(types::EXECUTION_CANCEL_REQUESTED).len(),
        1
    );
    let finished = sub.finished().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(finished.status, ExecutionStatus::Cancelled);
    assert_eq!(finished.stdout, "started\n");
    assert_eq!(
        run(&r, &s, "after").await.status,
        ExecutionStatus::Succeeded
    );
}

#[tokio::test]
async fn without_an_audit_trail_nothing_runs() {
    let r = rig().await;
    let s = session(&r).await;
    *r.store
        .commits_left
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(0);
    let err = r.gateway.execute(&alice(), &s, python("print(1)")).await;
    assert_eq!(err.err().map(|e| e.code), Some(ErrorCode::AuditUnavailable));
    assert_eq!(r.backend.runs.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_store_failing_half_way_ends_the_stream_and_a_restart_settles_the_record() {
    let store = std::sync::Arc::new(fakes::MemStore::default());
    let r = rig_on(store.clone(), "instance-a").await;
    let s = session(&r).await;
    // The record before the run goes in; the record of its result does not.
    *store.commits_left.lock().unwrap_or_else(|e| e.into_inner()) = Some(1);
    let sub = r
        .gateway
        .submit(&alice(), &s, python("print('x')"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = sub.job.clone().unwrap_or_else(|| panic!("no job"));
    let id = sub.execution.id.clone();
    let err = sub.finished().await;
    assert_eq!(err.err().map(|e| e.code), Some(ErrorCode::AuditUnavailable));
    // Followers are not left hanging: the stream ends with a failed result.
    let (events, done) = job.log.after(0);
    assert!(done);
    match events.last().map(|e| &e.event) {
        Some(JobEvent::Result(e)) => assert_eq!(e.status, ExecutionStatus::Failed),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.execution(&id).map(|e| e.status),
        Some(ExecutionStatus::Queued)
    );
    // The next start of this instance ends it for good.
    *store.commits_left.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let restarted = rig_on(store.clone(), "instance-a").await;
    restarted
        .gateway
        .recover()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let e = store.execution(&id).unwrap_or_else(|| panic!("gone"));
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert_eq!(
        e.error.and_then(|e| e.code),
        Some(ExecutionErrorCode::GatewayRestarted)
    );
}

#[tokio::test]
async fn a_restart_fails_what_was_running_and_leaves_other_instances_alone() {
    let store = std::sync::Arc::new(fakes::MemStore::default());
    let a = rig_on(store.clone(), "instance-a").await;
    let b = rig_on(store.clone(), "instance-b").await;
    for r in [&a, &b] {
        r.backend.script("wait", vec![Step::Block]);
    }
    let sa = session(&a).await;
    let sb = session(&b).await;
    let ea = a.gateway.submit(&alice(), &sa, python("wait")).await;
    let eb = b.gateway.submit(&alice(), &sb, python("wait")).await;
    let (ea, eb) = match (ea, eb) {
        (Ok(x), Ok(y)) => (x, y),
        _ => panic!("submit failed"),
    };
    for (sub, st) in [
        (&ea, ExecutionStatus::Running),
        (&eb, ExecutionStatus::Running),
    ] {
        until_status(sub.job.as_ref().unwrap_or_else(|| panic!("no job")), st).await;
    }
    // instance-a dies (its process and jobs are gone) and starts again.
    let a_id = ea.execution.id.clone();
    drop(a);
    let again = rig_on(store.clone(), "instance-a").await;
    again
        .gateway
        .recover()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let e = store.execution(&a_id).unwrap_or_else(|| panic!("gone"));
    assert_eq!(
        e.error.and_then(|e| e.code),
        Some(ExecutionErrorCode::GatewayRestarted)
    );
    assert_eq!(
        store.execution(&eb.execution.id).map(|e| e.status),
        Some(ExecutionStatus::Queued),
        "another instance's running execution is not touched"
    );
    assert_eq!(
        store.events_of(types::EXECUTION_COMPLETED).len(),
        1,
        "one completion, for the orphan"
    );
}

#[tokio::test]
async fn a_secret_split_across_chunks_is_redacted_in_stream_and_result() {
    let r = rig().await;
    let s = session(&r).await;
    let token = "ghp_QQQQQQQQQQQQQQQQQQRRRRRRRRRRRRRRRRRR";
    r.backend.script(
        "leak",
        vec![
            Step::Print("token ghp_QQQQQQQQQQQQQQQQQQ"),
            Step::Sleep(Duration::from_millis(5)),
            Step::Print("RRRRRRRRRRRRRRRRRR\nbye\n"),
        ],
    );
    let sub = r
        .gateway
        .submit(&alice(), &s, python("leak"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = sub.job.clone().unwrap_or_else(|| panic!("no job"));
    let e = sub.finished().await.unwrap_or_else(|e| panic!("{e:?}"));
    let streamed: String = job
        .log
        .after(0)
        .0
        .into_iter()
        .filter_map(|n| match n.event {
            JobEvent::Printed { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    for text in [&streamed, &e.stdout] {
        assert!(!text.contains("ghp_QQQQ"), "{text}");
        assert!(!text.contains("RRRRRRRRRRRRRRRRRR"), "{text}");
        assert!(text.contains("[REDACTED]"), "{text}");
    }
    assert_eq!(streamed, e.stdout, "the result is what streamed");
    assert!(!r
        .store
        .events()
        .iter()
        .any(|ev| ev.data.to_string().contains(token)));
}

#[tokio::test]
async fn followers_resume_exactly_and_only_the_owner_follows() {
    let r = rig().await;
    let s = session(&r).await;
    r.backend.script(
        "lines",
        vec![Step::Print("a\n"), Step::Print("b\n"), Step::Print("c\n")],
    );
    let e = run(&r, &s, "lines").await;
    let Ok(Follow::Live(job)) = r.gateway.follow(&alice(), &e.id).await else {
        panic!("not live");
    };
    let (all, done) = job.log.after(0);
    assert!(done);
    let ids: Vec<u64> = all.iter().map(|n| n.id).collect();
    assert_eq!(ids, (1..=all.len() as u64).collect::<Vec<_>>());
    for k in 0..all.len() {
        let (rest, _) = job.log.after(k as u64);
        assert_eq!(rest, all[k..].to_vec(), "resume after {k}");
    }
    assert!(matches!(
        all.last().map(|n| &n.event),
        Some(JobEvent::Result(_))
    ));
    let other = r.gateway.follow(&bob(), &e.id).await;
    assert_eq!(
        other.err().map(|e| e.code),
        Some(ErrorCode::ExecutionNotFound)
    );
}

#[tokio::test]
async fn a_sandbox_that_dies_fails_the_execution_and_loses_the_session() {
    let r = rig().await;
    let s = session(&r).await;
    r.backend
        .die_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = r.gateway.execute(&alice(), &s, python("x")).await;
    assert_eq!(
        err.err().map(|e| e.code),
        Some(ErrorCode::SandboxUnavailable)
    );
    let page = r
        .gateway
        .list_executions(&alice(), &s, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let e = &page.items[0];
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert_eq!(
        e.error.as_ref().and_then(|e| e.code.clone()),
        Some(ExecutionErrorCode::SandboxLost)
    );
    let session = r.gateway.get_session(&alice(), &s).await;
    assert_eq!(session.map(|s| s.status.as_str()).ok(), Some("lost"));
}
