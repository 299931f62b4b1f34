//! Output inspection in the pipeline, on fakes: what the detectors find is masked or withheld
//! as policy rules, in the stream and the result alike, also when a value arrives in pieces;
//! the audit trail learns the counts, never the values.

mod fakes;

use airlock_gateway_core::jobs::{Job, JobEvent};
use airlock_gateway_domain::{
    audit::types,
    outputs::{OutputAction, OutputPlace, OutputRuling},
    ExecutionStatus, SessionId,
};
use fakes::{alice, python, rig, Rig, Step};
use std::{sync::atomic::Ordering, time::Duration};

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";

async fn session(r: &Rig) -> SessionId {
    r.session_of(&alice()).await
}

fn rule(r: &Rig, detector: &str, action: OutputAction, keep_last: Option<u8>) {
    r.policy
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(OutputRuling {
            detector: detector.into(),
            place: None,
            action,
            keep_last,
        });
}

/// Runs `code` as a job; the finished execution and everything its followers saw.
async fn run(
    r: &Rig,
    s: &SessionId,
    code: &str,
) -> (airlock_gateway_domain::Execution, std::sync::Arc<Job>) {
    let sub = r
        .gateway
        .submit(&alice(), s, python(code))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = sub.job.clone().unwrap_or_else(|| panic!("no job"));
    let e = sub.finished().await.unwrap_or_else(|e| panic!("{e:?}"));
    (e, job)
}

fn streamed(job: &Job) -> String {
    job.log
        .after(0)
        .0
        .into_iter()
        .filter_map(|n| match n.event {
            JobEvent::Printed { text, .. } => Some(text),
            JobEvent::Displayed(o) => Some(serde_json::to_string(&o.data).unwrap_or_default()),
            _ => None,
        })
        .collect()
}

fn inspected_events(r: &Rig) -> Vec<serde_json::Value> {
    r.store
        .events_of(types::OUTPUT_INSPECTED)
        .into_iter()
        .map(|e| e.data)
        .collect()
}

#[tokio::test]
async fn a_value_split_across_chunks_is_masked_in_the_stream_and_the_result() {
    let r = rig().await;
    let s = session(&r).await;
    rule(&r, "email", OutputAction::Mask, None);
    let (a, b) = EMAIL.split_at(7);
    r.backend.script(
        "split",
        vec![
            Step::Print("contact: "),
            Step::Print(a),
            Step::Sleep(Duration::from_millis(2)),
            Step::Print(b),
            Step::Print("\nmore\n"),
        ],
    );
    let (e, job) = run(&r, &s, "split").await;
    let live = streamed(&job);
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    for text in [&live, &e.stdout] {
        assert!(!text.contains(a) || !text.contains(b), "{text}");
        assert!(!text.contains("example.com"), "{text}");
        assert_eq!(text.as_str(), "contact: [email]\nmore\n");
    }
    let ev = inspected_events(&r);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["execution_id"], e.id.as_str());
    assert_eq!(
        ev[0]["findings"],
        serde_json::json!([{"detector": "email", "where": "stdout", "count": 1, "action": "mask"}])
    );
    assert_eq!(ev[0]["outcome"], "released");
    assert!(!r
        .store
        .events()
        .iter()
        .any(|ev| ev.data.to_string().contains("example.com")));
}

#[tokio::test]
async fn cards_keep_their_last_digits_in_displays_and_stderr() {
    let r = rig().await;
    let s = session(&r).await;
    rule(&r, "payment_card", OutputAction::Mask, Some(4));
    r.backend.script(
        "cards",
        vec![
            Step::Display("card 4111 1111 1111 1111"),
            Step::PrintErr("card 4111111111111111\n"),
        ],
    );
    let (e, job) = run(&r, &s, "cards").await;
    let live = streamed(&job);
    assert!(!live.contains("4111 1111 1111 1111"), "{live}");
    assert!(live.contains("**** **** **** 1111"), "{live}");
    assert_eq!(e.stderr, "card ************1111\n");
    let shown = serde_json::to_string(&e.outputs).unwrap_or_default();
    assert!(
        !shown.contains(CARD) && shown.contains("**** **** **** 1111"),
        "{shown}"
    );
    // The card is also a key of the JSON part: masked there too.
    let keys: Vec<&String> = e.outputs[0].data["application/json"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert!(
        keys.iter()
            .any(|k| k.as_str() == "card **** **** **** 1111"),
        "{keys:?}"
    );
    let ev = inspected_events(&r);
    let places: Vec<&str> = ev[0]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["where"].as_str())
        .collect();
    assert_eq!(places, ["stderr", "display"]);
}

#[tokio::test]
async fn a_blocked_output_stops_the_code_and_fails_with_output_blocked() {
    let r = rig().await;
    let s = session(&r).await;
    rule(&r, "payment_card", OutputAction::Block, None);
    r.backend.script(
        "leak",
        vec![
            Step::Print("before\n"),
            Step::Print("card 4111-1111-1111-1111\n"),
            // Without the block the code would wait here for its timeout.
            Step::Block,
            Step::Print("after\n"),
        ],
    );
    let (e, job) = run(&r, &s, "leak").await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    let err = e.error.clone().unwrap_or_else(|| panic!("no error"));
    assert_eq!(
        err.code.as_ref().map(|c| c.as_str().to_owned()).as_deref(),
        Some("output_blocked")
    );
    assert!(err.value.contains("print counts instead"), "{}", err.value);
    assert!(e.stdout.is_empty(), "withheld: {}", e.stdout);
    let live = streamed(&job);
    assert!(!live.contains("4111"), "{live}");
    assert!(!live.contains("after"), "{live}");
    let ev = inspected_events(&r);
    assert_eq!(ev[0]["outcome"], "blocked");
    assert_eq!(ev[0]["findings"][0]["action"], "block");
}

#[tokio::test]
async fn output_policy_that_fails_withholds_the_output() {
    let r = rig().await;
    let s = session(&r).await;
    r.policy.outputs_fail.store(true, Ordering::SeqCst);
    r.backend
        .script("pii", vec![Step::Print("mail jane.doe@example.com\n")]);
    let (e, job) = run(&r, &s, "pii").await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert!(!streamed(&job).contains("example.com"));
    assert!(!e.stdout.contains("example.com"));
    assert_eq!(inspected_events(&r)[0]["outcome"], "blocked");
}

#[tokio::test]
async fn clean_output_asks_no_policy_and_records_no_inspection() {
    let r = rig().await;
    let s = session(&r).await;
    rule(&r, "email", OutputAction::Block, None);
    r.backend
        .script("clean", vec![Step::Print("42 rows, mean 3.5\n")]);
    let (e, _) = run(&r, &s, "clean").await;
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    assert_eq!(e.stdout, "42 rows, mean 3.5\n");
    assert!(r
        .policy
        .inspected
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty());
    assert!(inspected_events(&r).is_empty());
}

#[tokio::test]
async fn policy_is_asked_per_new_finding_and_once_more_with_the_totals() {
    let r = rig().await;
    let s = session(&r).await;
    r.backend.script(
        "many",
        vec![
            Step::Print("a@example.com\n"),
            Step::Print("b@example.com\n"),
            Step::Print("c@example.com\n"),
            Step::PrintErr("d@example.com\n"),
            Step::Print("e@example.com\n"),
        ],
    );
    let (e, _) = run(&r, &s, "many").await;
    assert_eq!(
        e.stdout,
        "a@example.com\nb@example.com\nc@example.com\ne@example.com\n"
    );
    let asked = r
        .policy
        .inspected
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // The first e-mail on stdout, the first on stderr, then the totals (four on stdout).
    assert_eq!(asked.len(), 3, "{asked:?}");
    let last = &asked[2];
    let stdout = last
        .iter()
        .find(|f| f.place == OutputPlace::Stdout)
        .map(|f| f.count);
    assert_eq!(stdout, Some(4));
    assert_eq!(inspected_events(&r)[0]["outcome"], "released");
}
