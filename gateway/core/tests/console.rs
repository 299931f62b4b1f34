//! What the console shows, on fakes: the overview counts what the viewer may see (an auditor
//! everything, anyone else their own), denials by code; and the audit range check holds on an
//! untouched chain and names the event a tamperer changed.

mod fakes;

use airlock_gateway_audit::RangeCheck;
use airlock_gateway_domain::{
    decision::DecisionResult, ports::AuditQuery, stats::StatsScope, Principal,
};
use fakes::{alice, bob, python, rig};

fn auditor() -> Principal {
    Principal {
        subject: "audrey".into(),
        groups: vec!["auditors".into()],
        ..alice()
    }
}

#[tokio::test]
async fn the_overview_counts_what_the_viewer_may_see_and_denials_by_code() {
    let r = rig().await;
    let (a, b) = (alice(), bob());
    let sa = r.session_of(&a).await;
    let sb = r.session_of(&b).await;
    for (p, s) in [(&a, &sa), (&a, &sa), (&b, &sb)] {
        let e = r.gateway.submit(p, s, python("print(1)")).await;
        let e = e.unwrap_or_else(|e| panic!("{e:?}")).finished().await;
        assert!(e.is_ok_and(|e| e.status.as_str() == "succeeded"));
    }
    *r.policy.execution.lock().unwrap_or_else(|e| e.into_inner()) = DecisionResult::Deny;
    let denied = r.gateway.submit(&a, &sa, python("print(2)")).await;
    assert!(denied.is_ok_and(|d| d.execution.status.as_str() == "denied"));

    assert_eq!(r.gateway.stats_scope(&a), StatsScope::Owner(a.owner_key()));
    assert_eq!(r.gateway.stats_scope(&auditor()), StatsScope::All);
    let total = |o: &airlock_gateway_domain::stats::Overview| -> u64 {
        o.executions.iter().map(|(_, _, n)| n).sum()
    };
    let mine = r
        .gateway
        .overview(&a, 1)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(total(&mine), 3, "alice's own: two runs and a denial");
    assert_eq!(mine.denials, vec![("test_denied".to_owned(), 1)]);
    let all = r
        .gateway
        .overview(&auditor(), 1)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(total(&all), 4, "an auditor counts bob's too");
}

#[tokio::test]
async fn the_audit_range_check_holds_on_the_chain_and_names_an_edited_event() {
    let r = rig().await;
    let a = alice();
    let s = r.session_of(&a).await;
    let e = r.gateway.submit(&a, &s, python("print(1)")).await;
    let e = e.unwrap_or_else(|e| panic!("{e:?}")).finished().await;
    assert!(e.is_ok_and(|e| e.status.as_str() == "succeeded"));
    let q = AuditQuery {
        event_type: Some("execution.requested".into()),
        limit: 100,
        ..AuditQuery::default()
    };
    let page = r
        .gateway
        .audit_events(&auditor(), q)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(page.events.len(), 1);
    let check = r.gateway.audit_verify_range(&auditor(), &page.events).await;
    assert!(
        matches!(check, Ok(RangeCheck::Verified { .. })),
        "{check:?}"
    );

    // An event shown that is not the chain's (edited after it was sealed) breaks the check.
    let mut forged = page.events.clone();
    forged[0].data["code_sha256"] = serde_json::json!("0000");
    let check = r.gateway.audit_verify_range(&auditor(), &forged).await;
    assert!(
        matches!(check, Ok(RangeCheck::Broken(ref why)) if why.contains(&forged[0].id)),
        "{check:?}"
    );

    // Only auditors may ask.
    assert!(r
        .gateway
        .audit_verify_range(&a, &page.events)
        .await
        .is_err());
}
