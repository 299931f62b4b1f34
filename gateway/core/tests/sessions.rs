//! Sessions on the gateway's own clock and ids: the sweeper ends them when the clock says so,
//! and one scenario run twice records the same trail (no wall clock, no random id in core).

mod fakes;

use airlock_gateway_domain::{audit::types, ExecutionStatus, SessionStatus};
use fakes::{alice, python, rig, SequentialIds, Step};
use std::{sync::atomic::Ordering, time::Duration};

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

/// Session limits (5 per principal, 10 in all on the rig) hold under concurrent creates: the
/// count and the taking of a place are one step, and a place comes back when a start fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_exceed_the_session_limits() {
    let r = rig().await;
    *r.backend
        .start_delay
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Duration::from_millis(20);
    let carol = airlock_domain_principal("carol");
    let mut tasks = vec![];
    for i in 0..24 {
        let gw = r.gateway.clone();
        let who = match i % 3 {
            0 => alice(),
            1 => fakes::bob(),
            _ => carol.clone(),
        };
        tasks.push(tokio::spawn(async move {
            (who.subject.clone(), gw.create_session(&who).await)
        }));
    }
    let mut made: std::collections::BTreeMap<String, u32> = Default::default();
    for t in tasks {
        let (who, res) = t.await.unwrap_or_else(|e| panic!("{e}"));
        match res {
            Ok(_) => *made.entry(who).or_default() += 1,
            Err(e) => assert_eq!(e.code.as_str(), "too_many_sessions", "{e:?}"),
        }
    }
    let total: u32 = made.values().sum();
    assert_eq!(total, 10, "{made:?}");
    assert!(made.values().all(|n| *n <= 5), "{made:?}");
    assert_eq!(r.gateway.live_count().await, 10);
    // A place comes back with a deleted session, and a start that fails gives its place back.
    let alice_has = made.get("alice").copied().unwrap_or(0);
    assert!(alice_has > 0, "{made:?}");
    let mine = r
        .gateway
        .list_sessions(&alice(), Some(SessionStatus::Active), None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .items;
    let one = mine
        .first()
        .map(|s| s.id.clone())
        .unwrap_or_else(|| panic!("none"));
    r.gateway
        .delete_session(&alice(), &one)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // The gateway has one place; a start that fails must not keep it.
    r.backend.fail_start.store(true, Ordering::SeqCst);
    let failed = r.gateway.create_session(&alice()).await;
    assert_eq!(
        failed.err().map(|e| e.code.as_str()),
        Some("sandbox_unavailable")
    );
    r.backend.fail_start.store(false, Ordering::SeqCst);
    r.gateway
        .create_session(&alice())
        .await
        .unwrap_or_else(|e| panic!("the freed place: {e:?}"));
}

fn airlock_domain_principal(subject: &str) -> airlock_gateway_domain::Principal {
    airlock_gateway_domain::Principal {
        subject: subject.into(),
        ..alice()
    }
}
