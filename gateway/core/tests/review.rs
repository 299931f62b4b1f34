//! Compliance review on in-memory fakes: held work becomes a case, four eyes is the gateway's,
//! and an approval runs exactly the held execution once.

mod fakes;

use airlock_gateway_core::{CaseAction, CaseFilter};
use airlock_gateway_domain::{
    audit::types,
    decision::DecisionResult,
    review::{CaseId, CaseStatus},
    ErrorCode, Execution, ExecutionErrorCode, ExecutionStatus, Principal, SessionId,
};
use fakes::{act, alice, approve, python, reviewer, rig, Rig};
use std::{sync::atomic::Ordering, time::Duration};

fn hold(r: &Rig, result: DecisionResult) {
    *r.policy.execution.lock().unwrap_or_else(|e| e.into_inner()) = result;
}

/// A session of alice's with one held execution, and its case.
async fn held(r: &Rig) -> (SessionId, Execution, CaseId) {
    let s = r.session_of(&alice()).await;
    hold(r, DecisionResult::Review);
    let e = r
        .gateway
        .execute(&alice(), &s, python("print('held')"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    assert_eq!(e.status, ExecutionStatus::PendingReview);
    let case = e
        .case_id
        .clone()
        .unwrap_or_else(|| panic!("no case: {e:?}"));
    (s, e, case)
}

/// The execution once it has ended (the approved run is a job of its own).
async fn ended(r: &Rig, e: &Execution) -> Execution {
    for _ in 0..500 {
        if let Some(now) = r.store.execution(&e.id) {
            if now.status.is_finished() {
                return now;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the execution never ended: {:?}", r.store.execution(&e.id));
}

#[tokio::test]
async fn a_held_execution_is_a_pinned_case_that_runs_once_when_a_reviewer_approves() {
    let r = rig().await;
    let (_, e, case) = held(&r).await;
    let c = r
        .gateway
        .review_case(&alice(), &case)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(c.work.request.code, "print('held')");
    assert_eq!(c.work.code_sha256, e.code_sha256);
    assert_eq!(c.requester.subject, "alice");
    assert_eq!(r.store.events_of(types::REVIEW_REQUESTED).len(), 1);
    // The queue of a reviewer shows it; alice's own queue does not, her own list does.
    let queue = CaseFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        r.gateway
            .review_cases(&reviewer("rita"), &queue)
            .await
            .map(|v| v.len())
            .ok(),
        Some(1)
    );
    assert_eq!(
        r.gateway
            .review_cases(&alice(), &queue)
            .await
            .map(|v| v.len())
            .ok(),
        Some(0)
    );
    let mine = CaseFilter {
        mine: true,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        r.gateway
            .review_cases(&alice(), &mine)
            .await
            .map(|v| v.len())
            .ok(),
        Some(1)
    );

    hold(&r, DecisionResult::Allow);
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Ok(CaseStatus::Approved)
    );
    let done = ended(&r, &e).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.case_id, Some(case.clone()));
    // Approving again changes nothing and runs nothing.
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Ok(CaseStatus::Approved)
    );
    assert_eq!(
        act(&r, &reviewer("rex"), &case, approve()).await,
        Err(ErrorCode::CaseClosed)
    );
    assert_eq!(r.backend.runs.load(Ordering::SeqCst), 1);
    assert_eq!(r.store.events_of(types::REVIEW_APPROVED).len(), 1);
}

#[tokio::test]
async fn the_requester_never_decides_their_own_case_even_as_a_reviewer() {
    let r = rig().await;
    let (_, _, case) = held(&r).await;
    let alice_reviewer = Principal {
        groups: vec!["reviewers".into()],
        ..alice()
    };
    assert_eq!(
        act(&r, &alice_reviewer, &case, approve()).await,
        Err(ErrorCode::SelfApproval)
    );
    let reject = CaseAction::Reject {
        reason: "mine".into(),
    };
    assert_eq!(
        act(&r, &alice_reviewer, &case, reject).await,
        Err(ErrorCode::SelfApproval)
    );
    let analyst = Principal {
        subject: "bob".into(),
        ..alice()
    };
    assert_eq!(
        act(&r, &analyst, &case, approve()).await,
        Err(ErrorCode::CaseNotFound)
    );
    let other_tenant = Principal {
        tenant: Some("globex".into()),
        ..reviewer("gina")
    };
    assert_eq!(
        act(&r, &other_tenant, &case, approve()).await,
        Err(ErrorCode::CaseNotFound)
    );
    assert_eq!(
        r.gateway
            .review_case(&other_tenant, &case)
            .await
            .map_err(|e| e.code)
            .err(),
        Some(ErrorCode::CaseNotFound)
    );
    assert_eq!(r.backend.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn two_reviewers_approving_at_the_same_moment_run_it_once() {
    let r = rig().await;
    let (_, e, case) = held(&r).await;
    hold(&r, DecisionResult::Allow);
    let (rita, rex) = (reviewer("rita"), reviewer("rex"));
    let (a, b) = tokio::join!(
        act(&r, &rita, &case, approve()),
        act(&r, &rex, &case, approve()),
    );
    let outcomes = [a, b];
    assert!(outcomes.contains(&Ok(CaseStatus::Approved)), "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| *o == Ok(CaseStatus::Approved) || *o == Err(ErrorCode::CaseClosed)),
        "{outcomes:?}"
    );
    ended(&r, &e).await;
    assert_eq!(r.backend.runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn policy_that_now_denies_supersedes_the_approval_and_nothing_runs() {
    let r = rig().await;
    let (_, e, case) = held(&r).await;
    hold(&r, DecisionResult::Deny);
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Ok(CaseStatus::Superseded)
    );
    let now = r.store.execution(&e.id).unwrap_or_else(|| panic!("gone"));
    assert_eq!(now.status, ExecutionStatus::Denied);
    assert_eq!(
        now.error.and_then(|x| x.code),
        Some(ExecutionErrorCode::ReviewSuperseded)
    );
    // Both decisions are on the record.
    let decided: Vec<_> = r
        .store
        .events_of(types::POLICY_DECIDED)
        .into_iter()
        .filter(|ev| ev.data["execution_id"] == e.id.as_str())
        .collect();
    assert_eq!(decided.len(), 2);
    assert_eq!(r.backend.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_ends_the_execution_denied() {
    let r = rig().await;
    let (_, e, case) = held(&r).await;
    let empty = CaseAction::Reject { reason: " ".into() };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, empty).await,
        Err(ErrorCode::InvalidRequest)
    );
    let reject = CaseAction::Reject {
        reason: "exfiltrates data".into(),
    };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, reject).await,
        Ok(CaseStatus::Rejected)
    );
    let now = r.store.execution(&e.id).unwrap_or_else(|| panic!("gone"));
    assert_eq!(now.status, ExecutionStatus::Denied);
    assert_eq!(
        now.error.and_then(|x| x.code),
        Some(ExecutionErrorCode::ReviewRejected)
    );
    assert_eq!(
        act(&r, &reviewer("rex"), &case, approve()).await,
        Err(ErrorCode::CaseClosed)
    );
    let ev = &r.store.events_of(types::REVIEW_REJECTED)[0];
    assert_eq!(ev.data["reason"], "exfiltrates data");
    assert_eq!(ev.data["reviewer"]["subject"], "rita");
}

#[tokio::test]
async fn only_the_requester_withdraws_and_cancelling_the_execution_withdraws_its_case() {
    let r = rig().await;
    let (_, e, case) = held(&r).await;
    let withdraw = || CaseAction::Withdraw {
        reason: String::new(),
    };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, withdraw()).await,
        Err(ErrorCode::NotTheRequester)
    );
    let (c, ended) = r
        .gateway
        .cancel_execution(&alice(), &e.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(ended);
    assert_eq!(c.status, ExecutionStatus::Cancelled);
    assert_eq!(
        act(&r, &alice(), &case, withdraw()).await,
        Ok(CaseStatus::Withdrawn)
    );
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Err(ErrorCode::CaseClosed)
    );
    assert_eq!(r.backend.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_case_nobody_decides_expires_and_the_execution_ends() {
    let r = rig().await;
    let (_, e, case) = held(&r).await;
    let comment = CaseAction::Comment {
        text: "looking".into(),
    };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, comment).await,
        Ok(CaseStatus::Pending)
    );
    r.clock.advance(Duration::from_secs(86_400));
    assert_eq!(r.gateway.expire_cases().await.ok(), Some(1));
    let c = r
        .gateway
        .review_case(&alice(), &case)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(c.status, CaseStatus::Expired);
    assert_eq!(c.comments.len(), 1);
    let now = r.store.execution(&e.id).unwrap_or_else(|| panic!("gone"));
    assert_eq!(
        now.error.and_then(|x| x.code),
        Some(ExecutionErrorCode::ReviewExpired)
    );
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Err(ErrorCode::CaseClosed)
    );
    assert_eq!(r.store.events_of(types::REVIEW_EXPIRED).len(), 1);
}

#[tokio::test]
async fn webhooks_arrive_in_order_after_the_receiver_was_down_and_only_where_routed() {
    let r = rig().await;
    let (_, _, case) = held(&r).await;
    r.hooks.down.store(true, Ordering::SeqCst);
    assert_eq!(r.gateway.deliver_webhooks().await, 0);
    let comment = CaseAction::Comment {
        text: "a question".into(),
    };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, comment).await,
        Ok(CaseStatus::Pending)
    );
    let reject = CaseAction::Reject {
        reason: "no".into(),
    };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, reject).await,
        Ok(CaseStatus::Rejected)
    );
    // Still down, and not yet due again: nothing is sent, nothing is lost.
    assert_eq!(r.gateway.deliver_webhooks().await, 0);
    r.hooks.down.store(false, Ordering::SeqCst);
    assert_eq!(
        r.gateway.deliver_webhooks().await,
        0,
        "sent before its backoff"
    );
    r.clock.advance(Duration::from_secs(2));
    assert_eq!(r.gateway.deliver_webhooks().await, 3);
    assert_eq!(
        r.hooks.types("all"),
        [
            types::REVIEW_REQUESTED,
            types::REVIEW_COMMENTED,
            types::REVIEW_REJECTED
        ]
    );
    // alice has no tenant: the globex receiver hears nothing of her case.
    assert!(r.hooks.types("globex").is_empty());
    assert_eq!(r.gateway.deliver_webhooks().await, 0, "delivered twice");
    let first = &r.hooks.received.lock().unwrap_or_else(|e| e.into_inner())[0].1;
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["subject"], case.as_str());
    assert_eq!(first["data"]["case_id"], case.as_str());
}
