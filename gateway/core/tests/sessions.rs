//! Sessions on the gateway's own clock and ids: the sweeper ends them when the clock says so,
//! and one scenario run twice records the same trail (no wall clock, no random id in core).

mod fakes;

use airlock_gateway_domain::{audit::types, ExecutionStatus, SessionStatus};
use fakes::{alice, python, rig, SequentialIds, Step};
use std::time::Duration;

#[tokio::test]
async fn the_sweeper_ends_a_session_when_the_gateways_clock_passes_its_time_to_live() {
    let r = rig().await;
    let s = r
        .gateway
        .create_session(&alice())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(r.gateway.sweep().await, 0);
    r.clock.advance(Duration::from_secs(3599));
    assert_eq!(
        r.gateway.sweep().await,
        0,
        "a second before its end it lives"
    );
    r.clock.advance(Duration::from_secs(2));
    assert_eq!(r.gateway.sweep().await, 1);
    let stored = r
        .gateway
        .get_session(&alice(), &s.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(stored.status, SessionStatus::Expired);
    assert_eq!(stored.expires_at, s.created_at + Duration::from_secs(3600));
    let expired = r.store.events_of(types::SESSION_EXPIRED);
    assert_eq!(expired.len(), 1);
    // Event times are the gateway's clock, not the machine's.
    assert_eq!(
        expired[0].time,
        (s.created_at + Duration::from_secs(3601))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    );
}

/// What a scenario leaves in the trail: each event's type, time and id count.
async fn scenario() -> Vec<(String, String, u64)> {
    let r = rig().await;
    r.backend.script("hello", vec![Step::Print("hello\n")]);
    let s = r
        .gateway
        .create_session(&alice())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    r.clock.advance(Duration::from_millis(1500));
    let e = r
        .gateway
        .execute(&alice(), &s.id, python("hello"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .execution;
    assert_eq!(e.status, ExecutionStatus::Succeeded);
    let mut trail: Vec<(String, String, u64)> = r
        .store
        .events()
        .into_iter()
        .map(|ev| (ev.event_type, ev.time, SequentialIds::count_of(&ev.id)))
        .collect();
    trail.push((
        "ids".into(),
        e.decision.decision_id.clone(),
        SequentialIds::count_of(s.id.as_str()) * 1000 + SequentialIds::count_of(e.id.as_str()),
    ));
    trail
}

#[tokio::test]
async fn one_scenario_run_twice_records_the_same_trail() {
    let (first, second) = (scenario().await, scenario().await);
    assert!(first.len() >= 5, "{first:?}");
    let strip = |t: &[(String, String, u64)]| -> Vec<(String, String, u64)> {
        t.iter()
            .map(|(ty, time, n)| {
                let time = if ty == "ids" {
                    String::new()
                } else {
                    time.clone()
                };
                (ty.clone(), time, *n)
            })
            .collect()
    };
    assert_eq!(strip(&first), strip(&second));
    // The decision was named by the gateway's generator, not the engine.
    assert!(!first.last().map(|l| l.1.is_empty()).unwrap_or(true));
}
