//! Output policy that holds, on fakes: the code runs on, nothing held reaches the requester
//! (stream, result or case), a reviewer sees it and releases it into the execution once, or it
//! ends `output_blocked`; a rule that blocks still stops the code at once.

mod fakes;

use airlock_gateway_core::{jobs::JobEvent, CaseAction};
use airlock_gateway_domain::{
    audit::types,
    outputs::{OutputAction, OutputRuling},
    review::{CaseId, CaseKind, CaseStatus},
    ErrorCode, Execution, ExecutionStatus,
};
use fakes::{act, alice, approve, python, reviewer, rig, Rig, Step};

const IBAN: &str = "DE89370400440532013000";

fn rule(r: &Rig, detector: &str, action: OutputAction) {
    let mut rules = r.policy.outputs.lock().unwrap_or_else(|e| e.into_inner());
    rules.retain(|x| x.detector != detector);
    rules.push(OutputRuling {
        detector: detector.into(),
        place: None,
        action,
        keep_last: None,
    });
}

/// Alice runs code that prints an IBAN policy holds, then more; the held execution, what its
/// followers saw, and its case.
async fn held_run(r: &Rig) -> (Execution, String, CaseId) {
    let s = r.session_of(&alice()).await;
    rule(r, "iban", OutputAction::Hold);
    r.backend.script(
        "pay",
        vec![
            Step::Print("paying\n"),
            Step::Print("to DE89370400440532013000\n"),
            Step::Print("done\n"),
        ],
    );
    let sub = r
        .gateway
        .submit(&alice(), &s, python("pay"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = sub.job.clone().unwrap_or_else(|| panic!("no job"));
    let e = sub.finished().await.unwrap_or_else(|e| panic!("{e:?}"));
    let seen: String = job
        .log
        .after(0)
        .0
        .into_iter()
        .map(|n| match n.event {
            JobEvent::Printed { text, .. } => text,
            JobEvent::Result(x) => serde_json::to_string(&x).unwrap_or_default(),
            JobEvent::Error(x) => x.value,
            _ => String::new(),
        })
        .collect();
    let case = e
        .case_id
        .clone()
        .unwrap_or_else(|| panic!("no case: {e:?}"));
    (e, seen, case)
}

fn stored(r: &Rig, e: &Execution) -> Execution {
    r.store
        .execution(&e.id)
        .unwrap_or_else(|| panic!("no execution {}", e.id))
}

#[tokio::test]
async fn a_held_output_lets_the_code_finish_and_reaches_only_reviewers() {
    let r = rig().await;
    let (e, seen, case) = held_run(&r).await;
    assert_eq!(e.status, ExecutionStatus::PendingReview, "{e:?}");
    let err = e.error.clone().unwrap_or_else(|| panic!("no error"));
    assert_eq!(err.code.as_ref().map(|c| c.as_str()), Some("output_held"));
    assert!(err.value.contains(case.as_str()), "{}", err.value);
    assert!(e.stdout.is_empty() && e.outputs.is_empty(), "{e:?}");
    // What printed before the find streamed; nothing from the find on.
    assert!(seen.contains("paying"), "{seen}");
    assert!(!seen.contains(IBAN) && !seen.contains("done"), "{seen}");
    assert!(!serde_json::to_string(&stored(&r, &e))
        .unwrap_or_default()
        .contains(IBAN));

    // The requester's view of the case has no held output; a reviewer's has all of it: the
    // code ran on after the find (not stopped as a block would be).
    let own = r
        .gateway
        .review_case(&alice(), &case)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(own.kind, CaseKind::Output);
    assert!(own.held_output.is_none());
    let theirs = r
        .gateway
        .review_case(&reviewer("rita"), &case)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let held = theirs
        .held_output
        .unwrap_or_else(|| panic!("no held output"));
    assert_eq!(held.stdout, format!("paying\nto {IBAN}\ndone\n"));
    assert_eq!(held.status, ExecutionStatus::Succeeded);
    assert_eq!(held.findings[0].detector, "iban");

    let requested = r.store.events_of(types::REVIEW_REQUESTED);
    assert_eq!(requested[0].data["kind"], "output");
    assert_eq!(requested[0].data["findings"][0]["detector"], "iban");
    assert!(!requested[0].data.to_string().contains(IBAN));
    let inspected = r.store.events_of(types::OUTPUT_INSPECTED);
    assert_eq!(inspected[0].data["outcome"], "held");
}

#[tokio::test]
async fn approval_releases_the_held_output_into_the_execution_once() {
    let r = rig().await;
    let (e, _, case) = held_run(&r).await;
    // Four eyes: the requester cannot release their own output.
    let mut both = alice();
    both.groups.push("reviewers".into());
    assert_eq!(
        act(&r, &both, &case, approve()).await,
        Err(ErrorCode::SelfApproval)
    );

    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Ok(CaseStatus::Approved)
    );
    let now = stored(&r, &e);
    assert_eq!(now.status, ExecutionStatus::Succeeded, "{now:?}");
    assert_eq!(now.stdout, format!("paying\nto {IBAN}\ndone\n"));
    assert!(now.error.is_none(), "{now:?}");
    assert_eq!(now.case_id.as_ref(), Some(&case));

    // Released once: a second reviewer finds it decided, and the case keeps no copy.
    assert_eq!(
        act(&r, &reviewer("rex"), &case, approve()).await,
        Err(ErrorCode::CaseClosed)
    );
    let released = r.store.events_of(types::OUTPUT_RELEASED);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].data["reviewer"]["subject"], "rita");
    assert!(!released[0].data.to_string().contains(IBAN));
    let c = r.store.case_of(&case);
    assert!(c.held_output.is_none(), "{c:?}");
}

#[tokio::test]
async fn rejection_ends_it_output_blocked_and_drops_the_held_copy() {
    let r = rig().await;
    let (e, _, case) = held_run(&r).await;
    let reject = CaseAction::Reject {
        reason: "account numbers stay in finance".into(),
    };
    assert_eq!(
        act(&r, &reviewer("rita"), &case, reject).await,
        Ok(CaseStatus::Rejected)
    );
    let now = stored(&r, &e);
    assert_eq!(now.status, ExecutionStatus::Failed);
    let err = now.error.clone().unwrap_or_else(|| panic!("no error"));
    assert_eq!(
        err.code.as_ref().map(|c| c.as_str()),
        Some("output_blocked")
    );
    assert!(
        err.value.contains("finance") && err.value.contains("not released"),
        "{}",
        err.value
    );
    assert!(!serde_json::to_string(&now)
        .unwrap_or_default()
        .contains(IBAN));
    assert!(r.store.case_of(&case).held_output.is_none());
    assert!(r.store.events_of(types::OUTPUT_RELEASED).is_empty());
}

#[tokio::test]
async fn a_requester_comment_keeps_the_held_output_for_reviewers() {
    let r = rig().await;
    let (e, _, case) = held_run(&r).await;
    let note = CaseAction::Comment {
        text: "needed for the payment run".into(),
    };
    assert_eq!(
        act(&r, &alice(), &case, note).await,
        Ok(CaseStatus::Pending)
    );
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Ok(CaseStatus::Approved)
    );
    assert!(stored(&r, &e).stdout.contains(IBAN));
}

#[tokio::test]
async fn policy_that_now_blocks_the_findings_supersedes_the_case() {
    let r = rig().await;
    let (e, _, case) = held_run(&r).await;
    rule(&r, "iban", OutputAction::Block);
    assert_eq!(
        act(&r, &reviewer("rita"), &case, approve()).await,
        Ok(CaseStatus::Superseded)
    );
    let now = stored(&r, &e);
    assert_eq!(now.status, ExecutionStatus::Failed);
    assert_eq!(
        now.error
            .and_then(|x| x.code)
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("review_superseded")
    );
    assert!(r.store.events_of(types::OUTPUT_RELEASED).is_empty());
}

#[tokio::test]
async fn a_block_after_a_hold_stops_the_code_and_opens_no_case() {
    let r = rig().await;
    let s = r.session_of(&alice()).await;
    rule(&r, "iban", OutputAction::Hold);
    rule(&r, "us_ssn", OutputAction::Block);
    r.backend.script(
        "both",
        vec![
            Step::Print("to DE89370400440532013000\n"),
            Step::Print("ssn 078-05-1120\n"),
            // Without the block the code would wait here for its timeout.
            Step::Block,
        ],
    );
    let e = r
        .gateway
        .execute(&alice(), &s, python("both"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    assert_eq!(
        e.error
            .and_then(|x| x.code)
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("output_blocked")
    );
    assert!(e.case_id.is_none());
    assert!(r.store.events_of(types::REVIEW_REQUESTED).is_empty());
}

#[tokio::test]
async fn withdrawing_by_cancel_never_releases_the_output() {
    let r = rig().await;
    let (e, _, case) = held_run(&r).await;
    let (now, ended) = r
        .gateway
        .cancel_execution(&alice(), &e.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(ended);
    assert_eq!(now.status, ExecutionStatus::Cancelled);
    assert_eq!(r.store.case_of(&case).status, CaseStatus::Withdrawn);
    assert!(r.store.case_of(&case).held_output.is_none());
    assert!(!serde_json::to_string(&now)
        .unwrap_or_default()
        .contains(IBAN));
}
